#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::*;
use crate::controller::index;

/// The text exposition of `g`, prefixed as the operator's registry prefixes it.
fn encoded(g: &Snapshot) -> String {
    let mut registry = prometheus_client::registry::Registry::with_prefix("trackvia_operator");
    registry.register_collector(Box::new(g.clone()));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
    out
}

/// The scrape of one IntegrationAccount.
fn scraped(ia: &IntegrationAccount) -> String {
    encoded(&Snapshot {
        integrations: vec![Arc::new(ia.clone())],
        now: now(),
        ..Snapshot::default()
    })
}

fn now() -> Timestamp {
    "2030-06-01T00:00:00Z".parse().unwrap()
}

/// An IntegrationAccount with `status`, as its cache keeps it.
fn account(rotation: serde_json::Value, status: serde_json::Value) -> IntegrationAccount {
    let mut ia: IntegrationAccount = serde_json::from_value(json!({
        "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "IntegrationAccount",
        "metadata": {"name": "sf", "namespace": "ns"},
        "spec": {"accountRef": {"name": "acme"}, "system": "Salesforce", "email": "sf@acme.example",
                 "tokenSecretRef": {"name": "sf-token", "key": "token"},
                 "credentialsSecret": {"name": "sf-credentials"}, "rotation": rotation},
        "status": status
    }))
    .unwrap();
    index::integration_account(&mut ia);
    ia
}

fn cond(type_: &str, status: &str) -> serde_json::Value {
    json!({"type": type_, "status": status, "reason": "R", "message": "m",
           "lastTransitionTime": "2030-05-01T00:00:00Z"})
}

#[test]
fn an_account_whose_valid_token_expires_within_renew_before_is_due_since_expiry_minus_renew_before() {
    let ia = account(
        json!({"renewBefore": "720h"}),
        json!({"conditions": [cond("Ready", "True"), cond("TokenValid", "True")],
               "token": {"expiresAt": "2030-06-20T00:00:00Z", "firstSeenTime": "2030-01-01T00:00:00Z"},
               "rotation": {"lastRotationTime": "2030-01-01T00:00:00Z"}}),
    );
    let text = scraped(&ia);
    let labels = "{namespace=\"ns\",name=\"sf\"}";
    for line in [
        format!("trackvia_operator_rotation_due{labels} 1"),
        // 2030-06-20 minus 30 days.
        format!("trackvia_operator_rotation_due_since_timestamp_seconds{labels} 1905552000"),
        format!("trackvia_operator_token_expiry_timestamp_seconds{labels} 1908144000"),
        format!("trackvia_operator_token_renew_before_seconds{labels} 2592000"),
        format!("trackvia_operator_last_successful_rotation_timestamp_seconds{labels} 1893456000"),
        "trackvia_operator_ready_status{kind=\"IntegrationAccount\",namespace=\"ns\",name=\"sf\",condition=\"True\"} 1".to_owned(),
        "trackvia_operator_ready_status{kind=\"IntegrationAccount\",namespace=\"ns\",name=\"sf\",condition=\"False\"} 0".to_owned(),
        "trackvia_operator_ready_status{kind=\"IntegrationAccount\",namespace=\"ns\",name=\"sf\",condition=\"Unknown\"} 0".to_owned(),
        "trackvia_operator_ready_condition_since_timestamp_seconds{kind=\"IntegrationAccount\",namespace=\"ns\",name=\"sf\"} 1903824000".to_owned(),
    ] {
        assert!(text.contains(&line), "no {line} in\n{text}");
    }
}

#[test]
fn an_account_not_yet_due_or_without_a_valid_token_is_not_due() {
    let not_yet = account(
        json!(null),
        json!({"conditions": [cond("TokenValid", "True")],
               "token": {"expiresAt": "2031-01-01T00:00:00Z"}}),
    );
    let invalid = account(
        json!({"renewBefore": "720h"}),
        json!({"conditions": [cond("TokenValid", "False")],
               "token": {"expiresAt": "2030-06-20T00:00:00Z"}}),
    );
    for ia in [not_yet, invalid] {
        let text = scraped(&ia);
        assert!(
            text.contains("trackvia_operator_rotation_due{namespace=\"ns\",name=\"sf\"} 0"),
            "{text}"
        );
        assert!(!text.contains("rotation_due_since"), "{text}");
        assert!(!text.contains("last_successful_rotation"), "{text}");
    }
}

