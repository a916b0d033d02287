//! The Argo CD health checks and the `rotate` action shipped in charts/trackvia-operator/argocd,
//! run with gopher-lua (what Argo CD embeds) against sample objects.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

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
    for kind in [
        "TrackViaAccount",
        "WorkatoWorkspace",
        "IntegrationAccount",
        "WorkatoConnection",
        "CredentialRotation",
    ] {
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

#[test]
fn the_rotate_action_requests_a_rotation_declaratively() {
    let cm = config_map();
    let actions: Value =
        serde_saphyr::from_str(&cm[&format!("{PREFIX}actions.{GROUP}_IntegrationAccount")]).unwrap();
    let discovered = run_lua(
        "discovery",
        actions["discovery.lua"].as_str().unwrap(),
        &json!({}),
    );
    assert_eq!(discovered["rotate"]["disabled"], false);
    let rotate = actions["definitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "rotate")
        .unwrap();
    let obj = json!({
        "apiVersion": format!("{GROUP}/v1alpha1"), "kind": "IntegrationAccount", "metadata": {"name": "sf"},
        "spec": {"system": "Salesforce", "rotation": {"interval": "2160h"}}
    });
    let out = run_lua("rotate", rotate["action.lua"].as_str().unwrap(), &obj);
    let at = out["spec"]["rotation"]["requestedAt"].as_str().unwrap();
    at.parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("requestedAt {at:?} is not RFC 3339: {e}"));
    assert_eq!(
        out["spec"]["rotation"]["interval"], "2160h",
        "the rest of the spec is kept"
    );
    assert_eq!(out["spec"]["system"], "Salesforce");
    // Without a rotation block, one is created.
    let out = run_lua(
        "rotate-bare",
        rotate["action.lua"].as_str().unwrap(),
        &json!({"metadata": {"name": "x"}, "spec": {}}),
    );
    assert!(out["spec"]["rotation"]["requestedAt"].is_string());
}
