//! Bad input (`make fault-test`, also in `make test`): objects the CRD schema accepts but that are
//! wrong in context: references to missing objects or to objects of another namespace, a Secret
//! with the wrong keys, a token of the other environment, a Workato connection id that does not
//! exist. Each must end in a clear condition, with no crash and no hot loop: the reconciles of the
//! object's controller and the vendor calls over a 20 s window stay under a stated bound.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)] // test code: failing loudly is the point; the test prints its table

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Client;
use kube::api::Api;
use serde_json::json;
use support::chaos::{Supervised, metric_sum};
use support::operator::Emulators;
use trackvia_operator::api::{
    CredentialRotation, IntegrationAccount, TrackViaAccount, WorkatoConnection, WorkatoWorkspace,
};

/// How long each case is watched once its condition is reached.
const WINDOW: Duration = Duration::from_secs(20);
/// At most this many reconciles of the case's controller in the window (0.5/s). A requeue after an
/// error is 15 s and the test intervals are short (user poll 1 s, workspace check 5 s), so a calm
/// object is reconciled a few times at most; a hot loop would be hundreds.
const MAX_RECONCILES: f64 = 10.0;
/// At most this many vendor calls in the window (both emulators; 0.75/s).
const MAX_VENDOR_CALLS: usize = 15;
const REACH: Duration = Duration::from_secs(60);

const SEED: &str = r#"
trackvia:
  accounts:
    - id: 21508
      name: ACME Sandbox
      environment: sandbox
      apiKey: sbx-api-key-0001
      apps: [{id: 1, name: CRM}]
      views: [{id: 10, name: Accounts, app: CRM}]
      roles:
        - {name: Super Admin, admin: true}
        - {name: Salesforce Integration, apps: [CRM], views: [Accounts]}
      users:
        - {id: 1, email: admin@acme.example, firstName: Ada, lastName: Admin, status: Active, apiUser: true, role: Super Admin}
        - {id: 2, email: salesforce.integration@acme.example, firstName: Salesforce, lastName: Integration, status: Active, apiUser: true, role: Salesforce Integration}
      tokens:
        - {id: 1, value: sbx-admin-token-0001, user: 1, name: operator, expiresAt: "2030-01-01T00:00:00Z"}
        - {id: 2, value: sf-sandbox-token-0001, user: 2, name: sf, expiresAt: "2030-01-01T00:00:00Z"}
    - id: 31000
      name: ACME
      environment: production
      apiKey: prod-api-key-0001
      apps: [{id: 1, name: CRM}]
      views: [{id: 10, name: Accounts, app: CRM}]
      roles:
        - {name: Super Admin, admin: true}
        - {name: Salesforce Integration, apps: [CRM], views: [Accounts]}
      users:
        - {id: 1, email: admin@acme.example, firstName: Ada, lastName: Admin, status: Active, apiUser: true, role: Super Admin}
        - {id: 2, email: salesforce.integration@acme.example, firstName: Salesforce, lastName: Integration, status: Active, apiUser: true, role: Salesforce Integration}
      tokens:
        - {id: 1, value: prod-admin-token-0001, user: 1, name: operator, expiresAt: "2030-01-01T00:00:00Z"}
        - {id: 2, value: sf-prod-token-0001, user: 2, name: sf, expiresAt: "2030-01-01T00:00:00Z"}
workato:
  workspaces:
    - id: acme-dev
      environment: sandbox
      apiTokens: [wk-dev-token-0001]
      connections:
        - {id: 100, name: TV 1, provider: trackvia}
      recipes:
        - {id: 1001, name: Recipe 1, running: true, connections: [100]}
"#;

const API: &str = "integrations.trackvia-operator.dev/v1alpha1";

