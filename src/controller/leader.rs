//! Leader election through a `coordination.k8s.io/v1` Lease, so that two replicas never reconcile
//! (and never rotate) at once. Every write carries the resourceVersion it read, so two candidates
//! can never both win.
//!
//! Two clocks, never compared: the holder renews every `renew` and stops leading when no renewal
//! has succeeded for `renew_deadline` (counted from the start of the last one that did; an
//! attempt that hangs is given up after a fifth of the deadline and tried again, so a renewal
//! that hangs in a partition cannot keep it leading). A candidate takes the Lease over once it has seen the Lease unchanged for the Lease's
//! duration, on its own clock, as client-go does: the `renewTime` a holder on another node writes
//! is never compared with the candidate's clock. The candidate saw the last renewal after it
//! started, so the holder stops at least `duration - renew_deadline` before anyone else leads.
//!
//! A standby also watches the Lease (that one object): when a leader that stops lets it go, the
//! standby takes it at once rather than at its next attempt.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
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
    /// How long the holder goes on leading without a successful renewal: longer than `renew`,
    /// shorter than `duration` (the difference is the time it has to stop).
    pub renew_deadline: Duration,
}

impl LeaseConfig {
    /// The renew deadline when none is given: two thirds of the Lease duration (client-go's
    /// defaults are 10 s of 15 s).
    pub fn default_renew_deadline(duration: Duration) -> Duration {
        duration * 2 / 3
    }

    /// Why these intervals cannot work, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.renew.is_zero() || self.renew >= self.renew_deadline || self.renew_deadline >= self.duration {
            return Err(format!(
                "the Lease intervals must be 0 < renew interval ({:?}) < renew deadline ({:?}) < Lease duration ({:?})",
                self.renew, self.renew_deadline, self.duration
            ));
        }
        Ok(())
    }
}

/// What a replica last saw of the Lease (its resourceVersion) and when, by its own clock.
struct Observed {
    version: String,
    at: tokio::time::Instant,
}

/// Whether a Lease of resourceVersion `version` has not changed for `duration` as this replica has
/// seen it; records a change.
fn unchanged_for(observed: &mut Option<Observed>, version: &str, duration: Duration) -> bool {
    match observed {
        Some(o) if o.version == version => o.at.elapsed() >= duration,
        _ => {
            *observed = Some(Observed {
                version: version.to_owned(),
                at: tokio::time::Instant::now(),
            });
            false
        }
    }
}

/// The outcome of one attempt.
enum Attempt {
    /// We hold the Lease.
    Held,
    /// Someone else does, until about then.
    Busy(String),
}

/// A wake-up each time the Lease is let go (no holder) or deleted. A leader that stops releases
/// its Lease: the standby tries at once instead of at its next attempt, so a rolling update hands
/// over in about a second rather than up to a renew interval later. Without the watch (refused,
/// or the API server away) the standby still tries every renew interval.
fn releases(client: &Client, cfg: &LeaseConfig) -> impl Stream<Item = ()> + Send + use<> {
    let api: Api<Lease> = Api::namespaced(client.clone(), &cfg.namespace);
    let this_lease = watcher::Config::default().fields(&format!("metadata.name={}", cfg.name));
    watcher(api, this_lease).default_backoff().filter_map(|e| {
        futures::future::ready(match e {
            Ok(watcher::Event::Apply(l) | watcher::Event::InitApply(l)) => {
                let holder = l.spec.and_then(|s| s.holder_identity).unwrap_or_default();
                holder.is_empty().then_some(())
            }
            Ok(watcher::Event::Delete(_)) => Some(()),
            Ok(_) => None,
            Err(e) => {
                tracing::debug!(error = %e, "watching the leader Lease");
                None
            }
        })
    })
}

