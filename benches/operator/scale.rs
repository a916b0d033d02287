//! Scale: N IntegrationAccounts and N WorkatoConnections in W workspaces (and A TrackVia
//! accounts), from apply to all Ready, next to what `kubectl apply` alone takes; the operator's
//! peak RSS; then the cost of a reconcile that changes nothing.

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use trackvia_operator::api::{IntegrationAccount, WorkatoConnection};

use super::harness::{self, OperatorProcess};
use super::support;
use super::support::operator::Emulators;
use trackvia_emulator::Seed;

/// One population.
#[derive(Clone, Copy)]
pub struct Case {
    pub integrations: usize,
    pub workspaces: usize,
    pub accounts: usize,
    /// Apply with `kubectl apply` (else create through the API, 32 at a time). Either way, the
    /// same objects are first put into a namespace no operator watches, and timed.
    pub compare_kubectl: bool,
}

/// What one population measured.
pub struct Outcome {
    pub case: Case,
    pub objects: usize,
    pub kubectl: Option<Duration>,
    pub apply: Duration,
    pub ready: Duration,
    pub connection_bound: f64,
    pub trackvia_bound: f64,
    pub rss_ready: f64,
    /// RSS 30 s after all Ready: what the burst left behind.
    pub rss_settled: f64,
    pub rss_peak: f64,
    pub cpu_secs: f64,
    pub external_calls: f64,
    pub received_429: f64,
    pub noop: Option<Noop>,
    /// The operator's indispensable writes replayed alone (see [`floor`]).
    pub floor: Floor,
    /// Reconciles per controller and API-server requests per verb, from apply to Ready.
    pub work: String,
}

/// The writes no operator can reach Ready without, replayed alone on the objects created alone:
/// each IntegrationAccount's credentials Secret and status, each WorkatoConnection's status, as
/// the operator wrote them, 32 at a time, nothing else running. The API server must do these on
/// top of the creations, so on one machine "alone + floor" bounds "apply to all Ready" from below
/// whenever the API server is what the creations wait for.
pub struct Floor {
    pub writes: usize,
    /// By server-side apply, as the operator writes.
    pub took: Duration,
    /// The same writes as JSON merge patches (the Secrets created), onto a second copy of the
    /// objects: what the API server's side of server-side apply costs.
    pub merge: Duration,
}

/// Cost of reconciles that change nothing, per controller.
pub struct Noop {
    pub rows: Vec<NoopRow>,
}

pub struct NoopRow {
    pub controller: &'static str,
    pub reconciles: f64,
    pub all_reconciles: f64,
    pub cpu_ms_per_reconcile: f64,
    pub kube_requests_per_reconcile: f64,
    pub kube_gets_per_reconcile: f64,
    pub kube_writes_per_reconcile: f64,
    pub external_calls: f64,
}

const ACCOUNT_BASE: i64 = 30000;
const CONNECTION_BASE: i64 = 100_000;

fn seed(c: &Case) -> Seed {
    let accounts: Vec<Value> = (0..c.accounts)
        .map(|a| {
            let mine = (a..c.integrations).step_by(c.accounts);
            let mut users = vec![json!({"id": 1, "email": "admin@bench.example", "firstName": "Ada", "lastName": "Admin",
                                        "status": "Active", "apiUser": true, "role": "Super Admin"})];
            let mut tokens = vec![json!({"id": 1, "value": format!("bench-admin-{a:04}-token"), "user": 1, "name": "operator",
                                         "expiresAt": "2030-01-01T00:00:00Z"})];
            for i in mine {
                users.push(json!({"id": i + 2, "email": format!("sys{i}.integration@bench.example"), "firstName": format!("Sys{i}"),
                                  "lastName": "Integration", "status": "Active", "apiUser": true, "role": "Integration"}));
                tokens.push(json!({"id": i + 2, "value": format!("bench-token-{i:06}"), "user": i + 2, "name": format!("sys{i}"),
                                   "expiresAt": "2030-01-01T00:00:00Z"}));
            }
            json!({"id": ACCOUNT_BASE + a as i64, "name": format!("Bench {a}"), "environment": "sandbox",
                   "apiKey": format!("bench-key-{a:04}"), "apps": [{"id": 1, "name": "CRM"}],
                   "views": [{"id": 10, "name": "Accounts", "app": "CRM"}],
                   "roles": [{"name": "Super Admin", "admin": true}, {"name": "Integration", "apps": ["CRM"], "views": ["Accounts"]}],
                   "users": users, "tokens": tokens})
        })
        .collect();
    let workspaces: Vec<Value> = (0..c.workspaces)
        .map(|w| {
            let connections: Vec<Value> = (w..c.integrations)
                .step_by(c.workspaces)
                .map(|i| json!({"id": CONNECTION_BASE + i as i64, "name": format!("TV {i}"), "provider": "trackvia"}))
                .collect();
            json!({"id": format!("ws{w}"), "environment": "sandbox", "apiTokens": [format!("bench-wk-{w:04}-token")],
                   "connections": connections})
        })
        .collect();
    let seed = json!({"trackvia": {"accounts": accounts}, "workato": {"workspaces": workspaces}});
    Seed::from_json_str(&seed.to_string()).unwrap()
}

