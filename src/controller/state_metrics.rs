//! The per-object state metrics, read from the controllers' caches at each scrape (as
//! cert-manager's collectors do): an object's series exist while it is in the cache and go with
//! it, and a value computed from time (is a rotation due now?) is computed at the scrape, with the
//! function the reconciler decides with. The caches of IntegrationAccounts and WorkatoConnections
//! keep just what is read here (see [`super::index`]); a cache may lag a status write by a moment,
//! as any scrape lags the state it reports.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use kube::Resource;
use kube::runtime::reflector::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use super::watches::Synced;
use super::{credential_rotation, workato_connection};
use crate::api::credential_rotation::{CredentialRotationStatus, RotationPhase};
use crate::api::workato_connection::WorkatoConnectionStatus;
use crate::api::{
    Condition, CredentialRotation, IntegrationAccount, TrackViaAccount, WorkatoConnection, WorkatoWorkspace,
};
use crate::clock::Clock;
use crate::conditions::{self, types};
use crate::domain::due;
use crate::domain::jobs::FailureKind;
use crate::metrics::{JobFailureLabels, Metrics};

/// The objects of one scrape: each cache's objects at that moment (shared with the cache, not
/// copied), and the time. Every series is encoded straight from them, its labels borrowed from
/// its object: a scrape allocates nothing per object but the text it answers with.
#[derive(Clone, Debug, Default)]
struct Snapshot {
    accounts: Vec<Arc<TrackViaAccount>>,
    workspaces: Vec<Arc<WorkatoWorkspace>>,
    integrations: Vec<Arc<IntegrationAccount>>,
    connections: Vec<Arc<WorkatoConnection>>,
    rotations: Vec<Arc<CredentialRotation>>,
    now: Timestamp,
}

/// Where a gauge's series go: the label pairs of one series and its value.
type Emit<'e> = dyn FnMut(&[(&'static str, &str)], i64) -> fmt::Result + 'e;

/// `namespace` and `name` labels of an object.
type ObjectLabels<'a> = [(&'static str, &'a str); 2];

/// Visits each object's kind, namespace and name, and `Ready` condition.
type EachReady<'e> = dyn FnMut(&'static str, (&str, &str), Option<&Condition>) -> fmt::Result + 'e;

/// Visits each object's labels and status.
type EachStatus<'e, S> = dyn FnMut(&ObjectLabels<'_>, &S) -> fmt::Result + 'e;

