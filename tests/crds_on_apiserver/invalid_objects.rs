//! Every validation rule rejects bad input with its own message, at creation or on update.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use super::{create, merge, rejection, resource_for};

/// One invalid object: a valid example changed by `patch` (at creation, or on update when
/// `on_update`), and the message the API server must answer with.
struct Case {
    name: &'static str,
    kind: &'static str,
    patch: Value,
    on_update: bool,
    expect: &'static str,
}

fn case(name: &'static str, kind: &'static str, patch: Value, expect: &'static str) -> Case {
    Case {
        name,
        kind,
        patch,
        on_update: false,
        expect,
    }
}

fn update(name: &'static str, kind: &'static str, patch: Value, expect: &'static str) -> Case {
    Case {
        name,
        kind,
        patch,
        on_update: true,
        expect,
    }
}

fn invalid_cases() -> Vec<Case> {
    const BASE_URL: &str = "baseUrl must be an https:// URL (plain http:// is accepted only for a local emulator on 127.0.0.1 or localhost)";
    const OBJECT_NAME: &str = "name must be the name of an object in this namespace";
    const DURATION: &str = "must be a duration such as 2160h (90 days), 36h or 90m";
    vec![
        case(
            "unknown environment",
            "TrackViaAccount",
            json!({"spec": {"environment": "staging"}}),
            r#"spec.environment: Unsupported value: "staging": supported values: "sandbox", "production""#,
        ),
        case(
            "plain http to a remote host",
            "TrackViaAccount",
            json!({"spec": {"baseUrl": "http://go.trackvia.com"}}),
            BASE_URL,
        ),
        case(
            "base URL without a scheme",
            "TrackViaAccount",
            json!({"spec": {"baseUrl": "go.trackvia.com"}}),
            BASE_URL,
        ),
        case(
            "workspace URL with another scheme",
            "WorkatoWorkspace",
            json!({"spec": {"baseUrl": "ftp://www.workato.com"}}),
            BASE_URL,
        ),
        case(
            "non-numeric account id",
            "TrackViaAccount",
            json!({"spec": {"accountId": "acme"}}),
            "accountId must be the numeric TrackVia account id",
        ),
        case(
            "secret name not a Kubernetes name",
            "TrackViaAccount",
            json!({"spec": {"adminCredentials": {"apiKey": {"name": "TrackVia_Admin"}}}}),
            OBJECT_NAME,
        ),
        case(
            "secret key with a slash",
            "TrackViaAccount",
            json!({"spec": {"adminCredentials": {"authToken": {"key": "token/value"}}}}),
            "key must be a key of the Secret's data",
        ),
        case(
            "secret reference without a key",
            "WorkatoWorkspace",
            json!({"spec": {"apiToken": {"key": null}}}),
            "spec.apiToken.key: Required value",
        ),
        case(
            "interval that is not a duration",
            "TrackViaAccount",
            json!({"spec": {"checkInterval": "10 days"}}),
            DURATION,
        ),
        case(
            "email that is not an email",
            "IntegrationAccount",
            json!({"spec": {"email": "salesforce.integration"}}),
            "email must be an email address such as salesforce.integration@example.com",
        ),
        case(
            "system with a slash",
            "IntegrationAccount",
            json!({"spec": {"system": "Sales/force"}}),
            "system must name the external system",
        ),
        case(
            "published secret is the token secret",
            "IntegrationAccount",
            json!({"spec": {"credentialsSecret": {"name": "salesforce-trackvia-token"}}}),
            "credentialsSecret.name must differ from tokenSecretRef.name",
        ),
        case(
            "renewBefore longer than interval",
            "IntegrationAccount",
            json!({"spec": {"rotation": {"interval": "720h", "renewBefore": "800h"}}}),
            "rotation.renewBefore must be shorter than rotation.interval",
        ),
        case(
            "rotation interval below an hour",
            "IntegrationAccount",
            json!({"spec": {"rotation": {"interval": "30m", "renewBefore": "10m"}}}),
            "rotation.interval must be at least 1h",
        ),
        case(
            "maintenance window start not HH:MM",
            "IntegrationAccount",
            json!({"spec": {"rotation": {"maintenanceWindow": {"start": "2am"}}}}),
            "maintenanceWindow.start must be a UTC time of day HH:MM",
        ),
        case(
            "maintenance window longer than a day",
            "IntegrationAccount",
            json!({"spec": {"rotation": {"maintenanceWindow": {"duration": "25h"}}}}),
            "maintenanceWindow.duration must be longer than 0s and at most 24h",
        ),
        case(
            "unknown deletion policy",
            "IntegrationAccount",
            json!({"spec": {"deletionPolicy": "Delete"}}),
            r#"supported values: "Retain", "Orphan""#,
        ),
        case(
            "history limit out of range",
            "IntegrationAccount",
            json!({"spec": {"rotation": {"historyLimit": 0}}}),
            "spec.rotation.historyLimit: Invalid value: 0: spec.rotation.historyLimit in body should be greater than or equal to 1",
        ),
        case(
            "connection given by neither id nor name",
            "WorkatoConnection",
            json!({"spec": {"connection": {"name": null}}}),
            "connection needs an id (adopt that connection) or a name (find or create it in the workspace)",
        ),
        case(
            "unknown rotation strategy",
            "CredentialRotation",
            json!({"spec": {"strategy": "BlueGreen"}}),
            r#"supported values: "Overlap", "StopAndRestart""#,
        ),
        update(
            "environment changed",
            "TrackViaAccount",
            json!({"spec": {"environment": "production"}}),
            "environment cannot change after creation; create a new TrackViaAccount for the other environment",
        ),
        update(
            "workspace environment changed",
            "WorkatoWorkspace",
            json!({"spec": {"environment": "production"}}),
            "environment cannot change after creation; create a new WorkatoWorkspace for the other environment",
        ),
        update(
            "system changed",
            "IntegrationAccount",
            json!({"spec": {"system": "HubSpot"}}),
            "system cannot change after creation",
        ),
        update(
            "email changed",
            "IntegrationAccount",
            json!({"spec": {"email": "hubspot.integration@acme.example"}}),
            "email cannot change after creation",
        ),
        update(
            "account reference changed",
            "IntegrationAccount",
            json!({"spec": {"accountRef": {"name": "acme-production"}}}),
            "accountRef cannot change after creation",
        ),
        update(
            "workspace reference changed",
            "WorkatoConnection",
            json!({"spec": {"workspaceRef": {"name": "acme-prod"}}}),
            "workspaceRef cannot change after creation",
        ),
        update(
            "integration account reference changed",
            "WorkatoConnection",
            json!({"spec": {"integrationAccountRef": {"name": "hubspot"}}}),
            "integrationAccountRef cannot change after creation",
        ),
        update(
            "rotation spec changed",
            "CredentialRotation",
            json!({"spec": {"dryRun": true}}),
            "a CredentialRotation's spec cannot change",
        ),
    ]
}