fn objects(c: &Case, emu: &Emulators) -> Vec<Value> {
    harness::Population {
        prefix: "bench",
        accounts: c.accounts,
        workspaces: c.workspaces,
        integrations: c.integrations,
        per_integration: 1,
        first_connection: CONNECTION_BASE,
    }
    .objects(&emu.trackvia(), &emu.workato())
}

/// Runs one population.
pub async fn run(client: &Client, case: Case, measure_noop: bool) -> Outcome {
    let emu = Emulators::start_seed(seed(&case), Duration::ZERO).await;
    let objects = objects(&case, &emu);
    let n = case.integrations;

    let alone = support::namespace(client, "bench-alone").await;
    let kubectl = if case.compare_kubectl {
        let file = harness::write_list(&format!("scale-{n}.json"), &objects);
        Some(harness::kubectl_apply(&alone, &file))
    } else {
        let start = Instant::now();
        harness::create_all(client, &alone, &objects, 32).await;
        Some(start.elapsed())
    };

    let ns = support::namespace(client, "bench-scale").await;
    let op = OperatorProcess::start(&ns, &[]);
    op.wait_ready().await;
    let start = Instant::now();
    let apply = if case.compare_kubectl {
        let file = harness::write_list(&format!("scale-{n}.json"), &objects);
        harness::kubectl_apply(&ns, &file)
    } else {
        harness::create_all(client, &ns, &objects, 32).await;
        start.elapsed()
    };
    harness::wait_all_ready(client, &op, &ns, n, n, Duration::from_secs(3600)).await;
    let ready = start.elapsed();
    let (rss_ready, _) = op.rss_mib();
    let metrics = op.metrics().await;
    let cpu_secs = op.cpu_secs();
    let per_workspace = n.div_ceil(case.workspaces);
    let tv_calls = metrics.sum(
        "trackvia_operator_external_requests_total",
        &[("system", "trackvia")],
    );
    let mut work = Vec::new();
    let mut per_object = Vec::new();
    for c in [
        "TrackViaAccount",
        "WorkatoWorkspace",
        "IntegrationAccount",
        "WorkatoConnection",
    ] {
        let r = metrics.sum("trackvia_operator_reconciles_total", &[("controller", c)]);
        work.push(format!("{c} reconciles {r:.0}"));
        if matches!(c, "IntegrationAccount" | "WorkatoConnection") {
            per_object.push(format!("{c} reconciles per object {:.2}", r / n as f64));
        }
    }
    for v in ["get", "watch", "post", "put", "patch", "delete"] {
        let r = metrics.sum("trackvia_operator_kube_requests_total", &[("verb", v)]);
        work.push(format!("{v} {r:.0}"));
        if v != "watch" {
            per_object.push(format!("{v} per IA + WC pair {:.2}", r / n as f64));
        }
    }
    // Which requests: per pair, by verb and resource (`post events`, `patch integrationaccounts/status`).
    let label = |series: &str, name: &str| {
        let at = series.find(&format!("{name}=\""))? + name.len() + 2;
        Some(series[at..].split('"').next()?.to_owned())
    };
    let mut by_resource: Vec<String> = metrics
        .0
        .iter()
        .filter(|(k, _)| k.split('{').next() == Some("trackvia_operator_kube_requests_total"))
        .filter_map(|(k, v)| Some((label(k, "verb")?, label(k, "resource")?, v / n as f64)))
        .filter(|(verb, _, per_pair)| verb != "watch" && *per_pair >= 0.005)
        .map(|(verb, resource, per_pair)| format!("{verb} {resource} {per_pair:.2}"))
        .collect();
    by_resource.sort();
    per_object.push(format!(
        "by verb and resource per pair: {}",
        by_resource.join(", ")
    ));
    let work = format!("{}; {}", work.join(", "), per_object.join(", "));
    // Not until reconciles stop: at 10k the periodic checks never let the counter rest.
    tokio::time::sleep(Duration::from_secs(30)).await;
    let (rss_settled, _) = op.rss_mib();
    let noop = if measure_noop {
        Some(noop(client, &ns, &op, n).await)
    } else {
        None
    };
    let (_, rss_peak) = op.rss_mib();
    drop(op);
    let copy = support::namespace(client, "bench-alone-merge").await;
    harness::create_all(client, &copy, &objects, 32).await;
    let writes = writes(client, &ns).await;
    let floor = Floor {
        writes: writes.len(),
        took: replay(client, writes.clone(), &alone, true).await,
        merge: replay(client, writes, &copy, false).await,
    };
    let out = Outcome {
        case,
        objects: objects.len(),
        kubectl,
        apply,
        ready,
        connection_bound: per_workspace.saturating_sub(1) as f64 * 1.0,
        trackvia_bound: tv_calls / case.accounts as f64 / 5.0,
        rss_ready,
        rss_settled,
        rss_peak,
        cpu_secs,
        external_calls: metrics.sum("trackvia_operator_external_requests_total", &[]),
        received_429: metrics.sum("trackvia_operator_external_requests_total", &[("status", "429")]),
        noop,
        floor,
        work,
    };
    emu.running.shutdown().await;
    out
}