/// One gauge: its name, its help, and how its series come from a snapshot.
struct Gauge {
    name: &'static str,
    help: &'static str,
    series: fn(&Snapshot, &mut Emit<'_>) -> fmt::Result,
}

/// The statuses `ready_status` has a series for.
const STATUSES: [&str; 3] = ["True", "False", "Unknown"];

/// Every state gauge.
const GAUGES: [Gauge; 12] = [
    Gauge {
        name: "ready_status",
        help: "The status of each object's Ready condition: 1 for the current one (True, False or Unknown; Unknown when absent), 0 for the others",
        series: |s, emit| {
            s.each_ready(&mut |kind, (ns, name), ready| {
                let current = ready
                    .map(|c| c.status.as_str())
                    .filter(|st| STATUSES.contains(st))
                    .unwrap_or("Unknown");
                for status in STATUSES {
                    emit(
                        &[
                            ("kind", kind),
                            ("namespace", ns),
                            ("name", name),
                            ("condition", status),
                        ],
                        i64::from(status == current),
                    )?;
                }
                Ok(())
            })
        },
    },
    Gauge {
        name: "ready_condition_since_timestamp_seconds",
        help: "When each object's Ready condition last changed status (Unix time)",
        series: |s, emit| {
            s.each_ready(&mut |kind, (ns, name), ready| match ready {
                Some(c) => emit(
                    &[("kind", kind), ("namespace", ns), ("name", name)],
                    seconds(c.last_transition_time.0),
                ),
                None => Ok(()),
            })
        },
    },
    Gauge {
        name: "token_expiry_timestamp_seconds",
        help: "When each IntegrationAccount's token expires (Unix time), when known",
        series: |s, emit| {
            for ia in &s.integrations {
                let expires = ia
                    .status
                    .as_ref()
                    .and_then(|st| st.token.as_ref()?.expires_at.as_ref());
                if let Some(e) = expires {
                    emit(&object(&**ia), seconds(e.0))?;
                }
            }
            Ok(())
        },
    },
    Gauge {
        name: "token_renew_before_seconds",
        help: "How long before its token expires (or its rotation interval ends) each IntegrationAccount's rotation becomes due: the effective spec.rotation.renewBefore",
        series: |s, emit| {
            for ia in &s.integrations {
                let secs = due::renew_before(ia.spec.rotation.as_ref()).as_secs();
                emit(&object(&**ia), i64::try_from(secs).unwrap_or(i64::MAX))?;
            }
            Ok(())
        },
    },
    Gauge {
        name: "rotation_due",
        help: "1 while an IntegrationAccount's rotation is due (its token is valid and expires, or its interval ends, within renewBefore), else 0",
        series: |s, emit| {
            for ia in &s.integrations {
                emit(&object(&**ia), i64::from(due_since(ia, s.now).is_some()))?;
            }
            Ok(())
        },
    },
    Gauge {
        name: "rotation_due_since_timestamp_seconds",
        help: "Since when a due IntegrationAccount's rotation has been due (Unix time): the expiry, or the end of the interval, minus renewBefore",
        series: |s, emit| {
            for ia in &s.integrations {
                if let Some(at) = due_since(ia, s.now) {
                    emit(&object(&**ia), seconds(at))?;
                }
            }
            Ok(())
        },
    },
    Gauge {
        name: "last_successful_rotation_timestamp_seconds",
        help: "When each IntegrationAccount's last rotation succeeded (Unix time), when one did",
        series: |s, emit| {
            for ia in &s.integrations {
                let last = ia
                    .status
                    .as_ref()
                    .and_then(|st| st.rotation.as_ref()?.last_rotation_time.as_ref());
                if let Some(t) = last {
                    emit(&object(&**ia), seconds(t.0))?;
                }
            }
            Ok(())
        },
    },
    Gauge {
        name: "recipes_stopped_by_workato",
        help: "Dependent recipes of a WorkatoConnection that Workato stopped by itself (after repeated trigger errors, or at the task limit)",
        series: |s, emit| {
            s.each_connection(&mut |labels, status| {
                emit(labels, count(workato_connection::stopped_by_workato(status)))
            })
        },
    },
    Gauge {
        name: "recipes_auth_failing",
        help: "Dependent recipes of a WorkatoConnection whose recent jobs failed with a TrackVia 401/403 and have not succeeded since",
        series: |s, emit| {
            s.each_connection(&mut |labels, status| {
                emit(labels, count(workato_connection::auth_failing(status, s.now)))
            })
        },
    },
    Gauge {
        name: "recipes_left_stopped",
        help: "Recipes a CredentialRotation stopped that are not running and that it cannot restart by itself",
        series: |s, emit| {
            s.each_rotation(&mut |labels, status| {
                emit(labels, count(credential_rotation::recipes_left_stopped(status)))
            })
        },
    },
    Gauge {
        name: "rotation_awaiting_approval",
        help: "1 while a scheduled StopAndRestart CredentialRotation waits for a person's approval, else 0",
        series: |s, emit| {
            s.each_rotation(&mut |labels, status| {
                emit(
                    labels,
                    i64::from(status.phase == Some(RotationPhase::AwaitingApproval)),
                )
            })
        },
    },
    Gauge {
        name: "rotation_phase",
        help: "1 for each CredentialRotation's current phase (one series per rotation that has one)",
        series: |s, emit| {
            s.each_rotation(&mut |&[ns, name], status| match status.phase {
                Some(p) => emit(&[ns, name, ("phase", p.as_str())], 1),
                None => Ok(()),
            })
        },
    },
];

/// The namespace and name of an object.
fn ns_name<K: Resource>(o: &K) -> (&str, &str) {
    let m = o.meta();
    (
        m.namespace.as_deref().unwrap_or_default(),
        m.name.as_deref().unwrap_or_default(),
    )
}

/// `namespace` and `name` of an object, as labels.
fn object<K: Resource>(o: &K) -> ObjectLabels<'_> {
    let (ns, name) = ns_name(o);
    [("namespace", ns), ("name", name)]
}