#[tokio::test]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn invalid_objects_are_rejected_with_their_message() {
    let (client, ns) = crate::support::cluster("invalid").await;
    let cases = invalid_cases();
    assert!(
        cases.len() >= 15,
        "the issue asks for at least 15 distinct invalid objects"
    );
    let mut failures = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let (ar, mut obj) = resource_for(c.kind);
        merge(&mut obj, &json!({"metadata": {"name": format!("case-{i}")}}));
        let message = if c.on_update {
            create(&client, &ns, &ar, &obj)
                .await
                .unwrap_or_else(|e| panic!("case {:?}: base rejected: {e}", c.name));
            let api = Api::<DynamicObject>::namespaced_with(client.clone(), &ns, &ar);
            match api
                .patch(
                    &format!("case-{i}"),
                    &PatchParams::default(),
                    &Patch::Merge(&c.patch),
                )
                .await
            {
                Ok(_) => panic!("case {:?}: the API server accepted the change", c.name),
                Err(kube::Error::Api(status)) => status.message,
                Err(other) => panic!("case {:?}: unexpected error {other}", c.name),
            }
        } else {
            merge(&mut obj, &c.patch);
            rejection(create(&client, &ns, &ar, &obj).await, c.name)
        };
        if !message.contains(c.expect) {
            failures.push(format!("{}: expected {:?} in {:?}", c.name, c.expect, message));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) got the wrong message:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
