//! Idle cost: external calls per hour once everything is Ready. The operator runs with every
//! periodic interval divided by 60 (account check 10 s, workspace check 5 s, token check 15 s),
//! so one minute of the run stands for one hour at the defaults.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::Client;
use serde_json::Value;

use super::harness::{self, OperatorProcess};
use super::support;
use super::support::operator::Emulators;

/// One population.
#[derive(Clone, Copy)]
pub struct Case {
    pub accounts: usize,
    pub workspaces: usize,
    pub integrations: usize,
    pub connections_per_integration: usize,
    pub recipes_per_connection: usize,
}

impl Case {
    pub fn connections(&self) -> usize {
        self.integrations * self.connections_per_integration
    }
    pub fn recipes(&self) -> usize {
        self.connections() * self.recipes_per_connection
    }
}

/// Calls in the measured hour.
pub struct Outcome {
    pub case: Case,
    pub trackvia: usize,
    pub workato: usize,
    pub by_route: BTreeMap<String, usize>,
}

const SCALE: u64 = 60;
const ACCOUNT_BASE: i64 = 40000;

fn seed(c: &Case) -> String {
    let mut out = String::from("trackvia:\n  accounts:\n");
    for a in 0..c.accounts {
        out.push_str(&format!(
            r#"    - id: {id}
      name: Idle {a}
      environment: sandbox
      apiKey: idle-key-{a:04}
      apps: [{{id: 1, name: CRM}}]
      views: [{{id: 10, name: Accounts, app: CRM}}]
      roles:
        - {{name: Super Admin, admin: true}}
        - {{name: Integration, apps: [CRM], views: [Accounts]}}
      users:
        - {{id: 1, email: admin@idle.example, firstName: Ada, lastName: Admin, status: Active, apiUser: true, role: Super Admin}}
"#,
            id = ACCOUNT_BASE + a as i64
        ));
        for i in (a..c.integrations).step_by(c.accounts) {
            out.push_str(&format!(
                "        - {{id: {}, email: sys{i}.integration@idle.example, firstName: Sys{i}, lastName: Integration, status: Active, apiUser: true, role: Integration}}\n",
                i + 2
            ));
        }
        out.push_str(&format!(
            "      tokens:\n        - {{id: 1, value: idle-admin-{a:04}-token, user: 1, name: operator, expiresAt: \"2030-01-01T00:00:00Z\"}}\n"
        ));
        for i in (a..c.integrations).step_by(c.accounts) {
            out.push_str(&format!(
                "        - {{id: {}, value: idle-token-{i:06}, user: {}, name: sys{i}, expiresAt: \"2030-01-01T00:00:00Z\"}}\n",
                i + 2,
                i + 2
            ));
        }
    }
    out.push_str("workato:\n  workspaces:\n");
    for w in 0..c.workspaces {
        let mut connections = String::new();
        let mut recipes = String::new();
        for k in (w..c.connections()).step_by(c.workspaces) {
            connections.push_str(&format!(
                "        - {{id: {}, name: TV {k}, provider: trackvia}}\n",
                100 + k
            ));
            for r in 0..c.recipes_per_connection {
                recipes.push_str(&format!(
                    "        - {{id: {}, name: Recipe {k}-{r}, running: true, connections: [{}]}}\n",
                    10_000 + k * c.recipes_per_connection + r,
                    100 + k
                ));
            }
        }
        let recipes = if recipes.is_empty() {
            " []\n".to_owned()
        } else {
            format!("\n{recipes}")
        };
        out.push_str(&format!(
            "    - id: ws{w}\n      environment: sandbox\n      apiTokens: [idle-wk-{w:04}-token]\n      connections:\n{connections}      recipes:{recipes}"
        ));
    }
    out
}

fn objects(c: &Case, emu: &Emulators) -> Vec<Value> {
    harness::Population {
        prefix: "idle",
        accounts: c.accounts,
        workspaces: c.workspaces,
        integrations: c.integrations,
        per_integration: c.connections_per_integration,
        first_connection: 100,
    }
    .objects(&emu.trackvia(), &emu.workato())
}

/// Runs one population: setup, all Ready, then one scaled hour of idling.
pub async fn run(client: &Client, case: Case) -> Outcome {
    let emu = Emulators::start(&seed(&case)).await;
    let ns = support::namespace(client, "bench-idle").await;
    let intervals = [
        ("--account-check-interval", 600 / SCALE),
        ("--workspace-check-interval", 300 / SCALE),
        ("--token-check-interval", 900 / SCALE),
        ("--user-poll-interval", 60 / SCALE),
        ("--user-recheck-interval", 300 / SCALE),
    ];
    let args: Vec<String> = intervals
        .iter()
        .flat_map(|(k, v)| [(*k).to_owned(), format!("{v}s")])
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let op = OperatorProcess::start(&ns, &args);
    op.wait_ready().await;
    harness::create_all(client, &ns, &objects(&case, &emu), 16).await;
    let timeout = Duration::from_secs(120 + 2 * case.connections() as u64);
    harness::wait_all_ready(client, &op, &ns, case.integrations, case.connections(), timeout).await;
    // One full cycle of every check first, so the hour measured is a steady one.
    tokio::time::sleep(Duration::from_secs(900 / SCALE + 2)).await;
    emu.reset_calls().await;
    tokio::time::sleep(Duration::from_secs(3600 / SCALE)).await;
    let calls = emu.calls().await;
    let mut by_route = BTreeMap::new();
    for c in &calls {
        *by_route
            .entry(format!(
                "{} {}",
                c["service"].as_str().unwrap_or_default(),
                c["route"].as_str().unwrap_or_default()
            ))
            .or_default() += 1;
    }
    let count = |s: &str| calls.iter().filter(|c| c["service"] == s).count();
    let out = Outcome {
        case,
        trackvia: count("trackvia"),
        workato: count("workato"),
        by_route,
    };
    drop(op);
    emu.running.shutdown().await;
    out
}