fn seconds(t: Timestamp) -> i64 {
    t.as_second()
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Since when an IntegrationAccount's rotation is due, if it is: as the reconciler decides
/// `RotationDue`, only a token TrackVia accepts is scheduled.
fn due_since(ia: &IntegrationAccount, now: Timestamp) -> Option<Timestamp> {
    let status = ia.status.as_ref()?;
    let valid =
        conditions::find(&status.common.conditions, types::TOKEN_VALID).is_some_and(|c| c.status == "True");
    let token = status.token.as_ref().filter(|_| valid)?;
    due::due_since(ia.spec.rotation.as_ref(), token, now)
}

/// The `Ready` condition among `conds`.
fn ready_of(conds: Option<&[Condition]>) -> Option<&Condition> {
    conditions::find(conds.unwrap_or_default(), types::READY)
}

impl Snapshot {
    /// Every object of every kind: its kind, namespace and name, and its `Ready` condition.
    fn each_ready(&self, f: &mut EachReady<'_>) -> fmt::Result {
        fn kind<K: Resource>(
            kind: &'static str,
            objects: &[Arc<K>],
            conditions: for<'a> fn(&'a K) -> Option<&'a [Condition]>,
            f: &mut EachReady<'_>,
        ) -> fmt::Result {
            for o in objects {
                f(kind, ns_name(&**o), ready_of(conditions(o)))?;
            }
            Ok(())
        }
        kind(
            "TrackViaAccount",
            &self.accounts,
            |a| Some(&a.status.as_ref()?.common.conditions),
            f,
        )?;
        kind(
            "WorkatoWorkspace",
            &self.workspaces,
            |w| Some(&w.status.as_ref()?.common.conditions),
            f,
        )?;
        kind(
            "IntegrationAccount",
            &self.integrations,
            |i| Some(&i.status.as_ref()?.common.conditions),
            f,
        )?;
        kind(
            "WorkatoConnection",
            &self.connections,
            |c| Some(&c.status.as_ref()?.common.conditions),
            f,
        )?;
        kind(
            "CredentialRotation",
            &self.rotations,
            |r| Some(&r.status.as_ref()?.common.conditions),
            f,
        )
    }

    /// Every WorkatoConnection: its labels and its status (empty when it has none yet).
    fn each_connection(&self, f: &mut EachStatus<'_, WorkatoConnectionStatus>) -> fmt::Result {
        let empty = WorkatoConnectionStatus::default();
        for wc in &self.connections {
            f(&object(&**wc), wc.status.as_ref().unwrap_or(&empty))?;
        }
        Ok(())
    }

    /// Every CredentialRotation: its labels and its status (empty when it has none yet).
    fn each_rotation(&self, f: &mut EachStatus<'_, CredentialRotationStatus>) -> fmt::Result {
        let empty = CredentialRotationStatus::default();
        for r in &self.rotations {
            f(&object(&**r), r.status.as_ref().unwrap_or(&empty))?;
        }
        Ok(())
    }

    /// Encodes every gauge that has a series.
    fn write(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        for g in &GAUGES {
            // Whether the gauge has a series: its first one ends the walk (as an "error", the
            // only thing a walk returns early for).
            if (g.series)(self, &mut |_, _| Err(fmt::Error)).is_ok() {
                continue;
            }
            let mut family = encoder.encode_descriptor(g.name, g.help, None, MetricType::Gauge)?;
            (g.series)(self, &mut |labels, value| {
                family.encode_family(&labels)?.encode_gauge(&value)
            })?;
        }
        Ok(())
    }
}

impl Collector for Snapshot {
    fn encode(&self, encoder: DescriptorEncoder) -> fmt::Result {
        self.write(encoder)
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
    fn forget_deleted_connections(&self, snapshot: &Snapshot) {
        let now: HashSet<(&str, &str)> = snapshot
            .connections
            .iter()
            .map(|c| {
                let m = c.meta();
                (
                    m.namespace.as_deref().unwrap_or_default(),
                    m.name.as_deref().unwrap_or_default(),
                )
            })
            .collect();
        // A poisoned set is still a set.
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.retain(|(namespace, name)| {
            let present = now.contains(&(namespace.as_str(), name.as_str()));
            if !present {
                for kind in [FailureKind::Auth, FailureKind::Other] {
                    self.job_failures.remove(&JobFailureLabels {
                        namespace: namespace.clone(),
                        name: name.clone(),
                        kind: kind.label().to_owned(),
                    });
                }
            }
            present
        });
        if seen.len() < now.len() {
            for (namespace, name) in now {
                if !seen.contains(&(namespace.to_owned(), name.to_owned())) {
                    seen.insert((namespace.to_owned(), name.to_owned()));
                }
            }
        }
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            accounts: self.accounts.state(),
            workspaces: self.workspaces.state(),
            integrations: self.integrations.state(),
            connections: self.connections.state(),
            rotations: self.rotations.state(),
            now: self.clock.now(),
        }
    }
}

impl std::fmt::Debug for StateMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateMetrics").finish_non_exhaustive()
    }
}

impl Collector for StateMetrics {
    fn encode(&self, encoder: DescriptorEncoder) -> fmt::Result {
        let snapshot = self.snapshot();
        self.forget_deleted_connections(&snapshot);
        snapshot.write(encoder)
    }
}

#[cfg(test)]
mod tests;
