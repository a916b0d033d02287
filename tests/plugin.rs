//! The kubectl plugin's commands for many objects (issue 15): `todo` across namespaces, `-A`,
//! `-l`, `-o json|yaml`, `recheck` setting the annotation, `--kubeconfig`/`--context`, shell
//! completion. The binary on the real API server; run through `make test`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod support;

use std::process::{Command, Output};

use kube::api::{Api, Patch, PatchParams};
use kube::config::{Kubeconfig, NamedContext};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use trackvia_operator::api::common::RECHECK_ANNOTATION;
use trackvia_operator::api::{IntegrationAccount, TrackViaAccount};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trackvia-operator"))
        .args(args)
        .output()
        .expect("running the binary")
}

fn cli(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": message,
           "lastTransitionTime": "2026-12-01T22:00:00Z"})
}

/// An IntegrationAccount with the status the operator writes for a person's pending step.
async fn account_waiting(client: &Client, ns: &str, name: &str, labels: Value, status: Value) {
    support::create::<IntegrationAccount>(client, ns, json!({
        "apiVersion": support::API, "kind": "IntegrationAccount",
        "metadata": {"name": name, "labels": labels},
        "spec": {"accountRef": {"name": "acme"}, "system": name, "email": format!("{name}.integration@acme.example"),
                 "tokenSecretRef": {"name": format!("{name}-token"), "key": "token"},
                 "credentialsSecret": {"name": format!("{name}-credentials")}}
    }))
    .await;
    Api::<IntegrationAccount>::namespaced(client.clone(), ns)
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": status})),
        )
        .await
        .unwrap();
}

