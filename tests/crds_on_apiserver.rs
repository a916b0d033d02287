//! The CRDs on a real kube-apiserver: they install, the examples are accepted, every validation
//! rule rejects bad input with its own message, and `kubectl get` shows the printer columns.
//!
//! Run through `make test` (which starts the API server), or after `make cluster-up` with
//! `cargo test -- --include-ignored`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod support;

use std::process::Command;

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, CustomResourceExt};
use serde_json::{Value, json};
use trackvia_operator::api::{
    CredentialRotation, IntegrationAccount, TrackViaAccount, WorkatoConnection, WorkatoWorkspace,
};

/// The five kinds with the example file of each.
fn kinds() -> Vec<(ApiResource, &'static str)> {
    vec![
        (api_resource::<TrackViaAccount>(), "trackviaaccount.yaml"),
        (api_resource::<WorkatoWorkspace>(), "workatoworkspace.yaml"),
        (api_resource::<IntegrationAccount>(), "integrationaccount.yaml"),
        (api_resource::<WorkatoConnection>(), "workatoconnection.yaml"),
        (api_resource::<CredentialRotation>(), "credentialrotation.yaml"),
    ]
}

fn api_resource<K: CustomResourceExt>() -> ApiResource {
    let crd = K::crd();
    let gvk = GroupVersionKind::gvk(&crd.spec.group, &crd.spec.versions[0].name, &crd.spec.names.kind);
    ApiResource::from_gvk_with_plural(&gvk, &crd.spec.names.plural)
}

fn example(file: &str) -> Value {
    let path = support::repo_root().join("examples").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn resource_for(kind: &str) -> (ApiResource, Value) {
    kinds()
        .into_iter()
        .find(|(ar, _)| ar.kind == kind)
        .map(|(ar, file)| (ar, example(file)))
        .unwrap_or_else(|| panic!("unknown kind {kind}"))
}

/// RFC 7386 JSON merge patch, applied locally to build invalid objects from valid examples.
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

async fn create(
    client: &Client,
    ns: &str,
    ar: &ApiResource,
    obj: &Value,
) -> Result<DynamicObject, kube::Error> {
    let obj: DynamicObject = serde_json::from_value(obj.clone()).expect("object deserializes");
    Api::<DynamicObject>::namespaced_with(client.clone(), ns, ar)
        .create(&PostParams::default(), &obj)
        .await
}

fn rejection(result: Result<DynamicObject, kube::Error>, case: &str) -> String {
    match result {
        Ok(_) => panic!("case {case:?}: the API server accepted an invalid object"),
        Err(kube::Error::Api(status)) => {
            assert_eq!(
                status.code, 422,
                "case {case:?}: expected 422 Invalid, got {status:?}"
            );
            status.message
        }
        Err(other) => panic!("case {case:?}: unexpected error {other}"),
    }
}

#[tokio::test]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn crds_install_and_become_established() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let api: Api<
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    > = Api::all(client);
    let mut ours = Vec::new();
    for crd in api.list(&Default::default()).await.expect("listing CRDs") {
        if crd.spec.group != trackvia_operator::api::GROUP {
            continue;
        }
        let status = crd.status.as_ref().expect("CRD has status");
        let established = status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Established" && c.status == "True");
        assert!(established, "{} is not Established", crd.spec.names.kind);
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(
            crd.spec.names.categories.as_deref(),
            Some(&["trackvia".to_string()][..])
        );
        assert!(crd.spec.names.short_names.as_ref().is_some_and(|s| !s.is_empty()));
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some()
        );
        ours.push(crd.spec.names.kind.clone());
    }
    ours.sort();
    assert_eq!(
        ours,
        [
            "CredentialRotation",
            "IntegrationAccount",
            "TrackViaAccount",
            "WorkatoConnection",
            "WorkatoWorkspace"
        ]
    );
}

#[tokio::test]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn every_example_is_accepted() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::namespace(&client, "examples").await;
    for (ar, file) in kinds() {
        let obj = example(file);
        let created = create(&client, &ns, &ar, &obj)
            .await
            .unwrap_or_else(|e| panic!("example {file} rejected: {e}"));
        // Nothing is added server-side: what was applied is what is stored (no GitOps drift).
        assert_eq!(
            created.data["spec"], obj["spec"],
            "{file}: spec changed on the server"
        );
    }
}