/// The indispensable writes the operator made in `from` (see [`Floor`]): (kind/name, body).
async fn writes(client: &Client, from: &str) -> Vec<(String, Value)> {
    let lp = ListParams::default();
    let ias = Api::<IntegrationAccount>::namespaced(client.clone(), from)
        .list(&lp)
        .await
        .unwrap();
    let wcs = Api::<WorkatoConnection>::namespaced(client.clone(), from)
        .list(&lp)
        .await
        .unwrap();
    let published: std::collections::HashSet<String> = ias
        .items
        .iter()
        .map(|ia| ia.spec.credentials_secret.name.clone())
        .collect();
    let secrets = Api::<Secret>::namespaced(client.clone(), from)
        .list(&lp)
        .await
        .unwrap();
    let status = |kind: &str, name: &str, status: Value| {
        (
            format!("{kind}/{name}"),
            json!({"apiVersion": harness::GROUP, "kind": kind, "status": status}),
        )
    };
    let mut writes: Vec<(String, Value)> = Vec::new();
    for ia in &ias.items {
        writes.push(status("IntegrationAccount", &ia.name_any(), json!(ia.status)));
    }
    for wc in &wcs.items {
        writes.push(status("WorkatoConnection", &wc.name_any(), json!(wc.status)));
    }
    for s in secrets.items.iter().filter(|s| published.contains(&s.name_any())) {
        // As the operator applies it, less the owner reference (another uid here).
        let secret = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": s.name_any(), "labels": s.labels(), "annotations": s.annotations()},
            "type": s.type_, "data": s.data});
        writes.push((format!("Secret/{}", s.name_any()), secret));
    }
    writes
}