/// The wrong object of a case and what it must end in.
struct Case {
    name: &'static str,
    /// The controller (metrics label) and the object.
    kind: &'static str,
    object: &'static str,
    /// Condition type and reason expected (`Phase` for a rotation's phase, reason = outcome).
    condition: &'static str,
    reason: &'static str,
    /// The message must name these.
    mentions: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "IntegrationAccount -> missing TrackViaAccount",
        kind: "IntegrationAccount",
        object: "sf",
        condition: "UserVerified",
        reason: "AccountNotFound",
        mentions: &["nope"],
    },
    Case {
        name: "IntegrationAccount -> TrackViaAccount of another namespace",
        kind: "IntegrationAccount",
        object: "sf",
        condition: "UserVerified",
        reason: "AccountNotFound",
        mentions: &["elsewhere", "this namespace"],
    },
    Case {
        name: "TrackViaAccount admin Secret with the wrong keys",
        kind: "TrackViaAccount",
        object: "acme",
        condition: "CredentialsValid",
        reason: "SecretKeyMissing",
        mentions: &["tv-admin", "apiKey"],
    },
    Case {
        name: "IntegrationAccount token Secret with the wrong key",
        kind: "IntegrationAccount",
        object: "sf",
        condition: "TokenProvided",
        reason: "TokenKeyMissing",
        mentions: &["sf-token", "token"],
    },
    Case {
        name: "token of the other environment",
        kind: "IntegrationAccount",
        object: "sf",
        condition: "TokenValid",
        reason: "WrongEnvironment",
        mentions: &["production", "acme-prod"],
    },
    Case {
        name: "WorkatoWorkspace token Secret missing",
        kind: "WorkatoWorkspace",
        object: "dev",
        condition: "CredentialsValid",
        reason: "SecretMissing",
        mentions: &["wk-absent"],
    },
    Case {
        name: "WorkatoConnection -> missing WorkatoWorkspace",
        kind: "WorkatoConnection",
        object: "conn",
        condition: "EnvironmentMatched",
        reason: "ReferenceNotFound",
        mentions: &["nope"],
    },
    Case {
        name: "WorkatoConnection id that does not exist",
        kind: "WorkatoConnection",
        object: "conn",
        condition: "ConnectionFound",
        reason: "ConnectionNotFound",
        mentions: &["999999"],
    },
    Case {
        name: "CredentialRotation -> missing IntegrationAccount",
        kind: "CredentialRotation",
        object: "rot",
        condition: "Phase",
        reason: "IntegrationAccountNotFound",
        mentions: &["nope", "this namespace"],
    },
];

/// What a case ended in.
struct Outcome {
    condition: String,
    reached: bool,
    reconciles: f64,
    errors: f64,
    vendor_calls: usize,
    alive: bool,
    panicked: bool,
    took: Duration,
}

async fn secret(client: &Client, ns: &str, name: &str, data: &[(&str, &str)]) {
    Api::<Secret>::namespaced(client.clone(), ns)
        .create(&Default::default(), &support::secret(name, data, &[]))
        .await
        .unwrap();
}

async fn account(client: &Client, ns: &str, emu: &Emulators, name: &str, env: &str, secret_name: &str) {
    support::create::<TrackViaAccount>(client, ns, json!({
        "apiVersion": API, "kind": "TrackViaAccount", "metadata": {"name": name},
        "spec": {"baseUrl": emu.trackvia(), "environment": env,
                 "adminCredentials": {"apiKey": {"name": secret_name, "key": "apiKey"}, "authToken": {"name": secret_name, "key": "authToken"}}}
    })).await;
}

async fn integration(client: &Client, ns: &str, account_ref: &str, token_secret: &str) {
    support::create::<IntegrationAccount>(client, ns, json!({
        "apiVersion": API, "kind": "IntegrationAccount", "metadata": {"name": "sf"},
        "spec": {"accountRef": {"name": account_ref}, "system": "Salesforce", "email": "salesforce.integration@acme.example",
                 "tokenSecretRef": {"name": token_secret, "key": "token"}, "credentialsSecret": {"name": "sf-credentials"}}
    })).await;
}

