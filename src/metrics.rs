//! Prometheus metrics (text format at `/metrics`). Labels never carry credentials. Events are
//! counted here as they happen; the per-object state (readiness, token expiry, rotation due,
//! recipes stopped, ...) is read from the controllers' caches at each scrape by a collector
//! attached once they exist ([`Metrics::observe_state`]), so an object's series go with it, as
//! cert-manager's do.

use std::fmt;
use std::sync::{Arc, RwLock};

use futures::Stream;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::api::credential_rotation::RotationOutcome;

/// Labels of per-controller metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    /// The kind reconciled.
    pub controller: String,
}

/// Labels of reconcile errors.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// The kind reconciled.
    pub controller: String,
    /// The error's stable label.
    pub error: String,
}

/// Labels of a WorkatoConnection's failed recipe jobs.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobFailureLabels {
    /// Namespace of the WorkatoConnection.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// `auth` (a TrackVia 401/403) or `other`.
    pub kind: String,
}

/// Labels of condition transitions.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransitionLabels {
    /// The kind.
    pub controller: String,
    /// Condition type.
    pub condition: String,
    /// New status.
    pub status: String,
    /// New reason.
    pub reason: String,
}

/// Labels of rotation outcomes.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RotationLabels {
    /// `Succeeded`, `RolledBack`, `Aborted`, ...
    pub outcome: String,
}

/// Labels of external requests.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `trackvia` or `workato`.
    pub system: String,
    /// The operation.
    pub operation: String,
    /// The status code, or `timeout`/`unreachable`/`broken`.
    pub status: String,
}

/// Labels of per-system, per-operation histograms.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    /// `trackvia` or `workato`.
    pub system: String,
    /// The operation.
    pub operation: String,
}

/// Labels of request budgets.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BudgetLabels {
    /// The budget (`workato_connection`, `workato_recipe`, `trackvia`, ...).
    pub budget: String,
}

/// Labels of requests to the Kubernetes API server.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KubeRequestLabels {
    /// `get` (reads and lists), `watch`, `post`, `put`, `patch` or `delete`.
    pub verb: String,
    /// The resource, with its subresource if any (`secrets`, `events`,
    /// `integrationaccounts/status`); `other` for paths that name none (`/version`).
    pub resource: String,
}

/// Labels of `build_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    /// The crate version.
    pub version: String,
    /// The git commit it was built from (`TRACKVIA_OPERATOR_COMMIT` at build time), or `unknown`.
    pub commit: String,
}

/// The kinds the operator reconciles: the `controller` label of the per-controller counters.
pub const CONTROLLERS: [&str; 5] = [
    "TrackViaAccount",
    "WorkatoWorkspace",
    "IntegrationAccount",
    "WorkatoConnection",
    "CredentialRotation",
];

/// Every operation the vendor clients report, by system (`trackvia`, `workato`): the label values
/// of `external_requests_total` whose authentication failures (401, 403) start at 0.
/// The stable labels of reconcile errors (`Error::label` and the vendor errors' labels), whose
/// counters per controller start at 0. A test checks the list against the `label` functions.
pub const RECONCILE_ERRORS: [&str; 13] = [
    "Kube",
    "HttpClient",
    "Malformed",
    "Unrecognised",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "Rejected",
    "StartFailed",
    "RateLimited",
    "ServerError",
    "Unreachable",
    "BadResponse",
];

pub const OPERATIONS: [(&str, &str); 16] = [
    ("trackvia", "list users"),
    ("trackvia", "create user"),
    ("trackvia", "list apps"),
    ("trackvia", "list views"),
    ("workato", "list connections"),
    ("workato", "create connection"),
    ("workato", "update connection"),
    ("workato", "disconnect connection"),
    ("workato", "list connectors"),
    ("workato", "list custom connectors"),
    ("workato", "read custom connector code"),
    ("workato", "list recipes"),
    ("workato", "get recipe"),
    ("workato", "start recipe"),
    ("workato", "stop recipe"),
    ("workato", "list jobs"),
];

/// The collector of the per-object state while this replica leads: nothing before, nothing after
/// it steps down (a replica that does not lead has no caches, or only stale ones).
#[derive(Debug, Default)]
struct Deferred(RwLock<Option<Box<dyn Collector>>>);

impl Collector for Deferred {
    fn encode(&self, encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // A poisoned lock only means a scrape panicked: the collector is still whole.
        match self
            .0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
        {
            Some(c) => c.encode(encoder),
            None => Ok(()),
        }
    }
}