#[tokio::test]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn loopback_http_and_connection_by_id_are_accepted() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::namespace(&client, "edges").await;
    let cases = [
        (
            "TrackViaAccount",
            json!({"spec": {"baseUrl": "http://127.0.0.1:18080"}}),
        ),
        (
            "WorkatoWorkspace",
            json!({"spec": {"baseUrl": "http://localhost:18081"}}),
        ),
        (
            "WorkatoConnection",
            json!({"spec": {"connection": {"name": null, "id": 4711}}}),
        ),
        (
            "IntegrationAccount",
            json!({"spec": {"rotation": null, "access": null, "deletionPolicy": "Orphan"}}),
        ),
    ];
    for (i, (kind, patch)) in cases.iter().enumerate() {
        let (ar, mut obj) = resource_for(kind);
        merge(&mut obj, patch);
        merge(&mut obj, &json!({"metadata": {"name": format!("edge-{i}")}}));
        create(&client, &ns, &ar, &obj)
            .await
            .unwrap_or_else(|e| panic!("{kind} {patch}: {e}"));
    }
}

/// The operator finds an account's connections and rotations by field selector when it must not
/// rely on its caches: the API server must serve exactly those.
#[tokio::test]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn connections_and_rotations_are_selectable_by_their_account() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::namespace(&client, "select").await;
    for kind in ["WorkatoConnection", "CredentialRotation"] {
        let (ar, example) = resource_for(kind);
        for (name, account) in [("a-1", "a"), ("a-2", "a"), ("b-1", "b")] {
            let mut obj = example.clone();
            merge(
                &mut obj,
                &json!({"metadata": {"name": name}, "spec": {"integrationAccountRef": {"name": account}}}),
            );
            create(&client, &ns, &ar, &obj).await.unwrap();
        }
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ar);
        let selected = api
            .list(&kube::api::ListParams::default().fields("spec.integrationAccountRef.name=a"))
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        let mut names: Vec<String> = selected
            .items
            .iter()
            .filter_map(|o| o.metadata.name.clone())
            .collect();
        names.sort();
        assert_eq!(names, ["a-1", "a-2"], "{kind}");
    }
}

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
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::namespace(&client, "invalid").await;
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

#[tokio::test]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn kubectl_get_shows_the_printer_columns() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::namespace(&client, "columns").await;
    for (ar, file) in kinds() {
        create(&client, &ns, &ar, &example(file))
            .await
            .expect("example accepted");
    }
    let expected: [(&str, &[&str]); 5] = [
        (
            "trackviaaccounts",
            &["NAME", "ENVIRONMENT", "URL", "READY", "REASON", "AGE"],
        ),
        (
            "workatoworkspaces",
            &["NAME", "ENVIRONMENT", "URL", "READY", "REASON", "AGE"],
        ),
        (
            "integrationaccounts",
            &[
                "NAME",
                "SYSTEM",
                "USER",
                "READY",
                "REASON",
                "TOKEN EXPIRES",
                "NEXT ACTION",
                "AGE",
            ],
        ),
        (
            "workatoconnections",
            &[
                "NAME",
                "ACCOUNT",
                "CONNECTION",
                "AUTHORIZATION",
                "RECIPES",
                "READY",
                "REASON",
                "AGE",
            ],
        ),
        (
            "credentialrotations",
            &[
                "NAME", "ACCOUNT", "STRATEGY", "PHASE", "READY", "REASON", "STARTED", "AGE",
            ],
        ),
    ];
    for (plural, columns) in expected {
        let out = Command::new(support::kubectl())
            .args(["get", plural, "-n", &ns])
            .output()
            .expect("running kubectl");
        assert!(
            out.status.success(),
            "kubectl get {plural}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let header: Vec<&str> = stdout
            .lines()
            .next()
            .unwrap_or_default()
            .split("  ")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        assert_eq!(header, columns, "kubectl get {plural} header");
        assert_eq!(
            stdout.lines().count(),
            2,
            "one object listed for {plural}:\n{stdout}"
        );
    }
    // The category lists every kind at once.
    let out = Command::new(support::kubectl())
        .args(["get", "trackvia", "-n", &ns, "-o", "name"])
        .output()
        .expect("kubectl");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        5,
        "kubectl get trackvia lists the five objects"
    );
}
