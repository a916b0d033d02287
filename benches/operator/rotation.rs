//! Rotation against the physical limit: one IntegrationAccount, C connections in one workspace,
//! R running recipes spread over them. The bench plays the person (it places the new token the
//! moment the rotation asks for it) and reads the emulator's call log for what Workato saw.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use trackvia_operator::api::CredentialRotation;

use super::harness::{self, GROUP, OperatorProcess};
use super::support;
use super::support::operator::Emulators;

const ACCOUNT: i64 = 21508;
/// Workato's documented limits (docs/vendors.md#workato-rate-limits): recipe calls per window,
/// connection writes per second.
const RECIPE_LIMIT: usize = 60;
const RECIPE_WINDOW: f64 = 60.0;
const CONNECTION_INTERVAL: f64 = 1.0;

/// One case of the table.
#[derive(Clone, Copy)]
pub struct Case {
    pub connections: usize,
    pub recipes: usize,
    pub strategy: &'static str,
}

/// What one rotation measured.
pub struct Outcome {
    pub case: Case,
    pub wall: f64,
    pub wall_bound: f64,
    pub person: f64,
    /// Per recipe (stop -> start): max and mean; whole account (first stop -> last start).
    pub downtime_max: f64,
    pub downtime_mean: f64,
    pub downtime_account: f64,
    pub downtime_bound: f64,
    pub workato_calls: usize,
    pub received_429: usize,
    pub stops_twice: usize,
    pub phase: String,
}

fn seed(c: &Case) -> String {
    let mut connections = String::new();
    for i in 0..c.connections {
        connections.push_str(&format!(
            "        - {{id: {}, name: TV {i}, provider: trackvia}}\n",
            100 + i
        ));
    }
    let mut recipes = String::new();
    for i in 0..c.recipes {
        recipes.push_str(&format!(
            "        - {{id: {}, name: Recipe {i}, running: true, connections: [{}]}}\n",
            1000 + i,
            100 + i % c.connections
        ));
    }
    format!(
        r#"
trackvia:
  accounts:
    - id: {ACCOUNT}
      name: Bench
      environment: sandbox
      apiKey: bench-api-key-0001
      apps: [{{id: 1, name: CRM}}]
      views: [{{id: 10, name: Accounts, app: CRM}}]
      roles:
        - {{name: Super Admin, admin: true}}
        - {{name: Integration, apps: [CRM], views: [Accounts]}}
      users:
        - {{id: 1, email: admin@bench.example, firstName: Ada, lastName: Admin, status: Active, apiUser: true, role: Super Admin}}
        - {{id: 2, email: sf.integration@bench.example, firstName: Salesforce, lastName: Integration, status: Active, apiUser: true, role: Integration}}
      tokens:
        - {{id: 1, value: bench-admin-token-0001, user: 1, name: operator, expiresAt: "2030-01-01T00:00:00Z"}}
        - {{id: 2, value: bench-old-token-0001, user: 2, name: sf-1, expiresAt: "2030-01-01T00:00:00Z"}}
workato:
  workspaces:
    - id: bench
      environment: sandbox
      apiTokens: [bench-wk-token-0001]
      connections:
{connections}      recipes:
{recipes}"#
    )
}

