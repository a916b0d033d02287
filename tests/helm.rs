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
    render_release("t", ns, extra)
}

fn render_release(release: &str, ns: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "template",
        release,
        &chart(),
        "-n",
        ns,
        "--kube-version",
        "1.34.4",
    ]
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

/// One of the ClusterRoles for the people who use the kinds (aggregated into view/edit/admin).
fn is_user_role(d: &serde_json::Value) -> bool {
    d["kind"] == "ClusterRole"
        && d["metadata"]["labels"].as_object().is_some_and(|l| {
            l.keys()
                .any(|k| k.starts_with("rbac.authorization.k8s.io/aggregate-to-"))
        })
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
        // A namespaced install grants the operator nothing cluster-wide: no ClusterRoleBinding,
        // and no ClusterRole but the users' (which bind nobody and touch no Secret), so no Secret
        // access (read or write) outside the watched and the release namespace.
        if !mode.is_empty() {
            let cluster: Vec<_> = docs
                .iter()
                .filter(|d| d["kind"].as_str().is_some_and(|k| k.starts_with("Cluster")))
                .filter(|d| !is_user_role(d))
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
        // The users' ClusterRoles are cluster-wide and named after the release: installed under
        // a name of their own by `namespace_users_apply_every_kind_and_nothing_more`.
        "--set",
        "rbac.aggregateToBuiltinRoles=false",
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
    for lease in ["update", "watch", "list"] {
        assert!(can_i(
            &kubeconfig,
            &[lease, "leases/trackvia-operator-leader", "-n", &ns]
        ));
    }
    // As the standby asks: a list (and watch) selecting the Lease by name is allowed by name.
    let list = |selector: &[&str]| {
        Command::new(support::kubectl())
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["get", "leases", "-n", &ns])
            .args(selector)
            .output()
            .unwrap()
    };
    let by_name = list(&["--field-selector", "metadata.name=trackvia-operator-leader"]);
    assert!(
        by_name.status.success(),
        "{}",
        String::from_utf8_lossy(&by_name.stderr)
    );
    assert!(!list(&[]).status.success(), "every Lease of the namespace listed");
    for refused in [
        vec!["list", "pods", "-n", &ns],
        vec!["get", "secrets", "-n", "kube-system"],
        vec!["create", "secrets", "-n", "default"],
        vec!["delete", "customresourcedefinitions"],
        vec!["create", "deployments", "-n", &ns],
        vec!["delete", "integrationaccounts", "-n", &ns],
        vec!["update", "leases", "-n", "kube-system"],
        // The Lease rule names the operator's Lease: others in its own namespace are not its.
        vec!["update", "leases/someone-elses", "-n", &ns],
        vec!["get", "leases/someone-elses", "-n", &ns],
        // Watched by name only: not every Lease of its namespace.
        vec!["watch", "leases", "-n", &ns],
    ] {
        assert!(
            !can_i(&kubeconfig, &refused),
            "the operator's ServiceAccount may {refused:?}"
        );
    }
}

/// Every document the chart renders with these values, parsed.
fn docs(extra: &[&str]) -> Vec<serde_json::Value> {
    render("tvo", extra)
        .split("\n---")
        .filter_map(|d| serde_saphyr::from_str::<serde_json::Value>(d).ok())
        .filter(|d| d.is_object())
        .collect()
}

fn deployment(extra: &[&str]) -> serde_json::Value {
    docs(extra)
        .into_iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("a Deployment")
}

fn helm_lint(extra: &[&str]) -> Output {
    Command::new(helm())
        .args(["lint", "--strict", &chart()])
        .args(extra)
        .output()
        .expect("running helm lint")
}