/// Every metric of the operator.
pub struct Metrics {
    registry: Registry,
    state: Arc<Deferred>,
    /// Reconciles run.
    pub reconciles: Family<ControllerLabels, Counter>,
    /// Reconciles that failed.
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    /// Reconcile duration.
    pub reconcile_duration: Family<ControllerLabels, Histogram>,
    /// Condition transitions.
    pub condition_transitions: Family<TransitionLabels, Counter>,
    /// Rotations finished, by outcome.
    pub rotations: Family<RotationLabels, Counter>,
    /// Failed jobs of a WorkatoConnection's dependent recipes, counted once each, by kind.
    pub recipe_job_failures: Family<JobFailureLabels, Counter>,
    /// Rotation duration, start to finish, by outcome.
    pub rotation_duration: Family<RotationLabels, Histogram>,
    /// External requests by system, operation and status.
    pub external_requests: Family<RequestLabels, Counter>,
    /// External request latency.
    pub external_request_duration: Family<OperationLabels, Histogram>,
    /// Time requests waited for their budget (rate limiter).
    pub rate_limiter_wait: Family<BudgetLabels, Histogram>,
    /// Requests to the Kubernetes API server, by verb.
    pub kube_requests: Family<KubeRequestLabels, Counter>,
    /// 1 while this replica leads (holds the leader Lease, or runs without leader election).
    pub leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric under the `trackvia_operator` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("trackvia_operator");
        let reconciles = Family::<ControllerLabels, Counter>::default();
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        let reconcile_duration = Family::<ControllerLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 12))
        });
        let condition_transitions = Family::<TransitionLabels, Counter>::default();
        let rotations = Family::<RotationLabels, Counter>::default();
        let recipe_job_failures = Family::<JobFailureLabels, Counter>::default();
        let external_requests = Family::<RequestLabels, Counter>::default();
        let external_request_duration = Family::<OperationLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 14))
        });
        let rate_limiter_wait = Family::<BudgetLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.0, 0.01, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0])
        });
        let kube_requests = Family::<KubeRequestLabels, Counter>::default();
        let rotation_duration = Family::<RotationLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(1.0, 2.0, 14))
        });
        registry.register("reconciles", "Reconciles run", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Reconciles that failed, by error",
            reconcile_errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Reconcile duration",
            reconcile_duration.clone(),
        );
        registry.register(
            "condition_transitions",
            "Condition transitions",
            condition_transitions.clone(),
        );
        registry.register("rotations", "Rotations finished, by outcome", rotations.clone());
        registry.register(
            "recipe_job_failures",
            "Failed jobs of a WorkatoConnection's dependent recipes, by kind (auth: a TrackVia 401/403; other)",
            recipe_job_failures.clone(),
        );
        registry.register(
            "external_requests",
            "Requests to TrackVia and Workato",
            external_requests.clone(),
        );
        registry.register(
            "external_request_duration_seconds",
            "Latency of requests to TrackVia and Workato",
            external_request_duration.clone(),
        );
        registry.register(
            "rate_limiter_wait_seconds",
            "Time requests waited for their request budget",
            rate_limiter_wait.clone(),
        );
        registry.register(
            "rotation_duration_seconds",
            "Rotation duration, by outcome",
            rotation_duration.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica leads: it holds the leader Lease (or runs without leader election) and reconciles",
            leader.clone(),
        );
        registry.register(
            "kube_requests",
            "Requests to the Kubernetes API server, by verb (watches count once, when opened)",
            kube_requests.clone(),
        );
        let build_info = Family::<BuildLabels, Gauge>::default();
        build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                commit: option_env!("TRACKVIA_OPERATOR_COMMIT")
                    .filter(|c| !c.is_empty())
                    .unwrap_or("unknown")
                    .to_owned(),
            })
            .set(1);
        registry.register(
            "build_info",
            "Always 1: the operator's version and the git commit it was built from",
            build_info,
        );
        let state = Arc::new(Deferred::default());
        registry.register_collector(Box::new(state.clone()));
        let metrics = Self {
            registry,
            state,
            reconciles,
            reconcile_errors,
            reconcile_duration,
            condition_transitions,
            rotations,
            recipe_job_failures,
            rotation_duration,
            external_requests,
            external_request_duration,
            rate_limiter_wait,
            kube_requests,
            leader,
        };
        metrics.start_at_zero();
        metrics
    }

    /// Creates, at 0, the counters whose label values are known, so that `increase()` sees their
    /// first event.
    fn start_at_zero(&self) {
        for controller in CONTROLLERS {
            let _created = self.reconciles.get_or_create(&ControllerLabels {
                controller: controller.to_owned(),
            });
        }
        for ((system, operation), status) in OPERATIONS.iter().flat_map(|op| [(op, "401"), (op, "403")]) {
            let _created = self.external_requests.get_or_create(&RequestLabels {
                system: (*system).to_owned(),
                operation: (*operation).to_owned(),
                status: status.to_owned(),
            });
        }
        for (controller, error) in CONTROLLERS
            .iter()
            .flat_map(|c| RECONCILE_ERRORS.iter().map(move |e| (c, e)))
        {
            let _created = self.reconcile_errors.get_or_create(&ErrorLabels {
                controller: (*controller).to_owned(),
                error: (*error).to_owned(),
            });
        }
        for outcome in RotationOutcome::ALL {
            let _created = self.rotations.get_or_create(&RotationLabels {
                outcome: outcome.as_str().to_owned(),
            });
        }
    }

    /// Attaches the collector of the per-object state (read at each scrape), in place of any
    /// earlier one; `None` detaches it (the replica stepped down: its caches are no longer kept).
    pub fn observe_state(&self, collector: Option<Box<dyn Collector>>) {
        *self
            .state
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = collector;
    }

    /// The Prometheus text exposition of every metric, whole (for tests and tools; `/metrics`
    /// sends it in pieces, [`Metrics::encode_in_pieces`]).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// The Prometheus text exposition of every metric, in pieces of about [`SCRAPE_PIECE`]
    /// bytes, each handed on as soon as it is written. With one series per object and condition
    /// the text is megabytes at thousands of objects; held whole, it was the largest allocation
    /// the operator made, every scrape, and the allocator kept the memory afterwards. It is
    /// written on a blocking thread (the state metrics walk every cached object), and it never
    /// waits for the client: it holds each metric's lock while it writes it, and a reconcile
    /// waiting for that lock on a runtime thread could leave no thread to serve the client. A
    /// client slower than the writing therefore lets pieces queue (at worst the whole text, as
    /// before); a client that goes away stops the writing.
    pub fn encode_in_pieces(
        self: &Arc<Self>,
    ) -> impl Stream<Item = Result<String, fmt::Error>> + Send + 'static {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let metrics = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut pieces = Pieces {
                tx,
                piece: Pieces::empty(),
            };
            if prometheus_client::encoding::text::encode(&mut pieces, &metrics.registry).is_ok() {
                let _ = pieces.send();
            }
        });
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|p| (Ok(p), rx)) })
    }
}