/// Runs one rotation and measures it.
pub async fn run(client: &Client, case: Case) -> Outcome {
    let emu = Emulators::start(&seed(&case)).await;
    let ns = support::namespace(client, "bench-rot").await;
    let op = OperatorProcess::start(&ns, &["--revocation-probe-interval", "1s"]);
    op.wait_ready().await;

    let mut objects = harness::account(
        "bench",
        &emu.trackvia(),
        "bench-api-key-0001",
        "bench-admin-token-0001",
    );
    objects.extend(harness::workspace("bench", &emu.workato(), "bench-wk-token-0001"));
    objects.extend(harness::integration(
        "sf",
        "bench",
        "Salesforce",
        "sf.integration@bench.example",
        "bench-old-token-0001",
    ));
    for i in 0..case.connections {
        objects.push(harness::connection(
            &format!("conn-{i:02}"),
            "bench",
            "sf",
            100 + i as i64,
        ));
    }
    harness::create_all(client, &ns, &objects, 8).await;
    let setup = Duration::from_secs(60 + 2 * case.connections as u64);
    harness::wait_all_ready(client, &op, &ns, 1, case.connections, setup).await;
    // A rotation rarely follows the setup within a minute: let the budgets' windows empty, so
    // the figures are the rotation's own.
    tokio::time::sleep(Duration::from_secs(62)).await;
    emu.reset_calls().await;

    let rots: Api<CredentialRotation> = Api::namespaced(client.clone(), &ns);
    let start = Instant::now();
    let mut person = Duration::ZERO;
    let stop_and_restart = case.strategy == "StopAndRestart";
    if stop_and_restart {
        let rot = json!({"apiVersion": GROUP, "kind": "CredentialRotation", "metadata": {"name": "bench"},
                         "spec": {"integrationAccountRef": {"name": "sf"}, "strategy": "StopAndRestart"}});
        harness::create_all(client, &ns, &[rot], 1).await;
    } else {
        // Overlap: the person created a second token; placing it starts the rotation.
        let token = emu
            .create_token(ACCOUNT, "sf.integration@bench.example", "2031-01-01T00:00:00Z")
            .await;
        put_token(client, &ns, &token).await;
    }
    let mut placed = false;
    let phase = loop {
        let list = rots.list(&Default::default()).await.unwrap();
        let phase = list
            .items
            .first()
            .and_then(|r| r.status.as_ref())
            .and_then(|s| s.phase)
            .map(|p| p.to_string())
            .unwrap_or_default();
        if stop_and_restart && phase == "WaitingForToken" && !placed {
            // The person regenerates the token in place: the old one stops working.
            let t = Instant::now();
            emu.control(
                &format!("trackvia/accounts/{ACCOUNT}/tokens/2/deactivate"),
                json!({}),
            )
            .await;
            let token = emu
                .create_token(ACCOUNT, "sf.integration@bench.example", "2031-01-01T00:00:00Z")
                .await;
            put_token(client, &ns, &token).await;
            person = t.elapsed();
            placed = true;
        }
        let done = if stop_and_restart {
            matches!(phase.as_str(), "Succeeded" | "Failed" | "Aborted")
        } else {
            matches!(phase.as_str(), "AwaitingRevocation" | "Succeeded" | "Failed")
        };
        if done {
            break phase;
        }
        assert!(
            start.elapsed() < Duration::from_secs(900),
            "rotation stuck in {phase}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let wall = start.elapsed().as_secs_f64();

    let calls = emu.calls().await;
    let workato: Vec<&Value> = calls.iter().filter(|c| c["service"] == "workato").collect();
    let at = |c: &Value| {
        c["at"]
            .as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map(|t| t.as_millisecond() as f64 / 1000.0)
            .unwrap()
    };
    let mut stops: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut starts: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for c in &workato {
        let path = c["path"].as_str().unwrap_or_default();
        if c["status"] != 200 {
            continue;
        }
        if c["route"] == "PUT /api/recipes/{id}/stop" {
            stops
                .entry(path.trim_end_matches("/stop").to_owned())
                .or_default()
                .push(at(c));
        } else if c["route"] == "PUT /api/recipes/{id}/start" {
            starts
                .entry(path.trim_end_matches("/start").to_owned())
                .or_default()
                .push(at(c));
        }
    }
    let stops_twice = stops
        .values()
        .chain(starts.values())
        .filter(|v| v.len() > 1)
        .count();
    let downtimes: Vec<f64> = stops
        .iter()
        .filter_map(|(id, s)| Some(starts.get(id)?.first()? - s.first()?))
        .collect();
    let first_stop = stops
        .values()
        .filter_map(|v| v.first())
        .cloned()
        .fold(f64::MAX, f64::min);
    let last_start = starts
        .values()
        .filter_map(|v| v.last())
        .cloned()
        .fold(0.0, f64::max);
    let (downtime_max, downtime_mean, downtime_account) = if downtimes.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (
            downtimes.iter().cloned().fold(0.0, f64::max),
            downtimes.iter().sum::<f64>() / downtimes.len() as f64,
            last_start - first_stop,
        )
    };
    let out = Outcome {
        case,
        wall,
        wall_bound: wall_bound(&case),
        person: person.as_secs_f64(),
        downtime_max,
        downtime_mean,
        downtime_account,
        downtime_bound: downtime_bound(&case),
        workato_calls: workato.len(),
        received_429: workato.iter().filter(|c| c["status"] == 429).count(),
        stops_twice,
        phase,
    };
    drop(op);
    emu.running.shutdown().await;
    out
}

async fn put_token(client: &Client, ns: &str, token: &str) {
    let patch = json!({"stringData": {"token": token}});
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), ns)
        .patch("sf-token", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

/// The shortest possible wall time under the documented limits, read as "at most N calls in any
/// window" (the reading the operator's budget uses), with zero overhead for everything else:
/// the calls the protocol needs, each as early as the limits and the order allow.
/// StopAndRestart: one recipe listing (which recipes run), R stops, C connection updates, R
/// starts. Overlap: C connection updates.
pub fn wall_bound(c: &Case) -> f64 {
    if c.strategy != "StopAndRestart" {
        return (c.connections.saturating_sub(1)) as f64 * CONNECTION_INTERVAL;
    }
    let mut recipe_calls: Vec<f64> = Vec::new();
    let mut recipe_call = |not_before: f64| {
        let mut t = not_before.max(recipe_calls.last().copied().unwrap_or(0.0));
        if recipe_calls.len() >= RECIPE_LIMIT {
            t = t.max(recipe_calls[recipe_calls.len() - RECIPE_LIMIT] + RECIPE_WINDOW);
        }
        recipe_calls.push(t);
        t
    };
    let mut t = recipe_call(0.0); // the listing
    for _ in 0..c.recipes {
        t = recipe_call(t);
    }
    t += (c.connections.saturating_sub(1)) as f64 * CONNECTION_INTERVAL;
    for _ in 0..c.recipes {
        t = recipe_call(t);
    }
    t
}

/// The least time the most affected recipe must be stopped: every recipe is stopped across all
/// C connection updates, and of any R consecutive recipe calls (a recipe's stop, the R - 1 stops
/// and starts between, its start) the budget lets at most 60 through per minute.
pub fn downtime_bound(c: &Case) -> f64 {
    if c.strategy != "StopAndRestart" {
        return 0.0;
    }
    let by_connections = (c.connections.saturating_sub(1)) as f64 * CONNECTION_INTERVAL;
    let by_recipes = (c.recipes / RECIPE_LIMIT) as f64 * RECIPE_WINDOW;
    by_connections.max(by_recipes)
}