/// The `todo -o json` items of namespaces `nss` (other tests' namespaces left out).
fn items_in(out: &str, nss: &[&str]) -> Vec<(String, String, String, String)> {
    let all: Vec<Value> = serde_json::from_str(out).expect("todo -o json is a JSON array");
    all.iter()
        .filter(|i| nss.contains(&i["namespace"].as_str().unwrap()))
        .map(|i| {
            let s = |k: &str| i[k].as_str().unwrap().to_owned();
            (s("namespace"), s("kind"), s("name"), s("todo"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn todo_lists_what_people_must_do_across_namespaces_and_recheck_annotates() {
    let (client, a) = support::cluster("plugin-a").await;
    let b = support::namespace(&client, "plugin-b").await;
    let accept = "accept the TrackVia invitation sent to sf.integration@acme.example";
    account_waiting(&client, &a, "sf", json!({"team": "crm"}), json!({
        "nextAction": accept,
        "conditions": [condition("Ready", "False", "Unverified", "the user has not accepted the invitation")]
    }))
    .await;
    account_waiting(
        &client,
        &a,
        "done",
        json!({"team": "crm"}),
        json!({
            "conditions": [condition("Ready", "True", "Ready", "all good")]
        }),
    )
    .await;
    let token = "put the token of hr.integration@acme.example in Secret hr-token (key token)";
    account_waiting(
        &client,
        &b,
        "hr",
        json!({"team": format!("hr-{b}")}),
        json!({
            "nextAction": token,
            "conditions": [condition("Ready", "False", "TokenSecretMissing", "no Secret hr-token")]
        }),
    )
    .await;
    // Other tests' namespaces may hold objects labelled alike: this test's label is its own.
    let hr_team = format!("team=hr-{b}");
    // Another kind not Ready: its Ready message is the item.
    support::create_secret(&client, &b, "tv-admin", &[("apiKey", "k"), ("authToken", "t")]).await;
    support::create::<TrackViaAccount>(
        &client,
        &b,
        json!({
            "apiVersion": support::API, "kind": "TrackViaAccount", "metadata": {"name": "acme"},
            "spec": {"baseUrl": "https://go.trackvia.com", "environment": "sandbox",
                     "adminCredentials": {"apiKey": {"name": "tv-admin", "key": "apiKey"},
                                          "authToken": {"name": "tv-admin", "key": "authToken"}}}
        }),
    )
    .await;
    let rejected = "TrackVia rejects the admin token: create a new one under API Access";
    Api::<TrackViaAccount>::namespaced(client.clone(), &b)
        .patch_status(
            "acme",
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {
            "conditions": [condition("Ready", "False", "CredentialsRejected", rejected)]}})),
        )
        .await
        .unwrap();

    // -A -o json: every item of both namespaces, one per object, nothing for the Ready one.
    let items = items_in(&cli(&["todo", "-A", "-o", "json"]), &[&a, &b]);
    assert_eq!(
        items,
        vec![
            (a.clone(), "IntegrationAccount".into(), "sf".into(), accept.into()),
            (b.clone(), "IntegrationAccount".into(), "hr".into(), token.into()),
            (
                b.clone(),
                "TrackViaAccount".into(),
                "acme".into(),
                rejected.into()
            ),
        ]
    );
    // One namespace, as a table: one line per item with namespace, kind/name and what to do.
    let table = cli(&["todo", "-n", &a]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(lines[0].starts_with("NAMESPACE"), "{table}");
    assert!(
        lines[1].contains(&a) && lines[1].contains("integrationaccount/sf") && lines[1].contains(accept),
        "{table}"
    );
    // -l across namespaces; YAML.
    let yaml = cli(&["todo", "-A", "-l", &hr_team, "-o", "yaml"]);
    assert!(yaml.contains("name: hr") && !yaml.contains("name: sf"), "{yaml}");

    // recheck: by kind/name, several at once, and by selector.
    let ias: Api<IntegrationAccount> = Api::namespaced(client.clone(), &a);
    let out = cli(&["recheck", "ia/sf", "ia/done", "-n", &a]);
    assert!(
        out.contains("integrationaccount/sf") && out.contains("integrationaccount/done"),
        "{out}"
    );
    let first = ias
        .get("sf")
        .await
        .unwrap()
        .annotations()
        .get(RECHECK_ANNOTATION)
        .cloned();
    assert!(
        first
            .as_deref()
            .is_some_and(|v| v.parse::<jiff::Timestamp>().is_ok()),
        "{first:?}"
    );
    assert!(
        ias.get("done")
            .await
            .unwrap()
            .annotations()
            .contains_key(RECHECK_ANNOTATION)
    );
    std::thread::sleep(std::time::Duration::from_millis(20));
    let done: Vec<Value> = serde_json::from_str(&cli(&[
        "recheck",
        "--kind",
        "integrationaccount",
        "-A",
        "-l",
        &hr_team,
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(
        (done[0]["namespace"].as_str(), done[0]["name"].as_str()),
        (Some(b.as_str()), Some("hr"))
    );
    let hr = Api::<IntegrationAccount>::namespaced(client.clone(), &b)
        .get("hr")
        .await
        .unwrap();
    assert_eq!(
        hr.annotations().get(RECHECK_ANNOTATION).map(String::as_str),
        done[0]["value"].as_str()
    );
    // A bare name needs a kind; an unknown kind is refused.
    assert!(!run(&["recheck", "sf", "-n", &a]).status.success());
    assert!(!run(&["recheck", "pods/sf", "-n", &a]).status.success());

    // --kubeconfig and --context: a file whose current context is unreachable; the named
    // context (namespace b) is used.
    let mut kc = Kubeconfig::read().unwrap();
    let current = kc.current_context.clone().unwrap();
    let mut good: NamedContext = kc.contexts.iter().find(|c| c.name == current).unwrap().clone();
    good.name = "plugin-test".into();
    good.context.as_mut().unwrap().namespace = Some(b.clone());
    let mut broken = kc.clusters[0].clone();
    broken.name = "nowhere".into();
    broken.cluster.as_mut().unwrap().server = Some("https://127.0.0.1:1".into());
    let mut bad = good.clone();
    bad.name = "broken".into();
    bad.context.as_mut().unwrap().cluster = "nowhere".into();
    kc.clusters.push(broken);
    kc.contexts.push(good);
    kc.contexts.push(bad);
    kc.current_context = Some("broken".into());
    let dir = support::repo_root().join("target/test-plugin");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("kubeconfig-{}", std::process::id()));
    std::fs::write(&file, serde_json::to_string(&kc).unwrap()).unwrap();
    let file = file.to_string_lossy().into_owned();
    assert!(
        !run(&["todo", "--kubeconfig", &file]).status.success(),
        "the current context is unreachable"
    );
    let table = cli(&["todo", "--kubeconfig", &file, "--context", "plugin-test"]);
    assert!(
        table.contains("integrationaccount/hr") && !table.contains("integrationaccount/sf"),
        "{table}"
    );

    // Shell completion names the commands.
    for shell in ["bash", "zsh", "fish"] {
        let script = cli(&["completion", shell]);
        assert!(script.contains("recheck") && script.contains("todo"), "{shell}");
    }
}