/// Waits until this replica holds the Lease; returns when the attempt that took it started, the
/// time its term counts from (see [`hold`]). While another replica holds it, this one stands by,
/// and `standing_by` is set: a standby can serve (it is up and can take over), so a rolling
/// update may go on and stop the old leader.
pub async fn acquire(
    client: &Client,
    cfg: &LeaseConfig,
    standing_by: &AtomicBool,
) -> Result<tokio::time::Instant, Error> {
    let mut logged = false;
    let mut away_since: Option<tokio::time::Instant> = None;
    let mut observed = None;
    let mut released = std::pin::pin!(releases(client, cfg));
    loop {
        let attempt = tokio::time::Instant::now();
        match try_hold(client, cfg, &mut observed).await {
            Ok(Attempt::Held) => {
                tracing::info!(lease = %cfg.name, identity = %cfg.identity, "leadership acquired");
                standing_by.store(false, Ordering::SeqCst);
                return Ok(attempt);
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
        tokio::select! {
            () = tokio::time::sleep(cfg.renew) => {}
            Some(()) = released.next() => {}
        }
    }
}

/// Renews the Lease until it is lost (someone else holds it, or no renewal succeeded within the
/// renew deadline); then returns, and the caller must stop reconciling. `since` is when the
/// attempt that took the Lease started ([`acquire`]): the deadline counts from there, not from
/// the answer, which may have come seconds after the write took effect, and a candidate counts
/// the Lease's expiry from when it saw that write.
pub async fn hold(client: &Client, cfg: &LeaseConfig, since: tokio::time::Instant) {
    let mut renewed = since;
    let mut wait = cfg.renew.saturating_sub(since.elapsed());
    loop {
        if renewed.elapsed() >= cfg.renew_deadline {
            tracing::error!(
                deadline = ?cfg.renew_deadline,
                "leadership given up: no renewal succeeded within the renew deadline"
            );
            return;
        }
        tokio::time::sleep(wait).await;
        let attempt = tokio::time::Instant::now();
        let left = cfg.renew_deadline.saturating_sub(renewed.elapsed());
        // One attempt may hang (a connection that died while the process was frozen, a request
        // lost): it is given up after a fifth of the deadline, and the next one goes at once,
        // on a new connection.
        let patience = (cfg.renew_deadline / 5).max(Duration::from_millis(500)).min(left);
        // The holder never waits for its own Lease to expire: nothing to remember of it.
        match tokio::time::timeout(patience, try_hold(client, cfg, &mut None)).await {
            Ok(Ok(Attempt::Held)) => {
                renewed = attempt;
                wait = cfg.renew;
                continue;
            }
            Ok(Ok(Attempt::Busy(holder))) => {
                tracing::error!(%holder, "leadership lost to another replica");
                return;
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not renew the leader Lease");
                // Sooner than a renewal, and closer together as the deadline nears, so that an
                // API server back just before it still finds an attempt with time to answer.
                let left = cfg.renew_deadline.saturating_sub(renewed.elapsed());
                wait = (cfg.renew / 2)
                    .min(left / 2)
                    .max(Duration::from_millis(200))
                    .min(left);
            }
            Err(_) => {
                tracing::warn!(after = ?patience, "could not renew the leader Lease: no answer");
                wait = Duration::ZERO;
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

async fn try_hold(
    client: &Client,
    cfg: &LeaseConfig,
    observed: &mut Option<Observed>,
) -> Result<Attempt, Error> {
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
    let version = lease.metadata.resource_version.clone().unwrap_or_default();
    let spec = lease.spec.get_or_insert_with(Default::default);
    let holder = spec.holder_identity.clone().unwrap_or_default();
    let duration = spec
        .lease_duration_seconds
        .and_then(|s| u64::try_from(s).ok())
        .map_or(cfg.duration, Duration::from_secs);
    let expired = unchanged_for(observed, &version, duration);
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use http::{Method, Request, Response};
    use kube::client::Body;
    use tokio::time::Instant;

    use super::*;

    /// One API server's Leases (one namespace, one Lease), answering each request after a delay
    /// drawn for it: some take effect late, some are answered late after they took effect (the
    /// write is done, its answer is not back), some fail with a 500.
    struct Server {
        lease: Option<Lease>,
        version: u64,
        rng: fastrand::Rng,
    }

    fn answer(code: u16, body: &serde_json::Value) -> Response<Body> {
        Response::builder()
            .status(code)
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(body).unwrap()))
            .unwrap()
    }

    fn failure(code: u16, reason: &str) -> Response<Body> {
        answer(
            code,
            &serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": reason, "reason": reason, "code": code}),
        )
    }

    impl Server {
        /// What a request does, once it takes effect.
        fn serve(&mut self, method: &Method, path: &str, body: &[u8]) -> Response<Body> {
            let named = path.rsplit_once("/leases/").is_some();
            let sent = || serde_json::from_slice::<Lease>(body).unwrap();
            match (method.as_str(), named, &self.lease) {
                // The standby's watch is refused here: it tries every renew interval.
                ("GET", false, _) => failure(403, "Forbidden"),
                ("GET", true, Some(l)) => answer(200, &serde_json::to_value(l).unwrap()),
                ("GET" | "PUT", true, None) => failure(404, "NotFound"),
                ("POST", false, Some(_)) => failure(409, "AlreadyExists"),
                ("POST", false, None) | ("PUT", true, Some(_)) => {
                    let mut lease = sent();
                    let current = self
                        .lease
                        .as_ref()
                        .and_then(|l| l.metadata.resource_version.clone());
                    if lease.metadata.resource_version != current {
                        return failure(409, "Conflict");
                    }
                    self.version += 1;
                    lease.metadata.resource_version = Some(self.version.to_string());
                    let stored = serde_json::to_value(&lease).unwrap();
                    self.lease = Some(lease);
                    answer(if *method == Method::POST { 201 } else { 200 }, &stored)
                }
                _ => failure(405, "MethodNotAllowed"),
            }
        }

        /// Delay before the request takes effect, delay of its answer after that, and whether it
        /// fails (a 500) instead of taking effect, or after it took effect (a timeout in the API
        /// server after the write: "may or may not have been applied").
        fn draw(&mut self) -> (Duration, Duration, Fails) {
            let late = |rng: &mut fastrand::Rng| match rng.u8(0..10) {
                0 => Duration::from_millis(rng.u64(0..8000)),
                1 | 2 => Duration::from_millis(rng.u64(0..500)),
                _ => Duration::ZERO,
            };
            let before = late(&mut self.rng);
            let after = late(&mut self.rng);
            let fails = match self.rng.u8(0..40) {
                0 => Fails::Instead,
                1 => Fails::After,
                _ => Fails::No,
            };
            (before, after, fails)
        }
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Fails {
        No,
        Instead,
        After,
    }

    /// A client of `server`. A request the client gives up on (a timeout) still reaches the
    /// server and takes effect, as a request on the wire does.
    fn client_of(server: Arc<Mutex<Server>>) -> Client {
        let service = tower::service_fn(move |req: Request<Body>| {
            let server = server.clone();
            async move {
                let (parts, body) = req.into_parts();
                let body = body.collect_bytes().await.unwrap_or_default();
                let (before, after, fails) = server.lock().unwrap().draw();
                let (tx, rx) = tokio::sync::oneshot::channel();
                tokio::spawn(async move {
                    tokio::time::sleep(before).await;
                    let mut response = match fails {
                        Fails::Instead => failure(500, "InternalError"),
                        _ => server
                            .lock()
                            .unwrap()
                            .serve(&parts.method, parts.uri.path(), &body),
                    };
                    if fails == Fails::After {
                        response = failure(500, "InternalError");
                    }
                    tokio::time::sleep(after).await;
                    let _ = tx.send(response);
                });
                Ok::<_, std::convert::Infallible>(rx.await.unwrap_or_else(|_| failure(500, "InternalError")))
            }
        });
        Client::new(service, "ns")
    }

    /// (replica, from, until) of a term of leadership; an open term has no end yet.
    type Term = (usize, Instant, Option<Instant>);

    /// Safety of leader election: generated runs of three replicas against one API server whose
    /// every request may take effect late, be answered late, or fail. A replica leads from the
    /// moment `acquire` returns until `hold` returns (as `run` does); no two replicas ever lead
    /// at the same moment.
    #[tokio::test(start_paused = true)]
    async fn generated_runs_never_have_two_leaders_at_once() {
        let cfg = |identity: &str| LeaseConfig {
            name: "lease".into(),
            namespace: "ns".into(),
            identity: identity.into(),
            duration: Duration::from_secs(6),
            renew: Duration::from_secs(1),
            renew_deadline: Duration::from_secs(4),
        };
        for seed in 0..20 {
            let server = Arc::new(Mutex::new(Server {
                lease: None,
                version: 0,
                rng: fastrand::Rng::with_seed(seed),
            }));
            let terms: Arc<Mutex<Vec<Term>>> = Arc::default();
            let replicas: Vec<_> = (0..3)
                .map(|id| {
                    let (client, terms) = (client_of(server.clone()), terms.clone());
                    let cfg = cfg(&format!("r{id}"));
                    tokio::spawn(async move {
                        let standing_by = AtomicBool::new(false);
                        loop {
                            let Ok(since) = acquire(&client, &cfg, &standing_by).await else {
                                tokio::time::sleep(cfg.renew).await;
                                continue;
                            };
                            let term = {
                                let mut t = terms.lock().unwrap();
                                t.push((id, Instant::now(), None));
                                t.len() - 1
                            };
                            hold(&client, &cfg, since).await;
                            terms.lock().unwrap()[term].2 = Some(Instant::now());
                        }
                    })
                })
                .collect();
            tokio::time::sleep(Duration::from_secs(600)).await;
            let end = Instant::now();
            for r in replicas {
                r.abort();
            }
            let terms = terms.lock().unwrap().clone();
            assert!(terms.len() > 1, "seed {seed}: leadership never moved");
            for (i, &(a, from_a, until_a)) in terms.iter().enumerate() {
                for &(b, from_b, until_b) in &terms[i + 1..] {
                    let overlap = from_a.max(from_b) < until_a.unwrap_or(end).min(until_b.unwrap_or(end));
                    assert!(
                        a == b || !overlap,
                        "seed {seed}: r{a} led {:?}..{:?} and r{b} led {:?}..{:?} (s from the start)",
                        from_a - (end - Duration::from_secs(600)),
                        until_a.map(|u| u - (end - Duration::from_secs(600))),
                        from_b - (end - Duration::from_secs(600)),
                        until_b.map(|u| u - (end - Duration::from_secs(600))),
                    );
                }
            }
        }
    }

    /// An API server that accepts connections and never answers: a network partition as the
    /// leader sees it.
    async fn silent_api_server() -> (Client, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url: http::Uri = format!("http://{}", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((conn, _)) = listener.accept().await {
                open.push(conn);
            }
        });
        let client = Client::try_from(kube::Config::new(url)).unwrap();
        (client, held)
    }

    /// A leader that cannot renew stops leading before a candidate may take the Lease over
    /// (`duration` after the last renewal it saw), even when the renewals hang instead of failing.
    #[tokio::test]
    async fn a_leader_whose_renewals_hang_steps_down_before_the_lease_expires() {
        let (client, _server) = silent_api_server().await;
        let cfg = LeaseConfig {
            name: "lease".into(),
            namespace: "ns".into(),
            identity: "me".into(),
            duration: Duration::from_secs(3),
            renew: Duration::from_millis(500),
            renew_deadline: Duration::from_secs(2),
        };
        let started = tokio::time::Instant::now();
        let stepped_down = tokio::time::timeout(
            Duration::from_secs(10),
            hold(&client, &cfg, tokio::time::Instant::now()),
        )
        .await;
        assert!(stepped_down.is_ok(), "still leading after 10 s without a renewal");
        assert!(
            started.elapsed() < cfg.duration,
            "stepped down after {:?}, when a candidate could lead after {:?}",
            started.elapsed(),
            cfg.duration
        );
    }
}
