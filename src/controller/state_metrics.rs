//! The per-object state metrics, read from the controllers' caches at each scrape (as
//! cert-manager's collectors do): an object's series exist while it is in the cache and go with
//! it, and a value computed from time (is a rotation due now?) is computed at the scrape, with the
//! function the reconciler decides with. The caches of IntegrationAccounts and WorkatoConnections
//! keep just what is read here (see [`super::index`]); a cache may lag a status write by a moment,
//! as any scrape lags the state it reports.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use super::watches::Synced;
use super::{credential_rotation, workato_connection};
use crate::api::credential_rotation::{CredentialRotationStatus, RotationPhase};
use crate::api::{
    CredentialRotation, IntegrationAccount, TrackViaAccount, WorkatoConnection, WorkatoWorkspace,
};
use crate::clock::Clock;
use crate::conditions::{self, types};
use crate::domain::due;
use crate::domain::jobs::FailureKind;
use crate::metrics::{JobFailureLabels, Metrics};

/// The label pairs of one series.
type Labels = Vec<(&'static str, String)>;

/// One gauge and its series.
#[derive(Clone, Debug)]
struct Gauge {
    name: &'static str,
    help: &'static str,
    series: Vec<(Labels, i64)>,
}

impl Gauge {
    fn new(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            help,
            series: Vec::new(),
        }
    }

    fn set(&mut self, labels: Labels, value: i64) {
        self.series.push((labels, value));
    }
}

/// Every state gauge, filled from the objects.
#[derive(Clone, Debug)]
struct Gauges {
    ready_status: Gauge,
    ready_since: Gauge,
    token_expiry: Gauge,
    renew_before: Gauge,
    rotation_due: Gauge,
    rotation_due_since: Gauge,
    last_rotation: Gauge,
    stopped_by_workato: Gauge,
    auth_failing: Gauge,
    left_stopped: Gauge,
    awaiting_approval: Gauge,
    rotation_phase: Gauge,
}

/// `namespace` and `name` of an object.
fn object<K: Resource>(o: &K) -> Labels {
    vec![
        ("namespace", o.namespace().unwrap_or_default()),
        ("name", o.name_any()),
    ]
}

/// The statuses `ready_status` has a series for.
const STATUSES: [&str; 3] = ["True", "False", "Unknown"];

fn seconds(t: Timestamp) -> i64 {
    t.as_second()
}

impl Gauges {
    fn new() -> Self {
        Self {
            ready_status: Gauge::new(
                "ready_status",
                "The status of each object's Ready condition: 1 for the current one (True, False or Unknown; Unknown when absent), 0 for the others",
            ),
            ready_since: Gauge::new(
                "ready_condition_since_timestamp_seconds",
                "When each object's Ready condition last changed status (Unix time)",
            ),
            token_expiry: Gauge::new(
                "token_expiry_timestamp_seconds",
                "When each IntegrationAccount's token expires (Unix time), when known",
            ),
            renew_before: Gauge::new(
                "token_renew_before_seconds",
                "How long before its token expires (or its rotation interval ends) each IntegrationAccount's rotation becomes due: the effective spec.rotation.renewBefore",
            ),
            rotation_due: Gauge::new(
                "rotation_due",
                "1 while an IntegrationAccount's rotation is due (its token is valid and expires, or its interval ends, within renewBefore), else 0",
            ),
            rotation_due_since: Gauge::new(
                "rotation_due_since_timestamp_seconds",
                "Since when a due IntegrationAccount's rotation has been due (Unix time): the expiry, or the end of the interval, minus renewBefore",
            ),
            last_rotation: Gauge::new(
                "last_successful_rotation_timestamp_seconds",
                "When each IntegrationAccount's last rotation succeeded (Unix time), when one did",
            ),
            stopped_by_workato: Gauge::new(
                "recipes_stopped_by_workato",
                "Dependent recipes of a WorkatoConnection that Workato stopped by itself (after repeated trigger errors, or at the task limit)",
            ),
            auth_failing: Gauge::new(
                "recipes_auth_failing",
                "Dependent recipes of a WorkatoConnection whose recent jobs failed with a TrackVia 401/403 and have not succeeded since",
            ),
            left_stopped: Gauge::new(
                "recipes_left_stopped",
                "Recipes a CredentialRotation stopped that are not running and that it cannot restart by itself",
            ),
            awaiting_approval: Gauge::new(
                "rotation_awaiting_approval",
                "1 while a scheduled StopAndRestart CredentialRotation waits for a person's approval, else 0",
            ),
            rotation_phase: Gauge::new(
                "rotation_phase",
                "1 for each CredentialRotation's current phase (one series per rotation that has one)",
            ),
        }
    }