/// How much of a scrape's text is handed on at a time.
pub const SCRAPE_PIECE: usize = 64 * 1024;

/// A writer that hands on what it is given in pieces of [`SCRAPE_PIECE`] bytes.
struct Pieces {
    tx: tokio::sync::mpsc::UnboundedSender<String>,
    piece: String,
}

impl Pieces {
    /// A piece with room for [`SCRAPE_PIECE`] bytes and the write that completes it.
    fn empty() -> String {
        String::with_capacity(SCRAPE_PIECE + SCRAPE_PIECE / 8)
    }

    /// Hands on the piece written so far; an error when nobody reads any more.
    fn send(&mut self) -> fmt::Result {
        if self.piece.is_empty() {
            return Ok(());
        }
        self.tx
            .send(std::mem::replace(&mut self.piece, Pieces::empty()))
            .map_err(|_| fmt::Error)
    }
}

impl fmt::Write for Pieces {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.piece.push_str(s);
        if self.piece.len() >= SCRAPE_PIECE {
            self.send()?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl crate::external::RequestObserver for Metrics {
    fn observe(&self, r: &crate::external::Observed<'_>) {
        self.external_requests
            .get_or_create(&RequestLabels {
                system: r.system.to_owned(),
                operation: r.operation.to_owned(),
                status: r.outcome.to_owned(),
            })
            .inc();
        self.external_request_duration
            .get_or_create(&OperationLabels {
                system: r.system.to_owned(),
                operation: r.operation.to_owned(),
            })
            .observe(r.elapsed.as_secs_f64());
        self.rate_limiter_wait
            .get_or_create(&BudgetLabels {
                budget: r.budget.to_owned(),
            })
            .observe(r.waited.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Metrics with `n` reconcile counters more than the operator starts with.
    fn with_series(n: usize) -> Arc<Metrics> {
        let metrics = Arc::new(Metrics::new());
        for i in 0..n {
            metrics
                .reconciles
                .get_or_create(&ControllerLabels {
                    controller: format!("Kind{i:05}"),
                })
                .inc();
        }
        metrics
    }

    /// The scrape holds each metric's lock while it writes it: if it waited there for a slow
    /// client, a reconcile adding a series would wait for the lock on a runtime thread, the
    /// readers queued behind it would take the other, and nothing would be left to serve the
    /// client (the operator stopped, /healthz included, in the 10k bench).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_that_does_not_read_never_stops_a_metric_update() {
        let metrics = with_series(5000);
        let unread = metrics.encode_in_pieces();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let (done, updated) = std::sync::mpsc::channel();
        let writer = metrics.clone();
        std::thread::spawn(move || {
            writer
                .reconciles
                .get_or_create(&ControllerLabels {
                    controller: "New".to_owned(),
                })
                .inc();
            let _ = done.send(());
        });
        assert!(
            updated.recv_timeout(std::time::Duration::from_secs(5)).is_ok(),
            "a new series waited for the scrape's client"
        );
        drop(unread);
    }

    /// A scrape of thousands of series arrives whole, in order, and never as one large piece.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_large_scrape_is_sent_in_pieces_that_make_up_the_whole_text() {
        use futures::StreamExt;
        let metrics = with_series(5000);
        let pieces: Vec<String> = metrics
            .encode_in_pieces()
            .map(|p| p.expect("a piece"))
            .collect()
            .await;
        let whole = metrics.encode();
        assert!(whole.len() > 4 * SCRAPE_PIECE, "{} bytes", whole.len());
        assert!(pieces.len() > 4, "{} pieces", pieces.len());
        assert!(pieces.iter().all(|p| p.len() < SCRAPE_PIECE + 1024));
        assert_eq!(pieces.concat(), whole);
        assert!(whole.ends_with("# EOF\n"));
    }

    /// The operation names in a client's source: string literals that start with a verb.
    fn operations_in(source: &str) -> Vec<&str> {
        const VERBS: [&str; 8] = [
            "list ",
            "get ",
            "create ",
            "update ",
            "disconnect ",
            "start ",
            "stop ",
            "read ",
        ];
        source
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| VERBS.iter().any(|v| s.starts_with(v)))
            .filter(|s| s.chars().all(|c| c.is_ascii_lowercase() || c == ' '))
            .collect()
    }

    #[test]
    fn every_operation_a_client_reports_has_its_auth_failures_at_zero() {
        for (system, source) in [
            ("trackvia", include_str!("trackvia/client.rs")),
            ("workato", include_str!("workato/client.rs")),
        ] {
            let ops = operations_in(source);
            assert!(!ops.is_empty());
            for op in ops {
                assert!(
                    OPERATIONS.contains(&(system, op)),
                    "{system} {op:?} is missing from OPERATIONS"
                );
            }
        }
        let text = Metrics::new().encode();
        assert!(text.contains(
            "trackvia_operator_external_requests_total{system=\"workato\",operation=\"list connections\",status=\"401\"} 0"
        ));
        assert!(text.contains("trackvia_operator_reconciles_total{controller=\"CredentialRotation\"} 0"));
        assert!(text.contains("trackvia_operator_rotations_total{outcome=\"RolledBack\"} 0"));
        assert!(text.contains("trackvia_operator_build_info{version=\""));
    }

    #[test]
    fn every_reconcile_error_label_starts_at_zero() {
        for source in [
            include_str!("reconcile/error.rs"),
            include_str!("trackvia/error.rs"),
            include_str!("workato/error.rs"),
        ] {
            let body = source
                .split("pub fn label(&self) -> &'static str {")
                .nth(1)
                .and_then(|rest| rest.split("\n    }\n").next())
                .expect("a label function");
            for label in body.split("=> \"").skip(1).filter_map(|s| s.split('"').next()) {
                assert!(
                    RECONCILE_ERRORS.contains(&label),
                    "{label} is missing from RECONCILE_ERRORS"
                );
            }
        }
        let text = Metrics::new().encode();
        assert!(text.contains(
            "trackvia_operator_reconcile_errors_total{controller=\"WorkatoConnection\",error=\"Unauthorized\"} 0"
        ));
    }

    #[test]
    fn every_rotation_outcome_is_in_all() {
        let schema = serde_json::to_value(schemars::schema_for!(RotationOutcome)).unwrap_or_default();
        // Each variant is a `oneOf` entry with its `const` name (documented variants).
        let declared: Vec<&str> = schema["oneOf"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["const"].as_str())
            .collect();
        assert!(!declared.is_empty(), "{schema}");
        let all: Vec<&str> = RotationOutcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(
            all, declared,
            "RotationOutcome::ALL lists every outcome, in order"
        );
    }
}