async fn workspace(client: &Client, ns: &str, emu: &Emulators, secret_name: &str) {
    support::create::<WorkatoWorkspace>(client, ns, json!({
        "apiVersion": API, "kind": "WorkatoWorkspace", "metadata": {"name": "dev"},
        "spec": {"baseUrl": emu.workato(), "environment": "sandbox", "apiToken": {"name": secret_name, "key": "token"}}
    })).await;
}

/// A working sandbox account, workspace and IntegrationAccount (for the cases about what builds
/// on them).
async fn good_base(client: &Client, ns: &str, emu: &Emulators) {
    secret(
        client,
        ns,
        "tv-admin",
        &[
            ("apiKey", "sbx-api-key-0001"),
            ("authToken", "sbx-admin-token-0001"),
        ],
    )
    .await;
    secret(client, ns, "wk-dev", &[("token", "wk-dev-token-0001")]).await;
    secret(client, ns, "sf-token", &[("token", "sf-sandbox-token-0001")]).await;
    account(client, ns, emu, "acme", "sandbox", "tv-admin").await;
    workspace(client, ns, emu, "wk-dev").await;
    integration(client, ns, "acme", "sf-token").await;
}

/// Creates the case's objects in `ns` (`other` is a second namespace for cross-namespace cases).
async fn arrange(i: usize, client: &Client, ns: &str, other: &str, emu: &Emulators) {
    match i {
        0 => {
            secret(client, ns, "sf-token", &[("token", "sf-sandbox-token-0001")]).await;
            integration(client, ns, "nope", "sf-token").await;
        }
        1 => {
            // The account exists, but in another namespace: references are namespace-local.
            secret(
                client,
                other,
                "tv-admin",
                &[
                    ("apiKey", "sbx-api-key-0001"),
                    ("authToken", "sbx-admin-token-0001"),
                ],
            )
            .await;
            account(client, other, emu, "elsewhere", "sandbox", "tv-admin").await;
            secret(client, ns, "sf-token", &[("token", "sf-sandbox-token-0001")]).await;
            integration(client, ns, "elsewhere", "sf-token").await;
        }
        2 => {
            secret(
                client,
                ns,
                "tv-admin",
                &[("api-key", "sbx-api-key-0001"), ("token", "sbx-admin-token-0001")],
            )
            .await;
            account(client, ns, emu, "acme", "sandbox", "tv-admin").await;
        }
        3 => {
            secret(
                client,
                ns,
                "tv-admin",
                &[
                    ("apiKey", "sbx-api-key-0001"),
                    ("authToken", "sbx-admin-token-0001"),
                ],
            )
            .await;
            account(client, ns, emu, "acme", "sandbox", "tv-admin").await;
            secret(client, ns, "sf-token", &[("value", "sf-sandbox-token-0001")]).await;
            integration(client, ns, "acme", "sf-token").await;
        }
        4 => {
            secret(
                client,
                ns,
                "tv-admin",
                &[
                    ("apiKey", "sbx-api-key-0001"),
                    ("authToken", "sbx-admin-token-0001"),
                ],
            )
            .await;
            secret(
                client,
                ns,
                "tv-prod-admin",
                &[
                    ("apiKey", "prod-api-key-0001"),
                    ("authToken", "prod-admin-token-0001"),
                ],
            )
            .await;
            account(client, ns, emu, "acme", "sandbox", "tv-admin").await;
            account(client, ns, emu, "acme-prod", "production", "tv-prod-admin").await;
            secret(client, ns, "sf-token", &[("token", "sf-prod-token-0001")]).await;
            integration(client, ns, "acme", "sf-token").await;
        }
        5 => workspace(client, ns, emu, "wk-absent").await,
        6 | 7 => {
            good_base(client, ns, emu).await;
            let (ws, conn) = if i == 6 { ("nope", 100) } else { ("dev", 999_999) };
            support::create::<WorkatoConnection>(client, ns, json!({
                "apiVersion": API, "kind": "WorkatoConnection", "metadata": {"name": "conn"},
                "spec": {"workspaceRef": {"name": ws}, "integrationAccountRef": {"name": "sf"}, "connection": {"id": conn}}
            })).await;
        }
        8 => {
            support::create::<CredentialRotation>(
                client,
                ns,
                json!({
                    "apiVersion": API, "kind": "CredentialRotation", "metadata": {"name": "rot"},
                    "spec": {"integrationAccountRef": {"name": "nope"}, "strategy": "StopAndRestart"}
                }),
            )
            .await;
        }
        _ => unreachable!(),
    }
}