    fn all(&self) -> [&Gauge; 12] {
        [
            &self.ready_status,
            &self.ready_since,
            &self.token_expiry,
            &self.renew_before,
            &self.rotation_due,
            &self.rotation_due_since,
            &self.last_rotation,
            &self.stopped_by_workato,
            &self.auth_failing,
            &self.left_stopped,
            &self.awaiting_approval,
            &self.rotation_phase,
        ]
    }

    /// `ready_status` and `ready_condition_since_timestamp_seconds` of an object of `kind`.
    fn ready<K: Resource>(&mut self, kind: &'static str, o: &K, conds: &[Condition]) {
        let ready = conditions::find(conds, types::READY);
        let current = ready
            .map(|c| c.status.as_str())
            .filter(|s| STATUSES.contains(s))
            .unwrap_or("Unknown");
        let mut labels = vec![("kind", kind.to_owned())];
        labels.extend(object(o));
        for status in STATUSES {
            let mut l = labels.clone();
            l.push(("condition", status.to_owned()));
            self.ready_status.set(l, i64::from(status == current));
        }
        if let Some(c) = ready {
            self.ready_since.set(labels, seconds(c.last_transition_time.0));
        }
    }

    fn integration_account(&mut self, ia: &IntegrationAccount, now: Timestamp) {
        let status = ia.status.clone().unwrap_or_default();
        self.ready("IntegrationAccount", ia, &status.common.conditions);
        let policy = ia.spec.rotation.as_ref();
        let labels = object(ia);
        let renew_before = i64::try_from(due::renew_before(policy).as_secs()).unwrap_or(i64::MAX);
        self.renew_before.set(labels.clone(), renew_before);
        let token = status.token.as_ref();
        if let Some(e) = token.and_then(|t| t.expires_at.as_ref()) {
            self.token_expiry.set(labels.clone(), seconds(e.0));
        }
        // As the reconciler decides `RotationDue`: only a token TrackVia accepts is scheduled.
        let valid = conditions::find(&status.common.conditions, types::TOKEN_VALID)
            .is_some_and(|c| c.status == "True");
        let since = token
            .filter(|_| valid)
            .and_then(|t| due::due_since(policy, t, now));
        self.rotation_due.set(labels.clone(), i64::from(since.is_some()));
        if let Some(at) = since {
            self.rotation_due_since.set(labels.clone(), seconds(at));
        }
        if let Some(t) = status.rotation.and_then(|r| r.last_rotation_time) {
            self.last_rotation.set(labels, seconds(t.0));
        }
    }

    fn workato_connection(&mut self, wc: &WorkatoConnection, now: Timestamp) {
        let status = wc.status.clone().unwrap_or_default();
        self.ready("WorkatoConnection", wc, &status.common.conditions);
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.stopped_by_workato
            .set(object(wc), count(workato_connection::stopped_by_workato(&status)));
        self.auth_failing
            .set(object(wc), count(workato_connection::auth_failing(&status, now)));
    }

