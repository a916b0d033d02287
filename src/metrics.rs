//! Prometheus metrics (text format at `/metrics`). Labels never carry credentials; per-object
//! labels appear only where the value is per object (token expiry, as cert-manager does).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

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

/// Labels of per-object metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ObjectLabels {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
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
}

/// Every metric of the operator.
pub struct Metrics {
    registry: Registry,
    /// Reconciles run.
    pub reconciles: Family<ControllerLabels, Counter>,
    /// Reconciles that failed.
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    /// Reconcile duration.
    pub reconcile_duration: Family<ControllerLabels, Histogram>,
    /// Condition transitions.
    pub condition_transitions: Family<TransitionLabels, Counter>,
    /// Token expiry (Unix seconds) per IntegrationAccount, when known.
    pub token_expiry: Family<ObjectLabels, Gauge>,
    /// 1 while an IntegrationAccount's rotation is due.
    pub rotation_due: Family<ObjectLabels, Gauge>,
    /// Rotations finished, by outcome.
    pub rotations: Family<RotationLabels, Counter>,
    /// Recipes a CredentialRotation stopped that are not running again and that it can no longer
    /// restart by itself (it finished, or the token was lost): a person must act.
    pub recipes_left_stopped: Family<ObjectLabels, Gauge>,
    /// 1 while a scheduled StopAndRestart waits for a person's approval.
    pub rotation_awaiting_approval: Family<ObjectLabels, Gauge>,
    /// Failed jobs of a WorkatoConnection's dependent recipes, counted once each, by kind.
    pub recipe_job_failures: Family<JobFailureLabels, Counter>,
    /// Dependent recipes of a WorkatoConnection whose recent jobs failed with a TrackVia 401/403
    /// and have not succeeded since.
    pub recipes_auth_failing: Family<ObjectLabels, Gauge>,
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
        let token_expiry = Family::<ObjectLabels, Gauge>::default();
        let rotation_due = Family::<ObjectLabels, Gauge>::default();
        let rotations = Family::<RotationLabels, Counter>::default();
        let recipes_left_stopped = Family::<ObjectLabels, Gauge>::default();
        let rotation_awaiting_approval = Family::<ObjectLabels, Gauge>::default();
        let recipe_job_failures = Family::<JobFailureLabels, Counter>::default();
        let recipes_auth_failing = Family::<ObjectLabels, Gauge>::default();
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
        registry.register(
            "token_expiry_timestamp_seconds",
            "When each IntegrationAccount's token expires (Unix time)",
            token_expiry.clone(),
        );
        registry.register(
            "rotation_due",
            "1 while an IntegrationAccount's rotation is due",
            rotation_due.clone(),
        );
        registry.register("rotations", "Rotations finished, by outcome", rotations.clone());
        registry.register(
            "recipes_left_stopped",
            "Recipes a CredentialRotation stopped that are not running and that it cannot restart by itself",
            recipes_left_stopped.clone(),
        );
        registry.register(
            "rotation_awaiting_approval",
            "1 while a scheduled StopAndRestart CredentialRotation waits for a person's approval",
            rotation_awaiting_approval.clone(),
        );
        registry.register(
            "recipe_job_failures",
            "Failed jobs of a WorkatoConnection's dependent recipes, by kind (auth: a TrackVia 401/403; other)",
            recipe_job_failures.clone(),
        );
        registry.register(
            "recipes_auth_failing",
            "Dependent recipes of a WorkatoConnection whose recent jobs failed with a TrackVia 401/403 and have not succeeded since",
            recipes_auth_failing.clone(),
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
        Self {
            registry,
            reconciles,
            reconcile_errors,
            reconcile_duration,
            condition_transitions,
            token_expiry,
            rotation_due,
            rotations,
            recipes_left_stopped,
            rotation_awaiting_approval,
            recipe_job_failures,
            recipes_auth_failing,
            rotation_duration,
            external_requests,
            external_request_duration,
            rate_limiter_wait,
            kube_requests,
            leader,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
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