/// The object's conditions (a rotation's phase and outcome appear as a `Phase` condition).
async fn conditions(client: &Client, ns: &str, kind: &str, name: &str) -> Vec<Condition> {
    fn conds<
        K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    >(
        client: &Client,
        ns: &str,
    ) -> Api<K> {
        Api::namespaced(client.clone(), ns)
    }
    let r = match kind {
        "IntegrationAccount" => conds::<IntegrationAccount>(client, ns)
            .get_opt(name)
            .await
            .ok()
            .flatten()
            .and_then(|o| o.status)
            .map(|s| s.common.conditions),
        "TrackViaAccount" => conds::<TrackViaAccount>(client, ns)
            .get_opt(name)
            .await
            .ok()
            .flatten()
            .and_then(|o| o.status)
            .map(|s| s.common.conditions),
        "WorkatoWorkspace" => conds::<WorkatoWorkspace>(client, ns)
            .get_opt(name)
            .await
            .ok()
            .flatten()
            .and_then(|o| o.status)
            .map(|s| s.common.conditions),
        "WorkatoConnection" => conds::<WorkatoConnection>(client, ns)
            .get_opt(name)
            .await
            .ok()
            .flatten()
            .and_then(|o| o.status)
            .map(|s| s.common.conditions),
        "CredentialRotation" => conds::<CredentialRotation>(client, ns)
            .get_opt(name)
            .await
            .ok()
            .flatten()
            .and_then(|o| o.status)
            .map(|s| {
                let mut c = s.common.conditions.clone();
                c.push(Condition {
                    type_: "Phase".into(),
                    status: s.phase.map(|p| p.to_string()).unwrap_or_default(),
                    reason: s.outcome.map(|o| o.to_string()).unwrap_or_default(),
                    message: s.plan_summary.clone().unwrap_or_default(),
                    last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                        jiff::Timestamp::now(),
                    ),
                    observed_generation: None,
                });
                c
            }),
        _ => None,
    };
    r.unwrap_or_default()
}