/// values.schema.json is enforced: `helm lint --strict` (and so `helm install`) refuses a value
/// of the wrong type, outside its enum or pattern, or a key the chart does not know, and says
/// which; the defaults and the documented overrides pass.
#[test]
fn lint_strict_enforces_the_values_schema() {
    for good in [
        vec![],
        vec![
            "--set",
            "replicaCount=2",
            "--set",
            "podDisruptionBudget.maxUnavailable=1",
        ],
        vec![
            "--set",
            "strategy.type=Recreate",
            "--set",
            "strategy.rollingUpdate=null",
        ],
        vec![
            "--set",
            "image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ],
        vec![
            "--set",
            "podSecurityContext.runAsUser=1000",
            "--set",
            "securityContext.readOnlyRootFilesystem=null",
        ],
        vec![
            "--set",
            "leaderElection.leaseDuration=30s",
            "--set",
            "extraArgs[0]=--vendor-request-timeout=60s",
        ],
        vec![
            "--set",
            "prometheusRule.enabled=true",
            "--set",
            "prometheusRule.for.noLeader=1h30m",
            "--set",
            "dashboard.enabled=true",
        ],
    ] {
        let out = helm_lint(&good);
        assert!(
            out.status.success(),
            "{good:?} should lint: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    for (bad, path) in [
        (vec!["--set", "replicaCount=two"], "/replicaCount"),
        (vec!["--set", "strategy.type=Blue"], "/strategy/type"),
        (vec!["--set", "image.digest=latest"], "/image/digest"),
        (vec!["--set", "image.pullPolicy=Sometimes"], "/image/pullPolicy"),
        (
            vec!["--set", "leaderElection.leaseDuration=soon"],
            "/leaderElection/leaseDuration",
        ),
        (vec!["--set", "intervals.tokenCheck=15"], "/intervals/tokenCheck"),
        (
            vec!["--set", "maxConcurrentReconciles=-1"],
            "/maxConcurrentReconciles",
        ),
        (
            vec!["--set", "rbac.aggregateToBuiltinRoles=maybe"],
            "/rbac/aggregateToBuiltinRoles",
        ),
        (vec!["--set", "extraArgs[0]=oops"], "/extraArgs/0"),
        (
            vec!["--set", "podDisruptionBudget.maxUnavailable=half"],
            "/podDisruptionBudget/maxUnavailable",
        ),
        (
            vec!["--set", "prometheusRule.for.objectNotReady=half an hour"],
            "/prometheusRule/for/objectNotReady",
        ),
        (vec!["--set", "dashboard.enabled=yes"], "/dashboard/enabled"),
        (vec!["--set", "replicaCont=2"], "replicaCont"),
    ] {
        let out = helm_lint(&bad);
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{bad:?} should fail the lint: {said}");
        assert!(
            said.contains(path),
            "{bad:?}: the lint should name {path}: {said}"
        );
    }
}

/// The chart README's values table is generated from values.yaml by scripts/chart-readme.py and
/// must not drift from it; the script's parser reads values.yaml as a YAML parser does.
#[test]
fn the_chart_readme_is_generated_from_the_values() {
    let script = support::repo_root().join("scripts/chart-readme.py");
    let check = Command::new("python3")
        .arg(&script)
        .arg("--check")
        .output()
        .expect("running python3");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let parsed: serde_json::Value =
        serde_json::from_slice(&run(Command::new("python3").arg(&script).arg("--json")).stdout).unwrap();
    let values: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(support::repo_root().join("charts/trackvia-operator/values.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(parsed, values);
    // Every value is in the README, with its default.
    let readme =
        std::fs::read_to_string(support::repo_root().join("charts/trackvia-operator/README.md")).unwrap();
    for row in [
        "| `leaderElection.leaseDuration` | string | `\"15s\"` |",
        "| `rbac.aggregateToBuiltinRoles` | bool | `true` |",
        "| `podDisruptionBudget.maxUnavailable` | null | `null` |",
    ] {
        assert!(readme.contains(row), "{row} not in the chart README");
    }
}

/// Restricted Pod Security level by default with no fixed UID (a platform that assigns UIDs, as
/// OpenShift does, admits it), and both contexts are the values'.
#[test]
fn security_contexts_are_restricted_without_a_fixed_uid_and_overridable() {
    let d = deployment(&[]);
    let pod = &d["spec"]["template"]["spec"]["securityContext"];
    assert_eq!(
        pod,
        &json!({"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}})
    );
    let c = &d["spec"]["template"]["spec"]["containers"][0]["securityContext"];
    assert_eq!(
        c,
        &json!({"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "runAsNonRoot": true,
                "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}})
    );
    let d = deployment(&[
        "--set",
        "podSecurityContext.runAsUser=1000670000",
        "--set",
        "securityContext.seccompProfile=null",
    ]);
    assert_eq!(
        d["spec"]["template"]["spec"]["securityContext"]["runAsUser"],
        1_000_670_000
    );
    let c = &d["spec"]["template"]["spec"]["containers"][0]["securityContext"];
    assert!(c.get("seccompProfile").is_none(), "{c}");
    assert_eq!(c["readOnlyRootFilesystem"], true);
}

/// The `--flag` names of `trackvia-operator run --help`.
fn run_flags() -> String {
    String::from_utf8(
        run(Command::new(env!("CARGO_BIN_EXE_trackvia-operator")).args(["run", "--help"])).stdout,
    )
    .unwrap()
}

/// The values reach the operator: image digest, Lease timings, concurrency, extra arguments and
/// environment, topology spread; and every flag the chart passes is one the binary has (a
/// misspelt flag would crash-loop the pod).
#[test]
fn the_values_reach_the_operator() {
    let d = deployment(&[
        "--set",
        "image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "--set",
        "image.tag=ignored",
        "--set",
        "leaderElection.leaseDuration=40s",
        "--set",
        "leaderElection.renewInterval=10s",
        "--set",
        "leaderElection.leaseName=my-lease",
        "--set",
        "maxConcurrentReconciles=4",
        "--set",
        "extraArgs[0]=--vendor-request-timeout=60s",
        "--set",
        "extraEnv[0].name=HTTPS_PROXY",
        "--set",
        "extraEnv[0].value=http://proxy:3128",
        "--set",
        "topologySpreadConstraints[0].maxSkew=1",
        "--set",
        "topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone",
        "--set",
        "topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway",
    ]);
    let spec = &d["spec"]["template"]["spec"];
    let c = &spec["containers"][0];
    assert_eq!(
        c["image"],
        "trackvia-operator@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    );
    let args = strings(&c["args"]);
    for arg in [
        "--lease-duration=40s",
        "--lease-renew-interval=10s",
        "--lease-name=my-lease",
        "--max-concurrent-reconciles=4",
        "--leader-elect=true",
    ] {
        assert!(args.contains(&arg), "{arg} not in {args:?}");
    }
    assert_eq!(args.last(), Some(&"--vendor-request-timeout=60s"));
    assert!(
        c["env"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "HTTPS_PROXY", "value": "http://proxy:3128"}))
    );
    assert_eq!(spec["topologySpreadConstraints"][0]["maxSkew"], 1);
    // Without a digest: repository:tag, the tag defaulting to appVersion.
    let default = deployment(&[]);
    let image = default["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        image.starts_with("trackvia-operator:") && !image.contains('@'),
        "{image}"
    );

    let help = run_flags();
    for arg in strings(&default["spec"]["template"]["spec"]["containers"][0]["args"])
        .iter()
        .chain(args.iter())
        .filter(|a| a.starts_with("--"))
    {
        let flag = arg.split('=').next().unwrap();
        assert!(
            help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
            "the chart passes {flag}, which `trackvia-operator run` does not have"
        );
    }
    // The chart's Lease timings are the binary's defaults, so installing the chart changes nothing.
    assert!(help.contains("--lease-duration <LEASE_DURATION>"), "{help}");
    for default in [
        "[default: 15s]",
        "[default: 5s]",
        "[default: trackvia-operator-leader]",
        "[default: 32]",
    ] {
        assert!(help.contains(default), "{default} not in `run --help`: {help}");
    }
}

/// Lease intervals that cannot work are refused at start, not discovered as a flapping leader or
/// as two leaders: a Lease renewed no faster than it expires, and a leader that would go on
/// leading, unable to renew, after a standby may take over.
#[test]
fn lease_intervals_that_cannot_work_are_refused() {
    for args in [
        [
            "--lease-duration=10s",
            "--lease-renew-interval=10s",
            "--lease-renew-deadline=9s",
        ],
        [
            "--lease-duration=15s",
            "--lease-renew-interval=5s",
            "--lease-renew-deadline=15s",
        ],
        [
            "--lease-duration=15s",
            "--lease-renew-interval=5s",
            "--lease-renew-deadline=4s",
        ],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_trackvia-operator"))
            .arg("run")
            .args(args)
            .env("KUBECONFIG", "/nonexistent")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--lease-renew-interval") && err.contains("--lease-renew-deadline"),
            "{args:?}: {err}"
        );
    }
    // Without a deadline: two thirds of the duration, which must still exceed the interval.
    let out = Command::new(env!("CARGO_BIN_EXE_trackvia-operator"))
        .args(["run", "--lease-duration=15s", "--lease-renew-interval=11s"])
        .env("KUBECONFIG", "/nonexistent")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("renew deadline (10s)"));
}

/// The PodDisruptionBudget: only with more than one replica, off when disabled, with
/// maxUnavailable instead of minAvailable when that is set.
#[test]
fn the_pod_disruption_budget_follows_its_values() {
    let pdb = |extra: &[&str]| {
        docs(extra)
            .into_iter()
            .find(|d| d["kind"] == "PodDisruptionBudget")
            .map(|d| d["spec"].clone())
    };
    assert_eq!(pdb(&[]), None, "one replica: a PDB would block every drain");
    let spec = pdb(&["--set", "replicaCount=2"]).unwrap();
    assert_eq!(spec["minAvailable"], 1);
    assert!(spec.get("maxUnavailable").is_none());
    let spec = pdb(&[
        "--set",
        "replicaCount=3",
        "--set",
        "podDisruptionBudget.maxUnavailable=1",
    ])
    .unwrap();
    assert_eq!(spec["maxUnavailable"], 1);
    assert!(spec.get("minAvailable").is_none(), "{spec}");
    assert_eq!(
        pdb(&[
            "--set",
            "replicaCount=2",
            "--set",
            "podDisruptionBudget.enabled=false"
        ]),
        None
    );
}

const KINDS: [&str; 5] = [
    "trackviaaccounts",
    "workatoworkspaces",
    "integrationaccounts",
    "workatoconnections",
    "credentialrotations",
];

/// The users' roles (statically): `-view` aggregates into view, `-edit` into edit and admin;
/// view reads, edit writes the kinds; neither writes a status subresource or touches anything
/// else; `rbac.aggregateToBuiltinRoles=false` removes both.
#[test]
fn user_roles_aggregate_into_the_builtin_roles() {
    for mode in [vec![], vec!["--set", "watchNamespace=apps"]] {
        let roles: Vec<serde_json::Value> = rbac_docs(&mode).into_iter().filter(is_user_role).collect();
        let role = |suffix: &str| {
            roles
                .iter()
                .find(|r| r["metadata"]["name"] == format!("t-trackvia-operator-{suffix}"))
                .unwrap_or_else(|| panic!("no -{suffix} ClusterRole in {mode:?}"))
        };
        assert_eq!(roles.len(), 2, "{roles:?}");
        let aggregate = |r: &serde_json::Value| -> Vec<String> {
            r["metadata"]["labels"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, v)| k.starts_with("rbac.authorization.k8s.io/aggregate-to-") && *v == "true")
                .map(|(k, _)| {
                    k.trim_start_matches("rbac.authorization.k8s.io/aggregate-to-")
                        .to_owned()
                })
                .collect()
        };
        assert_eq!(aggregate(role("view")), ["view"]);
        let mut edit = aggregate(role("edit"));
        edit.sort();
        assert_eq!(edit, ["admin", "edit"]);
        let verbs = |r: &serde_json::Value, resource: &str| -> Vec<String> {
            let mut v: Vec<String> = r["rules"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|rule| strings(&rule["resources"]).contains(&resource))
                .flat_map(|rule| strings(&rule["verbs"]).into_iter().map(str::to_owned))
                .collect();
            v.sort();
            v
        };
        for kind in KINDS {
            assert_eq!(verbs(role("view"), kind), ["get", "list", "watch"], "{kind}");
            assert_eq!(
                verbs(role("edit"), kind),
                ["create", "delete", "get", "list", "patch", "update", "watch"],
                "{kind}"
            );
            for r in [role("view"), role("edit")] {
                assert_eq!(verbs(r, &format!("{kind}/status")), ["get"], "{kind}/status");
            }
        }
        for r in &roles {
            for rule in r["rules"].as_array().unwrap() {
                assert_eq!(
                    strings(&rule["apiGroups"]),
                    ["integrations.trackvia-operator.dev"],
                    "{r}"
                );
            }
        }
    }
    let off = rbac_docs(&["--set", "rbac.aggregateToBuiltinRoles=false"]);
    assert!(!off.iter().any(is_user_role), "{off:?}");
}

/// The operator's Lease rule names its Lease (the value the chart passes as `--lease-name`; the
/// standby's watch selects it by name); create, which RBAC cannot limit by name, is a rule of
/// its own with create alone.
#[test]
fn the_lease_rule_names_the_operators_lease() {
    for (extra, name) in [
        (vec![], "trackvia-operator-leader"),
        (
            vec!["--set", "leaderElection.leaseName=other-lease"],
            "other-lease",
        ),
    ] {
        let own = rbac_docs(&extra)
            .into_iter()
            .find(|d| d["kind"] == "Role" && d["metadata"]["name"] == "t-trackvia-operator-self")
            .unwrap();
        let lease_rules: Vec<&serde_json::Value> = own["rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| strings(&r["resources"]).contains(&"leases"))
            .collect();
        assert_eq!(lease_rules.len(), 2, "{own}");
        for rule in lease_rules {
            match strings(&rule["verbs"]).as_slice() {
                ["get", "list", "watch", "update"] => assert_eq!(strings(&rule["resourceNames"]), [name]),
                ["create"] => assert!(rule.get("resourceNames").is_none()),
                other => panic!("unexpected Lease verbs {other:?}"),
            }
        }
        let args = strings(&deployment(&extra)["spec"]["template"]["spec"]["containers"][0]["args"])
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        assert!(args.contains(&format!("--lease-name={name}")), "{args:?}");
    }
}

fn kubectl_as(user: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(support::kubectl())
        .args(["--as", user])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        std::io::Write::write_all(&mut input, text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn allowed(user: &str, args: &[&str], stdin: Option<&str>) {
    let out = kubectl_as(user, args, stdin);
    assert!(
        out.status.success(),
        "{user} should be allowed to {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn forbidden(user: &str, args: &[&str], stdin: Option<&str>) {
    let out = kubectl_as(user, args, stdin);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("forbidden"),
        "{user} should be forbidden to {args:?}: {err}"
    );
}

/// Namespace users, impersonated (`kubectl --as`): with the `-edit` role they apply every kind,
/// request and approve a rotation and delete, in their namespace only; they read no Secret and
/// write no status. With `-view` they read the kinds and change nothing.
///
/// The test API server runs no kube-controller-manager, so it does not aggregate ClusterRoles:
/// the users' roles are bound directly (RoleBindings in one namespace), and the aggregation is
/// checked against the API server's own built-in roles: their `aggregationRule` selectors pick
/// `-edit` for edit and admin and `-view` for view (and `-edit` not for view).
#[tokio::test]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn namespace_users_apply_every_kind_and_nothing_more() {
    let (client, ns) = support::cluster("helm-users").await;
    let other = support::namespace(&client, "helm-users-other").await;
    // Release named after the namespace: the ClusterRoles are this run's own.
    let release = ns.clone();
    let roles = render_release(&release, &ns, &["--show-only", "templates/rbac-users.yaml"]);
    run(Command::new(support::kubectl())
        .args(["apply", "-f", "-"])
        .stdin({
            let path = support::repo_root().join(format!("target/test-logs/{ns}-user-roles.yaml"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &roles).unwrap();
            std::fs::File::open(path).unwrap()
        }));
    let edit_role = format!("{release}-trackvia-operator-edit");
    let view_role = format!("{release}-trackvia-operator-view");

    // The built-in roles' aggregation selectors pick the chart's roles.
    for (builtin, picks, skips) in [
        ("view", vec![&view_role], vec![&edit_role]),
        ("edit", vec![&edit_role], vec![&view_role]),
        ("admin", vec![&edit_role], vec![&view_role]),
    ] {
        let role: serde_json::Value = serde_json::from_slice(
            &run(Command::new(support::kubectl()).args(["get", "clusterrole", builtin, "-o", "json"])).stdout,
        )
        .unwrap();
        let mut selected = Vec::new();
        for selector in role["aggregationRule"]["clusterRoleSelectors"]
            .as_array()
            .unwrap()
        {
            let labels = selector["matchLabels"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
                .collect::<Vec<_>>()
                .join(",");
            let names = String::from_utf8(
                run(Command::new(support::kubectl()).args([
                    "get",
                    "clusterroles",
                    "-l",
                    &labels,
                    "-o",
                    "name",
                ]))
                .stdout,
            )
            .unwrap();
            selected.extend(names.lines().map(|l| {
                l.trim_start_matches("clusterrole.rbac.authorization.k8s.io/")
                    .to_owned()
            }));
        }
        for name in picks {
            assert!(
                selected.contains(name),
                "{builtin} does not aggregate {name}: {selected:?}"
            );
        }
        for name in skips {
            assert!(!selected.contains(name), "{builtin} aggregates {name}");
        }
    }

    for (user, role) in [("alice", &edit_role), ("bob", &view_role)] {
        run(Command::new(support::kubectl()).args([
            "create",
            "rolebinding",
            user,
            "-n",
            &ns,
            "--clusterrole",
            role,
            "--user",
            user,
        ]));
    }
    let examples = support::repo_root().join("examples").display().to_string();

    // alice (edit): every kind, a requested rotation, its approval, a deletion.
    allowed("alice", &["apply", "-n", &ns, "-f", &examples], None);
    for kind in KINDS {
        let listed = String::from_utf8(
            run(Command::new(support::kubectl()).args(["get", kind, "-n", &ns, "-o", "name"])).stdout,
        )
        .unwrap();
        assert_eq!(listed.lines().count(), 1, "{kind}: {listed}");
    }
    allowed(
        "alice",
        &["create", "-n", &ns, "-f", "-"],
        Some(
            "apiVersion: integrations.trackvia-operator.dev/v1alpha1\nkind: CredentialRotation\nmetadata: {name: salesforce-manual-2}\nspec: {integrationAccountRef: {name: salesforce}, reason: leaked}\n",
        ),
    );
    allowed(
        "alice",
        &[
            "annotate",
            "-n",
            &ns,
            "credentialrotation",
            "salesforce-manual-2",
            "integrations.trackvia-operator.dev/approved=true",
        ],
        None,
    );
    allowed(
        "alice",
        &["apply", "--server-side", "-n", &ns, "-f", &examples],
        None,
    );
    allowed(
        "alice",
        &[
            "get",
            "-n",
            &ns,
            "integrationaccount",
            "salesforce",
            "--subresource=status",
        ],
        None,
    );

    // ... and nothing more.
    forbidden("alice", &["get", "secrets", "-n", &ns], None);
    forbidden(
        "alice",
        &[
            "create",
            "secret",
            "generic",
            "x",
            "-n",
            &ns,
            "--from-literal=a=b",
        ],
        None,
    );
    forbidden("alice", &["apply", "-n", &other, "-f", &examples], None);
    forbidden("alice", &["get", "integrationaccounts", "-n", &other], None);
    forbidden("alice", &["get", "integrationaccounts", "-A"], None);
    // Status is the operator's: no status write on any kind (the objects of examples/).
    for (kind, name) in [
        ("trackviaaccount", "acme-sandbox"),
        ("workatoworkspace", "acme-dev"),
        ("integrationaccount", "salesforce"),
        ("workatoconnection", "salesforce-trackvia"),
        ("credentialrotation", "salesforce-manual-1"),
    ] {
        forbidden(
            "alice",
            &[
                "patch",
                kind,
                name,
                "-n",
                &ns,
                "--subresource=status",
                "--type=merge",
                "-p",
                r#"{"status":{"observedGeneration":1}}"#,
            ],
            None,
        );
    }
    allowed(
        "alice",
        &["delete", "-n", &ns, "workatoconnection", "salesforce-trackvia"],
        None,
    );
    forbidden(
        "alice",
        &["delete", "credentialrotations", "--all", "-n", &other],
        None,
    );
    forbidden(
        "alice",
        &[
            "create",
            "rolebinding",
            "more",
            "-n",
            &ns,
            "--clusterrole=admin",
            "--user=alice",
        ],
        None,
    );
    forbidden("alice", &["get", "leases", "-n", &ns], None);

    // bob (view): reads, and changes nothing.
    allowed(
        "bob",
        &[
            "get",
            "integrationaccounts,credentialrotations,trackviaaccounts,workatoworkspaces",
            "-n",
            &ns,
        ],
        None,
    );
    allowed(
        "bob",
        &["get", "integrationaccount", "salesforce", "-n", &ns, "-o", "yaml"],
        None,
    );
    forbidden(
        "bob",
        &[
            "apply",
            "-n",
            &ns,
            "-f",
            &format!("{examples}/workatoconnection.yaml"),
        ],
        None,
    );
    forbidden(
        "bob",
        &["create", "-n", &ns, "-f", "-"],
        Some(
            "apiVersion: integrations.trackvia-operator.dev/v1alpha1\nkind: CredentialRotation\nmetadata: {name: salesforce-manual-3}\nspec: {integrationAccountRef: {name: salesforce}}\n",
        ),
    );
    forbidden(
        "bob",
        &["delete", "integrationaccount", "salesforce", "-n", &ns],
        None,
    );
    forbidden(
        "bob",
        &[
            "annotate",
            "-n",
            &ns,
            "credentialrotation",
            "salesforce-manual-2",
            "x=y",
        ],
        None,
    );
    forbidden("bob", &["get", "secrets", "-n", &ns], None);
    forbidden("bob", &["get", "integrationaccounts", "-n", &other], None);

    let _ = Command::new(support::kubectl())
        .args(["delete", "clusterrole", &edit_role, &view_role])
        .output();
}

/// The PrometheusRule and the dashboard ConfigMap are off by default. Enabled, every alert has a
/// severity and a `runbook_url` whose anchor is a `### <alert>` section of docs/conditions.md
/// (the runbooks), the `for` durations and labels come from the values, and the ConfigMap carries
/// the sidecar label and the dashboard file as it is. (scripts/check-alerts.sh unit-tests the
/// rules with promtool on the shapes of a real scrape.)
#[test]
fn alerts_and_dashboard_render_when_enabled_with_runbooks_that_exist() {
    let by_kind = |extra: &[&str], kind: &str| -> Vec<serde_json::Value> {
        docs(extra).into_iter().filter(|d| d["kind"] == kind).collect()
    };
    assert!(by_kind(&[], "PrometheusRule").is_empty());
    assert!(
        by_kind(&[], "ConfigMap").is_empty(),
        "no dashboard ConfigMap by default"
    );

    let rule = by_kind(
        &[
            "--set",
            "prometheusRule.enabled=true",
            "--set",
            "prometheusRule.for.objectNotReady=1h",
            "--set",
            "prometheusRule.labels.release=kube-prometheus-stack",
            "--set",
            "prometheusRule.additionalAlertLabels.team=platform",
            "--set",
            "prometheusRule.runbookBaseUrl=https://example.test/runbooks.md/",
        ],
        "PrometheusRule",
    )
    .pop()
    .expect("a PrometheusRule");
    assert_eq!(rule["metadata"]["labels"]["release"], "kube-prometheus-stack");
    let runbooks = std::fs::read_to_string(support::repo_root().join("docs/conditions.md")).unwrap();
    let alerts: Vec<&serde_json::Value> = rule["spec"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert!(alerts.len() >= 8, "{alerts:?}");
    for a in &alerts {
        let name = a["alert"].as_str().unwrap();
        assert!(
            ["warning", "critical"].contains(&a["labels"]["severity"].as_str().unwrap()),
            "{name}"
        );
        assert_eq!(a["labels"]["team"], "platform", "{name}");
        assert_eq!(
            a["annotations"]["runbook_url"],
            format!("https://example.test/runbooks.md#{}", name.to_lowercase()),
            "{name}"
        );
        assert!(
            runbooks.lines().any(|l| l == format!("### {name}")),
            "docs/conditions.md has no runbook section `### {name}`"
        );
    }
    let not_ready = alerts
        .iter()
        .find(|a| a["alert"] == "TrackViaObjectNotReady")
        .unwrap();
    assert_eq!(not_ready["for"], "1h");

    let cm = by_kind(
        &[
            "--set",
            "dashboard.enabled=true",
            "--set",
            "dashboard.annotations.grafana_folder=Operators",
        ],
        "ConfigMap",
    )
    .pop()
    .expect("the dashboard ConfigMap");
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(cm["metadata"]["annotations"]["grafana_folder"], "Operators");
    let file = std::fs::read_to_string(
        support::repo_root().join("charts/trackvia-operator/files/dashboards/trackvia-operator.json"),
    )
    .unwrap();
    assert_eq!(
        cm["data"]["trackvia-operator.json"].as_str().unwrap(),
        file.trim_end()
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(cm["data"]["trackvia-operator.json"].as_str().unwrap()).unwrap();
    assert_eq!(dashboard["uid"], "trackvia-operator");
}

/// The ServiceMonitor keeps the per-object series' own `namespace` label (`honorLabels`), which
/// the alerts and the dashboard group by; without it Prometheus renames it `exported_namespace`
/// and every object of one name in any namespace would be one series.
#[test]
fn the_service_monitor_keeps_the_objects_namespace_label() {
    let sm = docs(&["--set", "metrics.serviceMonitor.enabled=true"])
        .into_iter()
        .find(|d| d["kind"] == "ServiceMonitor")
        .expect("a ServiceMonitor");
    assert_eq!(sm["spec"]["endpoints"][0]["honorLabels"], true);
}