/// Makes `writes` in `to`, 32 at a time, by server-side apply with the operator's field manager
/// (`apply`) or as JSON merge patches and creates; returns how long they took.
async fn replay(client: &Client, writes: Vec<(String, Value)>, to: &str, apply: bool) -> Duration {
    let pp = PatchParams::apply(trackvia_operator::reconcile::FIELD_MANAGER).force();
    let start = Instant::now();
    futures::stream::iter(writes)
        .map(|(what, body)| {
            let (client, pp) = (client.clone(), pp.clone());
            async move {
                let (kind, name) = what.split_once('/').unwrap();
                let (pp, patch) = if apply {
                    (pp, Patch::Apply(&body))
                } else {
                    (PatchParams::default(), Patch::Merge(&body))
                };
                let r = match kind {
                    "IntegrationAccount" => Api::<IntegrationAccount>::namespaced(client, to)
                        .patch_status(name, &pp, &patch)
                        .await
                        .map(|_| ()),
                    "WorkatoConnection" => Api::<WorkatoConnection>::namespaced(client, to)
                        .patch_status(name, &pp, &patch)
                        .await
                        .map(|_| ()),
                    _ if apply => Api::<Secret>::namespaced(client, to)
                        .patch(name, &pp, &patch)
                        .await
                        .map(|_| ()),
                    _ => Api::<Secret>::namespaced(client, to)
                        .create(
                            &Default::default(),
                            &serde_json::from_value(body.clone()).unwrap(),
                        )
                        .await
                        .map(|_| ()),
                };
                r.unwrap_or_else(|e| panic!("replaying {what}: {e}"));
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
    start.elapsed()
}

/// Touches every WorkatoConnection, then every IntegrationAccount, with an annotation the
/// operator ignores, and measures what the resulting reconciles cost.
async fn noop(client: &Client, ns: &str, op: &OperatorProcess, n: usize) -> Noop {
    let mut rows = Vec::new();
    // Let the last status writes of the setup settle.
    settle(op).await;
    for (kind, controller) in [("wc", "WorkatoConnection"), ("ia", "IntegrationAccount")] {
        let before = op.metrics().await;
        let cpu = op.cpu_secs();
        touch(client, ns, kind, n).await;
        settle(op).await;
        let after = op.metrics().await;
        let cpu = op.cpu_secs() - cpu;
        let reconciles = after.delta(&before, "trackvia_operator_reconciles_total", &[]);
        let requests = after.delta(&before, "trackvia_operator_kube_requests_total", &[]);
        let writes = ["post", "put", "patch", "delete"]
            .iter()
            .map(|v| after.delta(&before, "trackvia_operator_kube_requests_total", &[("verb", v)]))
            .sum::<f64>();
        rows.push(NoopRow {
            controller,
            reconciles: after.delta(
                &before,
                "trackvia_operator_reconciles_total",
                &[("controller", controller)],
            ),
            all_reconciles: reconciles,
            cpu_ms_per_reconcile: cpu * 1000.0 / reconciles.max(1.0),
            kube_requests_per_reconcile: requests / reconciles.max(1.0),
            kube_gets_per_reconcile: after.delta(
                &before,
                "trackvia_operator_kube_requests_total",
                &[("verb", "get")],
            ) / reconciles.max(1.0),
            kube_writes_per_reconcile: writes / reconciles.max(1.0),
            external_calls: after.delta(&before, "trackvia_operator_external_requests_total", &[]),
        });
    }
    Noop { rows }
}

/// Waits until the reconcile counter has not moved for 3 s.
async fn settle(op: &OperatorProcess) {
    let mut last = -1.0;
    let mut still = 0;
    while still < 3 {
        let now = op.metrics().await.sum("trackvia_operator_reconciles_total", &[]);
        if (now - last).abs() < f64::EPSILON {
            still += 1;
        } else {
            still = 0;
        }
        last = now;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn touch(client: &Client, ns: &str, kind: &str, n: usize) {
    let patch = json!({"metadata": {"annotations": {"bench.trackvia-operator.dev/touched": format!("{:?}", Instant::now())}}});
    let pp = PatchParams::default();
    futures::stream::iter(0..n)
        .map(|i| {
            let client = client.clone();
            let patch = patch.clone();
            let pp = pp.clone();
            async move {
                if kind == "wc" {
                    Api::<WorkatoConnection>::namespaced(client, ns)
                        .patch(&format!("wc-{i}"), &pp, &Patch::Merge(&patch))
                        .await
                        .map(|_| ())
                } else {
                    Api::<IntegrationAccount>::namespaced(client, ns)
                        .patch(&format!("ia-{i}"), &pp, &Patch::Merge(&patch))
                        .await
                        .map(|_| ())
                }
            }
        })
        .buffer_unordered(16)
        .for_each(|r| async move { r.unwrap() })
        .await;
}