#[test]
fn an_object_without_ready_is_unknown_and_has_no_since() {
    let ia = account(json!(null), json!(null));
    let text = scraped(&ia);
    assert!(
        text.contains("trackvia_operator_ready_status{kind=\"IntegrationAccount\",namespace=\"ns\",name=\"sf\",condition=\"Unknown\"} 1"),
        "{text}"
    );
    assert!(!text.contains("ready_condition_since"), "{text}");
    assert!(!text.contains("token_expiry"), "{text}");
    // The default renewBefore, 14 days.
    assert!(
        text.contains("trackvia_operator_token_renew_before_seconds{namespace=\"ns\",name=\"sf\"} 1209600"),
        "{text}"
    );
}

#[test]
fn a_connection_counts_the_recipes_workato_stopped_and_those_failing_authentication() {
    let mut wc: WorkatoConnection = serde_json::from_value(json!({
        "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "WorkatoConnection",
        "metadata": {"name": "c", "namespace": "ns"},
        "spec": {"workspaceRef": {"name": "dev"}, "integrationAccountRef": {"name": "sf"}, "connection": {"id": 7}},
        "status": {"conditions": [cond("Ready", "False")],
                   "recipes": [{"id": 1, "running": false, "stopCause": "trigger_errors_limit"},
                               {"id": 2, "running": false, "stopCause": "txn_quota_limit"},
                               {"id": 3, "running": false},
                               {"id": 4, "running": false, "heldBy": "rot"},
                               {"id": 5, "running": true}],
                   "recipeJobs": [{"id": 5, "authFailureTime": "2030-05-31T12:00:00Z"},
                                  {"id": 3, "authFailureTime": "2030-05-01T00:00:00Z"},
                                  {"id": 9, "authFailureTime": "2030-05-31T12:00:00Z"}]}
    }))
    .unwrap();
    index::workato_connection(&mut wc);
    let text = encoded(&Snapshot {
        connections: vec![Arc::new(wc)],
        now: now(),
        ..Snapshot::default()
    });
    for line in [
        "trackvia_operator_recipes_stopped_by_workato{namespace=\"ns\",name=\"c\"} 2",
        // Recipe 3's failure is older than a day; recipe 9 no longer depends on the connection.
        "trackvia_operator_recipes_auth_failing{namespace=\"ns\",name=\"c\"} 1",
        "trackvia_operator_ready_status{kind=\"WorkatoConnection\",namespace=\"ns\",name=\"c\",condition=\"False\"} 1",
    ] {
        assert!(text.contains(line), "no {line} in\n{text}");
    }
}

#[test]
fn a_rotation_shows_its_phase_approval_and_the_recipes_it_left_stopped() {
    let rot: CredentialRotation = serde_json::from_value(json!({
        "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "CredentialRotation",
        "metadata": {"name": "r", "namespace": "ns"},
        "spec": {"integrationAccountRef": {"name": "sf"}},
        "status": {"phase": "Failed", "outcome": "RolledBack", "conditions": [cond("Ready", "False")],
                   "recipes": [{"id": 1, "state": "Stopped"}, {"id": 2, "state": "Started"}]}
    }))
    .unwrap();
    let text = encoded(&Snapshot {
        rotations: vec![Arc::new(rot.clone())],
        ..Snapshot::default()
    });
    let left = credential_rotation::recipes_left_stopped(rot.status.as_ref().unwrap());
    for line in [
        format!("trackvia_operator_recipes_left_stopped{{namespace=\"ns\",name=\"r\"}} {left}"),
        "trackvia_operator_rotation_awaiting_approval{namespace=\"ns\",name=\"r\"} 0".to_owned(),
        "trackvia_operator_rotation_phase{namespace=\"ns\",name=\"r\",phase=\"Failed\"} 1".to_owned(),
    ] {
        assert!(text.contains(&line), "no {line} in\n{text}");
    }
    assert_eq!(
        text.matches("trackvia_operator_rotation_phase{").count(),
        1,
        "{text}"
    );
    assert!(
        left > 0,
        "a finished rotation holding a stopped recipe left it stopped"
    );

    let fresh: CredentialRotation = serde_json::from_value(json!({
        "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "CredentialRotation",
        "metadata": {"name": "new", "namespace": "ns"},
        "spec": {"integrationAccountRef": {"name": "sf"}}
    }))
    .unwrap();
    let text = encoded(&Snapshot {
        rotations: vec![Arc::new(fresh.clone())],
        ..Snapshot::default()
    });
    assert!(!text.contains("rotation_phase"), "{text}");
    assert!(text.contains("trackvia_operator_recipes_left_stopped{namespace=\"ns\",name=\"new\"} 0"));
}
