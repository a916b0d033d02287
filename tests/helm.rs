//! The Helm chart on the real API server: lint, server-side dry run of the rendered manifests,
//! install, and RBAC proven sufficient (the operator runs a full reconcile as the chart's
//! ServiceAccount) and minimal (requests outside it are refused). Run through `make test`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use serde_json::json;
use support::operator::{Emulators, eventually};
use trackvia_operator::api::{IntegrationAccount, TrackViaAccount};

fn helm() -> PathBuf {
    support::repo_root().join(".cache/bin/helm")
}

fn chart() -> String {
    support::repo_root()
        .join("charts/trackvia-operator")
        .display()
        .to_string()
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("running a command");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn render(ns: &str, extra: &[&str]) -> String {
    let mut args = vec!["template", "t", &chart(), "-n", ns, "--kube-version", "1.34.4"]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    String::from_utf8(run(Command::new(helm()).args(&args)).stdout).unwrap()
}

#[test]
fn the_chart_lints() {
    run(Command::new(helm()).args(["lint", "--strict", &chart()]));
}

/// The update strategy is the chart's value: by default a new pod before the old one goes (the
/// standby is Ready, the stopped leader releases the Lease), and `Recreate` when asked.
#[test]
fn the_update_strategy_comes_from_the_values() {
    let strategy = |extra: &[&str]| -> serde_json::Value {
        render("tvo", extra)
            .split("\n---")
            .filter_map(|d| serde_saphyr::from_str::<serde_json::Value>(d).ok())
            .find(|d| d["kind"] == "Deployment")
            .unwrap()["spec"]["strategy"]
            .clone()
    };
    assert_eq!(
        strategy(&[]),
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}})
    );
    assert_eq!(
        strategy(&[
            "--set",
            "strategy.type=Recreate",
            "--set",
            "strategy.rollingUpdate=null"
        ]),
        json!({"type": "Recreate"})
    );
}

#[test]
fn rbac_has_no_wildcard_and_writes_secrets_only_where_it_must() {
    for mode in [vec![], vec!["--set", "watchNamespace=apps"]] {
        let rendered = render("tvo", &mode);
        let docs: Vec<serde_json::Value> = rendered
            .split("\n---")
            .filter_map(|d| serde_saphyr::from_str::<serde_json::Value>(d).ok())
            .filter(|d| d.is_object())
            .collect();
        let roles: Vec<&serde_json::Value> = docs
            .iter()
            .filter(|d| matches!(d["kind"].as_str(), Some("Role" | "ClusterRole")))
            .collect();
        assert!(!roles.is_empty());
        for r in &roles {
            for rule in r["rules"].as_array().unwrap() {
                for field in ["apiGroups", "resources", "verbs"] {
                    assert!(
                        !rule[field].as_array().unwrap().iter().any(|v| v == "*"),
                        "wildcard in {r}"
                    );
                }
            }
        }
        let cluster_secret_writes =
            roles.iter().any(|r| {
                r["kind"] == "ClusterRole"
                    && r["rules"].as_array().unwrap().iter().any(|rule| {
                        rule["resources"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|x| x == "secrets")
                            && rule["verbs"].as_array().unwrap().iter().any(|v| {
                                ["create", "update", "patch", "delete"].contains(&v.as_str().unwrap())
                            })
                    })
            });
        // Cluster-wide mode needs Secret writes wherever IntegrationAccounts live; a namespaced
        // install has none cluster-wide.
        assert_eq!(cluster_secret_writes, mode.is_empty(), "mode {mode:?}");
    }
}

/// The Roles and ClusterRoles (and their bindings) the chart renders in a mode.
fn rbac_docs(mode: &[&str]) -> Vec<serde_json::Value> {
    render("tvo", mode)
        .split("\n---")
        .filter_map(|d| serde_saphyr::from_str::<serde_json::Value>(d).ok())
        .filter(|d| {
            matches!(
                d["kind"].as_str(),
                Some("Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding")
            )
        })
        .collect()
}

fn strings(v: &serde_json::Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default()
}