async fn run_case(i: usize, client: Client) -> Outcome {
    let case = &CASES[i];
    let started = Instant::now();
    let ns = support::namespace(&client, &format!("bad{i}")).await;
    let other = support::namespace(&client, &format!("bad{i}-other")).await;
    let emu = Emulators::start(SEED).await;
    arrange(i, &client, &ns, &other, &emu).await;
    let mut op = Supervised::start(&ns, &format!("{ns}-operator"), &[]);
    let mut reached = None;
    while started.elapsed() < REACH {
        let conds = conditions(&client, &ns, case.kind, case.object).await;
        if let Some(c) = conds
            .iter()
            .find(|c| c.type_ == case.condition && c.reason == case.reason)
        {
            reached = Some(c.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let Some(found) = reached else {
        let conds = conditions(&client, &ns, case.kind, case.object).await;
        return Outcome {
            condition: format!(
                "NOT REACHED; conditions: {}",
                conds
                    .iter()
                    .map(|c| format!("{}={} {}: {}", c.type_, c.status, c.reason, c.message))
                    .collect::<Vec<_>>()
                    .join(" | ")
            ),
            reached: false,
            reconciles: 0.0,
            errors: 0.0,
            vendor_calls: 0,
            alive: op.exited().is_none(),
            panicked: op.log_text().contains("panicked"),
            took: started.elapsed(),
        };
    };
    // Let the reconcile that wrote it finish, then watch the window.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let label = format!("controller=\"{}\"", case.kind);
    let m0 = op.metrics().await.unwrap_or_default();
    emu.reset_calls().await;
    tokio::time::sleep(WINDOW).await;
    let m1 = op.metrics().await.unwrap_or_default();
    let vendor_calls = emu.calls().await.len();
    let delta = |name: &str| metric_sum(&m1, name, &[&label]) - metric_sum(&m0, name, &[&label]);
    let reconciles = delta("trackvia_operator_reconciles_total");
    let errors = delta("trackvia_operator_reconcile_errors_total");
    // The condition still says the same.
    let now = conditions(&client, &ns, case.kind, case.object).await;
    let still = now
        .iter()
        .find(|c| c.type_ == case.condition)
        .map(|c| c.reason == case.reason)
        .unwrap_or(false);
    let alive = op.exited().is_none();
    let panicked = op.log_text().contains("panicked");
    op.kill();
    let mentions = case.mentions.iter().all(|m| found.message.contains(m));
    Outcome {
        condition: format!(
            "{}={} {}: {}{}{}",
            found.type_,
            found.status,
            found.reason,
            found.message,
            if mentions {
                ""
            } else {
                "  [MESSAGE DOES NOT NAME THE PROBLEM]"
            },
            if still {
                ""
            } else {
                "  [CHANGED DURING THE WINDOW]"
            }
        ),
        // Metrics that could not be read would look like a calm object.
        reached: mentions && still && !m0.is_empty() && !m1.is_empty(),
        reconciles,
        errors,
        vendor_calls,
        alive,
        panicked,
        took: started.elapsed(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulators serve while the test blocks
#[ignore = "needs a kube-apiserver: run `make test` or `make fault-test`"]
async fn wrong_input_ends_in_a_clear_condition_without_a_crash_or_a_hot_loop() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let start = Instant::now();
    // Every case at once, each with its own namespace, emulators and operator: one window of time.
    let outcomes = futures::future::join_all((0..CASES.len()).map(|i| {
        let client = client.clone();
        tokio::spawn(run_case(i, client))
    }))
    .await;
    let mut table = format!(
        "\n== bad input: each case watched {} s after its condition; bounds: reconciles of the controller <= {MAX_RECONCILES}, vendor calls <= {MAX_VENDOR_CALLS} ==\n| case | final condition | reconciles / {} s (errors) | vendor calls / {} s | operator alive |\n|---|---|---|---|---|\n",
        WINDOW.as_secs(),
        WINDOW.as_secs(),
        WINDOW.as_secs()
    );
    let mut failures = Vec::new();
    for (case, outcome) in CASES.iter().zip(outcomes) {
        let o = outcome.expect("case task");
        table.push_str(&format!(
            "| {} | {} | {} ({}) | {} | {} |\n",
            case.name,
            o.condition.replace('|', "/"),
            o.reconciles,
            o.errors,
            o.vendor_calls,
            if o.alive && !o.panicked { "yes" } else { "NO" }
        ));
        let good = o.reached
            && o.alive
            && !o.panicked
            && o.reconciles <= MAX_RECONCILES
            && o.vendor_calls <= MAX_VENDOR_CALLS;
        if !good {
            failures.push(format!("{}: {} ({:?})", case.name, o.condition, o.took));
        }
    }
    table.push_str(&format!(
        "| all cases, wall time | {:.0} s | | | |\n",
        start.elapsed().as_secs_f64()
    ));
    println!("{table}");
    let _ = std::fs::write(support::repo_root().join("target/bad-input.txt"), &table);
    assert!(
        failures.is_empty(),
        "bad-input cases failed:\n{}",
        failures.join("\n")
    );
}