    fn credential_rotation(&mut self, rot: &CredentialRotation) {
        let empty = CredentialRotationStatus::default();
        let status = rot.status.as_ref().unwrap_or(&empty);
        self.ready("CredentialRotation", rot, &status.common.conditions);
        let left = credential_rotation::recipes_left_stopped(status);
        self.left_stopped
            .set(object(rot), i64::try_from(left).unwrap_or(i64::MAX));
        self.awaiting_approval.set(
            object(rot),
            i64::from(status.phase == Some(RotationPhase::AwaitingApproval)),
        );
        if let Some(p) = status.phase {
            let mut labels = object(rot);
            labels.push(("phase", p.as_str().to_owned()));
            self.rotation_phase.set(labels, 1);
        }
    }

    fn write(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for g in self.all().into_iter().filter(|g| !g.series.is_empty()) {
            let mut family = encoder.encode_descriptor(g.name, g.help, None, MetricType::Gauge)?;
            for (labels, value) in &g.series {
                family.encode_family(labels)?.encode_gauge(value)?;
            }
        }
        Ok(())
    }
}

/// The state metrics of the objects in the controllers' caches.
pub struct StateMetrics {
    accounts: Store<TrackViaAccount>,
    workspaces: Store<WorkatoWorkspace>,
    integrations: Store<IntegrationAccount>,
    connections: Store<WorkatoConnection>,
    rotations: Store<CredentialRotation>,
    clock: Arc<dyn Clock>,
    /// The per-connection counter of failed recipe jobs (counted by the reconciler as it reads
    /// them), and the connections the last scrape saw: a connection gone since loses its series
    /// here, since no reconcile runs for an object that was deleted.
    job_failures: Family<JobFailureLabels, Counter>,
    seen: Mutex<BTreeSet<(String, String)>>,
}

impl StateMetrics {
    /// Reads the caches in `synced`, with `clock` for what depends on time, and drops the
    /// per-connection series of `metrics` that go with a deleted WorkatoConnection.
    pub fn new(synced: &Synced, clock: Arc<dyn Clock>, metrics: &Metrics) -> Self {
        Self {
            accounts: synced.accounts.clone(),
            workspaces: synced.workspaces.clone(),
            integrations: synced.integrations.clone(),
            connections: synced.connections.clone(),
            rotations: synced.rotations.clone(),
            clock,
            job_failures: metrics.recipe_job_failures.clone(),
            seen: Mutex::new(BTreeSet::new()),
        }
    }

    /// Removes the job-failure series of the connections the previous scrape saw and this one
    /// does not.
    fn forget_deleted_connections(&self) {
        let now: BTreeSet<(String, String)> = self
            .connections
            .state()
            .iter()
            .map(|c| (c.namespace().unwrap_or_default(), c.name_any()))
            .collect();
        // A poisoned set is still a set.
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (namespace, name) in seen.difference(&now) {
            for kind in [FailureKind::Auth, FailureKind::Other] {
                self.job_failures.remove(&JobFailureLabels {
                    namespace: namespace.clone(),
                    name: name.clone(),
                    kind: kind.label().to_owned(),
                });
            }
        }
        *seen = now;
    }

    fn gauges(&self) -> Gauges {
        let now = self.clock.now();
        let mut g = Gauges::new();
        for a in self.accounts.state() {
            let conds = a.status.as_ref().map(|s| s.common.conditions.as_slice());
            g.ready("TrackViaAccount", &*a, conds.unwrap_or_default());
        }
        for w in self.workspaces.state() {
            let conds = w.status.as_ref().map(|s| s.common.conditions.as_slice());
            g.ready("WorkatoWorkspace", &*w, conds.unwrap_or_default());
        }
        for ia in self.integrations.state() {
            g.integration_account(&ia, now);
        }
        for wc in self.connections.state() {
            g.workato_connection(&wc, now);
        }
        for r in self.rotations.state() {
            g.credential_rotation(&r);
        }
        g
    }
}

impl std::fmt::Debug for StateMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateMetrics").finish_non_exhaustive()
    }
}

impl Collector for Gauges {
    fn encode(&self, encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        self.write(encoder)
    }
}

impl Collector for StateMetrics {
    fn encode(&self, encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        self.forget_deleted_connections();
        self.gauges().write(encoder)
    }
}

#[cfg(test)]
mod tests;