#[test]
fn rbac_secret_access_is_as_narrow_as_the_design_allows() {
    for mode in [vec![], vec!["--set", "watchNamespace=apps"]] {
        let docs = rbac_docs(&mode);
        let rules = || {
            docs.iter()
                .filter(|d| matches!(d["kind"].as_str(), Some("Role" | "ClusterRole")))
                .flat_map(|d| d["rules"].as_array().unwrap().iter().map(move |rule| (d, rule)))
        };
        for (role, rule) in rules() {
            // Only our kinds, Secrets, Events and Leases; never RBAC, pods, tokens or the like.
            for group in strings(&rule["apiGroups"]) {
                assert!(
                    [
                        "integrations.trackvia-operator.dev",
                        "",
                        "events.k8s.io",
                        "coordination.k8s.io"
                    ]
                    .contains(&group),
                    "API group {group:?} in {role}"
                );
            }
            if strings(&rule["apiGroups"]) == [""] {
                assert_eq!(strings(&rule["resources"]), ["secrets"], "{role}");
            }
            for verb in strings(&rule["verbs"]) {
                assert!(
                    !["escalate", "bind", "impersonate", "deletecollection"].contains(&verb),
                    "verb {verb} in {role}"
                );
            }
            // Secrets are written by server-side apply (patch), never replaced (update).
            if strings(&rule["resources"]).contains(&"secrets") {
                assert!(
                    !strings(&rule["verbs"]).contains(&"update"),
                    "secrets update in {role}"
                );
            }
        }
        // A namespaced install has nothing cluster-wide: no ClusterRole, no ClusterRoleBinding,
        // so no Secret access (read or write) outside the watched and the release namespace.
        if !mode.is_empty() {
            let cluster: Vec<_> = docs
                .iter()
                .filter(|d| d["kind"].as_str().is_some_and(|k| k.starts_with("Cluster")))
                .collect();
            assert!(
                cluster.is_empty(),
                "cluster-wide RBAC in a namespaced install: {cluster:?}"
            );
            let main = docs
                .iter()
                .find(|d| d["kind"] == "Role" && d["metadata"]["name"] == "t-trackvia-operator")
                .unwrap();
            assert_eq!(main["metadata"]["namespace"], "apps");
        }
        // In the release namespace, the operator reads one Secret only: its fingerprint key.
        let own = docs
            .iter()
            .find(|d| d["kind"] == "Role" && d["metadata"]["name"] == "t-trackvia-operator-self")
            .unwrap();
        assert_eq!(own["metadata"]["namespace"], "tvo");
        let secret_rules: Vec<_> = own["rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| strings(&r["resources"]).contains(&"secrets"))
            .collect();
        assert_eq!(secret_rules.len(), 2, "{own}");
        for rule in secret_rules {
            match strings(&rule["verbs"]).as_slice() {
                ["get"] => assert_eq!(
                    strings(&rule["resourceNames"]),
                    [trackvia_operator::controller::run::FINGERPRINT_KEY_SECRET]
                ),
                // RBAC cannot limit create by name (the name is in the body, not the URL).
                ["create"] => assert!(rule.get("resourceNames").is_none()),
                other => panic!("unexpected Secret verbs {other:?} in {own}"),
            }
        }
    }
}

async fn sa_kubeconfig(ns: &str, sa: &str) -> PathBuf {
    let token = String::from_utf8(
        run(Command::new(support::kubectl()).args(["create", "token", sa, "-n", ns, "--duration", "1h"]))
            .stdout,
    )
    .unwrap();
    let admin = std::env::var("KUBECONFIG").unwrap();
    let server = String::from_utf8(
        run(Command::new(support::kubectl()).args([
            "config",
            "view",
            "--minify",
            "-o",
            "jsonpath={.clusters[0].cluster.server}",
        ]))
        .stdout,
    )
    .unwrap();
    let ca = String::from_utf8(
        run(Command::new(support::kubectl()).args([
            "config",
            "view",
            "--raw",
            "--minify",
            "-o",
            "jsonpath={.clusters[0].cluster.certificate-authority-data}",
        ]))
        .stdout,
    )
    .unwrap();
    let _ = admin;
    let path = support::repo_root().join(format!("target/test-logs/{ns}-sa.kubeconfig"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: sa\n  user:\n    token: {}\ncontexts:\n- name: c\n  context: {{cluster: c, user: sa, namespace: {ns}}}\ncurrent-context: c\n",
            token.trim()
        ),
    )
    .unwrap();
    path
}

fn can_i(kubeconfig: &PathBuf, args: &[&str]) -> bool {
    let out = Command::new(support::kubectl())
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["auth", "can-i"])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "yes"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn installs_and_its_rbac_is_sufficient_and_minimal() {
    let (client, ns) = support::cluster("helm").await;

    // Every rendered object passes the API server's validation, in both modes.
    for mode in [vec![], vec!["--set".to_owned(), format!("watchNamespace={ns}")]] {
        let mode: Vec<&str> = mode.iter().map(String::as_str).collect();
        let rendered = render(&ns, &mode);
        let mut child = Command::new(support::kubectl())
            .args(["apply", "--dry-run=server", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), rendered.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "dry run {mode:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // A namespaced install (the CRDs are installed already, by the tests).
    run(Command::new(helm()).args([
        "install",
        "tvo",
        &chart(),
        "-n",
        &ns,
        "--set",
        "crds.install=false",
        "--set",
        &format!("watchNamespace={ns}"),
        "--wait=false",
    ]));
    for (kind, name) in [
        ("serviceaccount", "tvo-trackvia-operator"),
        ("role", "tvo-trackvia-operator"),
        ("rolebinding", "tvo-trackvia-operator"),
        ("role", "tvo-trackvia-operator-self"),
        ("rolebinding", "tvo-trackvia-operator-self"),
        ("deployment", "tvo-trackvia-operator"),
        ("service", "tvo-trackvia-operator-metrics"),
        ("networkpolicy", "tvo-trackvia-operator"),
    ] {
        run(Command::new(support::kubectl()).args(["get", kind, name, "-n", &ns]));
    }
    let deployment = String::from_utf8(
        run(Command::new(support::kubectl()).args([
            "get",
            "deployment",
            "tvo-trackvia-operator",
            "-n",
            &ns,
            "-o",
            "json",
        ]))
        .stdout,
    )
    .unwrap();
    let d: serde_json::Value = serde_json::from_str(&deployment).unwrap();
    let c = &d["spec"]["template"]["spec"]["containers"][0]["securityContext"];
    assert_eq!(
        (
            c["readOnlyRootFilesystem"].as_bool(),
            c["allowPrivilegeEscalation"].as_bool(),
            c["runAsNonRoot"].as_bool()
        ),
        (Some(true), Some(false), Some(true))
    );
    assert_eq!(c["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(c["seccompProfile"]["type"], "RuntimeDefault");

    // Sufficient: the operator, as the chart's ServiceAccount, takes an account through a full reconcile.
    let kubeconfig = sa_kubeconfig(&ns, "tvo-trackvia-operator").await;
    let emu = Emulators::start(
        r#"
trackvia:
  accounts:
    - id: 1
      name: A
      environment: sandbox
      apiKey: key-000000000001
      apps: [{id: 1, name: CRM}]
      views: [{id: 10, name: Accounts, app: CRM}]
      roles: [{name: Super Admin, admin: true}, {name: Integration, apps: [CRM], views: [Accounts]}]
      users:
        - {id: 1, email: admin@a.example, firstName: A, lastName: Admin, status: Active, apiUser: true, role: Super Admin}
        - {id: 2, email: crm.integration@a.example, firstName: CRM, lastName: Integration, status: Active, apiUser: true, role: Integration}
      tokens:
        - {id: 1, value: admin-token-00000001, user: 1, name: op, expiresAt: "2030-01-01T00:00:00Z"}
        - {id: 2, value: crm-token-000000001, user: 2, name: crm, expiresAt: "2030-01-01T00:00:00Z"}
workato:
  workspaces: []
"#,
    )
    .await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    for s in [
        support::secret(
            "tv-admin",
            &[
                ("apiKey", "key-000000000001"),
                ("authToken", "admin-token-00000001"),
            ],
            &[],
        ),
        support::secret("crm-token", &[("token", "crm-token-000000001")], &[]),
    ] {
        secrets.create(&Default::default(), &s).await.unwrap();
    }
    support::create::<TrackViaAccount>(&client, &ns, json!({
        "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "TrackViaAccount", "metadata": {"name": "a"},
        "spec": {"baseUrl": emu.trackvia(), "environment": "sandbox",
                 "adminCredentials": {"apiKey": {"name": "tv-admin", "key": "apiKey"}, "authToken": {"name": "tv-admin", "key": "authToken"}}}
    })).await;
    support::create::<IntegrationAccount>(&client, &ns, json!({
        "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "IntegrationAccount", "metadata": {"name": "crm"},
        "spec": {"accountRef": {"name": "a"}, "system": "CRM", "email": "crm.integration@a.example",
                 "tokenSecretRef": {"name": "crm-token", "key": "token"}, "credentialsSecret": {"name": "crm-credentials"}}
    })).await;
    let log = support::repo_root().join(format!("target/test-logs/{ns}-as-sa.log"));
    let mut op = Command::new(env!("CARGO_BIN_EXE_trackvia-operator"))
        .args([
            "run",
            "--namespace",
            &ns,
            "--operator-namespace",
            &ns,
            "--admin-addr",
            "127.0.0.1:0",
        ])
        .env("KUBECONFIG", &kubeconfig)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
        .spawn()
        .unwrap();
    let ias: Api<IntegrationAccount> = Api::namespaced(client.clone(), &ns);
    let reached = tokio::time::timeout(
        Duration::from_secs(60),
        eventually(
            Duration::from_secs(60),
            "crm Ready under the chart's RBAC",
            || async {
                let i = ias.get("crm").await.ok()?;
                support::is_ready(&i.status?.common.conditions).then_some(())
            },
        ),
    )
    .await;
    let _ = op.kill();
    let _ = op.wait();
    assert!(
        reached.is_ok(),
        "{}",
        std::fs::read_to_string(log.with_extension("err")).unwrap_or_default()
    );
    secrets
        .get("crm-credentials")
        .await
        .expect("published under the chart's RBAC");
    let logs = std::fs::read_to_string(log.with_extension("err")).unwrap_or_default();
    assert!(!logs.contains("forbidden"), "a request was forbidden: {logs}");

    // Minimal: what the operator does not need, it cannot do.
    assert!(can_i(&kubeconfig, &["patch", "secrets", "-n", &ns]));
    for refused in [
        vec!["list", "pods", "-n", &ns],
        vec!["get", "secrets", "-n", "kube-system"],
        vec!["create", "secrets", "-n", "default"],
        vec!["delete", "customresourcedefinitions"],
        vec!["create", "deployments", "-n", &ns],
        vec!["delete", "integrationaccounts", "-n", &ns],
        vec!["update", "leases", "-n", "kube-system"],
    ] {
        assert!(
            !can_i(&kubeconfig, &refused),
            "the operator's ServiceAccount may {refused:?}"
        );
    }
}
