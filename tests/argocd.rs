//! The Argo CD health checks, the `rotate` and `recheck` actions and the ignored status updates shipped in charts/trackvia-operator/argocd,
//! run with gopher-lua (what Argo CD embeds) against sample objects.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};
use support::KINDS;

const PREFIX: &str = "resource.customizations.";
const GROUP: &str = "integrations.trackvia-operator.dev";

fn dir() -> PathBuf {
    support::repo_root().join("charts/trackvia-operator/argocd")
}

fn config_map() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(dir().join("argocd-cm.yaml")).unwrap();
    let cm: Value = serde_saphyr::from_str(&text).unwrap();
    serde_json::from_value(cm["data"].clone()).unwrap()
}

/// Runs a Lua script against an object with the project's gopher-lua runner.
fn run_lua(name: &str, script: &str, obj: &Value) -> Value {
    let tmp = support::repo_root().join("target/argocd-lua");
    std::fs::create_dir_all(&tmp).unwrap();
    let (s, o) = (tmp.join(format!("{name}.lua")), tmp.join(format!("{name}.json")));
    std::fs::write(&s, script).unwrap();
    std::fs::write(&o, obj.to_string()).unwrap();
    let runner = support::repo_root().join(".cache/bin/argocd-lua");
    let out = Command::new(&runner)
        .arg(&s)
        .arg(&o)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (make test builds it)", runner.display()));
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_kind_has_a_health_check_and_each_sample_gets_its_health() {
    let cm = config_map();
    for kind in KINDS {
        assert!(
            cm.contains_key(&format!("{PREFIX}health.{GROUP}_{kind}")),
            "no health check for {kind}"
        );
    }
    let cases: Vec<Value> =
        serde_saphyr::from_str(&std::fs::read_to_string(dir().join("testdata/cases.yaml")).unwrap()).unwrap();
    assert!(cases.len() >= 10);
    for (i, case) in cases.iter().enumerate() {
        let kind = case["kind"].as_str().unwrap();
        let script = &cm[&format!("{PREFIX}health.{GROUP}_{kind}")];
        let mut obj = case["object"].clone();
        obj["apiVersion"] = json!(format!("{GROUP}/v1alpha1"));
        obj["kind"] = json!(kind);
        let got = run_lua(&format!("health-{i}"), script, &obj);
        let name = case["name"].as_str().unwrap();
        assert_eq!(got["status"], case["expect"]["status"], "{name}: {got}");
        let want = case["expect"]["message"].as_str().unwrap();
        assert!(
            got["message"].as_str().unwrap_or_default().contains(want),
            "{name}: {got} lacks {want:?}"
        );
    }
}

/// The action `name` of `kind`: discovered (enabled) and its script.
fn action(kind: &str, name: &str) -> String {
    let cm = config_map();
    let actions: Value = serde_saphyr::from_str(&cm[&format!("{PREFIX}actions.{GROUP}_{kind}")]).unwrap();
    let discovered = run_lua(
        &format!("discovery-{kind}"),
        actions["discovery.lua"].as_str().unwrap(),
        &json!({}),
    );
    assert_eq!(discovered[name]["disabled"], false, "{kind}: {discovered}");
    actions["definitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("{kind} has no {name} action"))["action.lua"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The object's spec is what it was: an action must not make it drift from Git.
fn spec_kept(before: &Value, after: &Value) {
    assert_eq!(before["spec"], after["spec"], "the action changed the spec");
}

#[test]
fn the_rotate_action_requests_a_rotation_by_annotation_without_drift() {
    let rotate = action("IntegrationAccount", "rotate");
    let obj = json!({
        "apiVersion": format!("{GROUP}/v1alpha1"), "kind": "IntegrationAccount",
        "metadata": {"name": "sf", "annotations": {"team": "crm"}},
        "spec": {"system": "Salesforce", "rotation": {"interval": "2160h"}}
    });
    let out = run_lua("rotate", &rotate, &obj);
    let at = out["metadata"]["annotations"][trackvia_operator::api::common::ROTATE_ANNOTATION]
        .as_str()
        .unwrap();
    at.parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("{at:?} is not RFC 3339: {e}"));
    assert_eq!(
        out["metadata"]["annotations"]["team"], "crm",
        "other annotations are kept"
    );
    spec_kept(&obj, &out);
    // Without annotations, they are created.
    let bare = json!({"metadata": {"name": "x"}, "spec": {}});
    let out = run_lua("rotate-bare", &rotate, &bare);
    assert!(out["metadata"]["annotations"][trackvia_operator::api::common::ROTATE_ANNOTATION].is_string());
    spec_kept(&bare, &out);
}

#[test]
fn every_kind_has_a_recheck_action_that_sets_the_annotation() {
    for kind in KINDS {
        let recheck = action(kind, "recheck");
        let obj = json!({"apiVersion": format!("{GROUP}/v1alpha1"), "kind": kind,
                         "metadata": {"name": "x"}, "spec": {"a": 1}});
        let out = run_lua(&format!("recheck-{kind}"), &recheck, &obj);
        let v = out["metadata"]["annotations"][trackvia_operator::api::common::RECHECK_ANNOTATION]
            .as_str()
            .unwrap_or_else(|| panic!("{kind}: {out}"));
        v.parse::<jiff::Timestamp>()
            .unwrap_or_else(|e| panic!("{kind}: {v:?} is not RFC 3339: {e}"));
        spec_kept(&obj, &out);
    }
}

#[test]
fn status_timestamps_of_periodic_checks_do_not_refresh_applications() {
    let cm = config_map();
    assert_eq!(cm["resource.ignoreResourceUpdatesEnabled"], "true");
    for (kind, pointer) in [
        ("TrackViaAccount", "/status/lastCheckedTime"),
        ("WorkatoWorkspace", "/status/lastCheckedTime"),
        ("IntegrationAccount", "/status/token/lastValidatedTime"),
        ("WorkatoConnection", "/status/recipesRefreshedTime"),
        ("CredentialRotation", "/status/lastCheckedTime"),
    ] {
        let ignore: Value =
            serde_saphyr::from_str(&cm[&format!("{PREFIX}ignoreResourceUpdates.{GROUP}_{kind}")]).unwrap();
        let pointers: Vec<&str> = ignore["jsonPointers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert!(pointers.contains(&pointer), "{kind}: {pointers:?}");
        // Every pointer names a status field the CRD has.
        let crd = std::fs::read_to_string(
            support::repo_root().join(format!("crds/{}s.{GROUP}.yaml", kind.to_ascii_lowercase())),
        )
        .unwrap();
        for p in &pointers {
            let field = p.rsplit('/').next().unwrap();
            assert!(
                crd.contains(&format!("{field}:")),
                "{kind}: {p} is not in the CRD"
            );
        }
    }
}
