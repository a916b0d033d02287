//! Bad input (`make fault-test`, also in `make test`): objects the CRD schema accepts but that are
//! wrong in context: references to missing objects or to objects of another namespace, a Secret
//! with the wrong keys, a token of the other environment, a Workato connection id that does not
//! exist. Each must end in a clear condition, with no crash and no hot loop: the reconciles of the
//! object's controller and the vendor calls over a 20 s window stay under a stated bound.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)] // test code: failing loudly is the point; the test prints its table

#[path = "../support/mod.rs"]
mod support;

mod arrange;
mod observe;

use std::time::{Duration, Instant};

use observe::run_case;

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
