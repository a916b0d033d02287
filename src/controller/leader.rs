//! Leader election through a `coordination.k8s.io/v1` Lease, so that two replicas never reconcile
//! (and never rotate) at once. The holder renews every `renew`; a candidate takes the Lease over
//! once `duration` has passed since the last renewal. Every write carries the resourceVersion it
//! read, so two candidates can never both win.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

use crate::reconcile::Error;

/// Who competes for which Lease.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// Lease name.
    pub name: String,
    /// Lease namespace (the operator's own).
    pub namespace: String,
    /// This replica's identity (the pod name).
    pub identity: String,
    /// How long a Lease lasts without renewal.
    pub duration: Duration,
    /// How often the holder renews it.
    pub renew: Duration,
}

/// The outcome of one attempt.
enum Attempt {
    /// We hold the Lease.
    Held,
    /// Someone else does, until about then.
    Busy(String),
}

/// Waits until this replica holds the Lease. While another replica holds it, this one stands by,
/// and `standing_by` is set: a standby can serve (it is up and can take over), so a rolling
/// update may go on and stop the old leader.
pub async fn acquire(client: &Client, cfg: &LeaseConfig, standing_by: &AtomicBool) -> Result<(), Error> {
    let mut logged = false;
    let mut away_since: Option<tokio::time::Instant> = None;
    loop {
        match try_hold(client, cfg).await {
            Ok(Attempt::Held) => {
                tracing::info!(lease = %cfg.name, identity = %cfg.identity, "leadership acquired");
                standing_by.store(false, Ordering::SeqCst);
                return Ok(());
            }
            Ok(Attempt::Busy(holder)) => {
                away_since = None;
                standing_by.store(true, Ordering::SeqCst);
                if !logged {
                    tracing::info!(lease = %cfg.name, %holder, "waiting for leadership");
                    logged = true;
                }
            }
            // A standby outlives an API server restart: it keeps waiting (a pod restart would
            // only bring it back here).
            Err(e) if e.is_api_server_away() => {
                if away_since.is_none_or(|t| t.elapsed() >= Duration::from_secs(30)) {
                    tracing::warn!(error = %e, "waiting for leadership: the Kubernetes API server does not answer");
                    away_since = Some(tokio::time::Instant::now());
                }
            }
            Err(e) => return Err(e),
        }
        tokio::time::sleep(cfg.renew).await;
    }
}

/// Renews the Lease until it is lost (someone else holds it, or renewals failed for longer than
/// the Lease lasts); then returns, and the caller must stop reconciling.
pub async fn hold(client: &Client, cfg: &LeaseConfig) {
    let mut last_renewal = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(cfg.renew).await;
        match try_hold(client, cfg).await {
            Ok(Attempt::Held) => last_renewal = tokio::time::Instant::now(),
            Ok(Attempt::Busy(holder)) => {
                tracing::error!(%holder, "leadership lost to another replica");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not renew the leader Lease");
                if last_renewal.elapsed() >= cfg.duration {
                    tracing::error!("leadership expired: renewals failed for the whole Lease duration");
                    return;
                }
            }
        }
    }
}

/// Gives the Lease up, if this replica holds it, as a replica that stops does (SIGTERM): the
/// standby takes it at its next attempt instead of waiting for it to expire. Best effort: a
/// failure only means the standby waits for the expiry.
pub async fn release(client: &Client, cfg: &LeaseConfig) {
    let api: Api<Lease> = Api::namespaced(client.clone(), &cfg.namespace);
    let mut lease = match api.get_opt(&cfg.name).await {
        Ok(Some(lease)) => lease,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the leader Lease to release it");
            return;
        }
    };
    let spec = lease.spec.get_or_insert_with(Default::default);
    if spec.holder_identity.as_deref() != Some(cfg.identity.as_str()) {
        return;
    }
    spec.holder_identity = None;
    spec.lease_duration_seconds = Some(1);
    spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
    // replace() sends the resourceVersion we read: if someone else wrote it since, it is theirs.
    match api.replace(&cfg.name, &PostParams::default(), &lease).await {
        Ok(_) => tracing::info!(lease = %cfg.name, identity = %cfg.identity, "released the leader Lease"),
        Err(e) => {
            tracing::warn!(error = %e, "could not release the leader Lease; the standby waits for it to expire")
        }
    }
}

async fn try_hold(client: &Client, cfg: &LeaseConfig) -> Result<Attempt, Error> {
    let api: Api<Lease> = Api::namespaced(client.clone(), &cfg.namespace);
    let now = MicroTime(jiff::Timestamp::now());
    let secs = i32::try_from(cfg.duration.as_secs()).unwrap_or(i32::MAX);
    let Some(mut lease) = api
        .get_opt(&cfg.name)
        .await
        .map_err(Error::kube("reading the leader Lease"))?
    else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(cfg.name.clone()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(cfg.identity.clone()),
                lease_duration_seconds: Some(secs),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..Default::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(Attempt::Held),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::Busy("another replica".into())),
            Err(e) => Err(Error::Kube {
                op: "creating the leader Lease",
                source: e,
            }),
        };
    };
    let spec = lease.spec.get_or_insert_with(Default::default);
    let holder = spec.holder_identity.clone().unwrap_or_default();
    let expired = spec
        .renew_time
        .as_ref()
        .and_then(|t| {
            t.0.checked_add(jiff::SignedDuration::from_secs(i64::from(
                spec.lease_duration_seconds.unwrap_or(secs),
            )))
            .ok()
        })
        .is_none_or(|until| until <= now.0);
    if holder != cfg.identity && !expired && !holder.is_empty() {
        return Ok(Attempt::Busy(holder));
    }
    if holder != cfg.identity {
        spec.acquire_time = Some(now.clone());
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    }
    spec.holder_identity = Some(cfg.identity.clone());
    spec.lease_duration_seconds = Some(secs);
    spec.renew_time = Some(now);
    // replace() sends the resourceVersion we read: a concurrent writer makes this a 409.
    match api.replace(&cfg.name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(Attempt::Held),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::Busy("another replica".into())),
        Err(e) => Err(Error::Kube {
            op: "renewing the leader Lease",
            source: e,
        }),
    }
}
