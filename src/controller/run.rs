//! Running the operator: the admin HTTP server, the CRD check, the fingerprint key, leadership,
//! the controllers (built in [`super::watches`]), readiness and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};

use super::leader::{self, LeaseConfig};
use super::shutdown::Shutdown;
use super::state_metrics::StateMetrics;
use super::watches::{SharedCaches, Synced, Watches, api};
use crate::api::{IntegrationAccount, TrackViaAccount, WorkatoWorkspace};
use crate::clock::SystemClock;
use crate::metrics::Metrics;
use crate::reconcile::{Context, Error, Settings};
use crate::secret::Sensitive;

/// How the operator runs.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Watch only this namespace (default: all).
    pub namespace: Option<String>,
    /// The operator's own namespace (holds the fingerprint key Secret).
    pub operator_namespace: String,
    /// Admin server address (`/metrics`, `/healthz`, `/readyz`).
    pub admin_addr: SocketAddr,
    /// Intervals.
    pub settings: Settings,
    /// Leader election; `None` runs without (a single replica).
    pub leader: Option<LeaseConfig>,
    /// Reconciles of one kind that run at once (0: no limit).
    pub concurrency: u16,
}

/// Name of the Secret holding the key of the token fingerprints.
pub const FINGERPRINT_KEY_SECRET: &str = "trackvia-operator-fingerprint-key";

/// Reads, or creates once, the key that makes status fingerprints unguessable and stable across
/// restarts.
pub async fn fingerprint_key(client: &Client, namespace: &str) -> Result<Sensitive<Vec<u8>>, Error> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let read = |s: &Secret| {
        s.data
            .as_ref()
            .and_then(|d| d.get("key"))
            .map(|b| b.0.clone())
            .filter(|k| k.len() >= 32)
    };
    if let Some(s) = secrets
        .get_opt(FINGERPRINT_KEY_SECRET)
        .await
        .map_err(Error::kube("reading the fingerprint key"))?
        && let Some(k) = read(&s)
    {
        return Ok(Sensitive::new(k));
    }
    let key: Vec<u8> = (0..32).map(|_| fastrand::u8(..)).collect();
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(FINGERPRINT_KEY_SECRET.into()),
            ..Default::default()
        },
        data: Some([("key".to_owned(), k8s_openapi::ByteString(key.clone()))].into()),
        ..Default::default()
    };
    match secrets.create(&PostParams::default(), &secret).await {
        Ok(_) => Ok(Sensitive::new(key)),
        // Another replica created it first: use theirs.
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let s = secrets
                .get(FINGERPRINT_KEY_SECRET)
                .await
                .map_err(Error::kube("reading the fingerprint key"))?;
            read(&s)
                .map(Sensitive::new)
                .ok_or(Error::Malformed("fingerprint key"))
        }
        Err(e) => Err(Error::Kube {
            op: "creating the fingerprint key",
            source: e,
        }),
    }
}

/// Runs `attempt` until it succeeds or fails for a reason other than an API server that is away
/// (see [`Error::is_api_server_away`]), once a second, logging the wait every 30 s.
async fn patiently<T, F, Fut>(what: &str, mut attempt: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let mut waited = 0u32;
    loop {
        match attempt().await {
            Err(e) if e.is_api_server_away() => {
                if waited.is_multiple_of(30) {
                    tracing::warn!(error = %e, "{what}: the Kubernetes API server does not answer; waiting for it");
                }
                waited += 1;
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            other => return other,
        }
    }
}

/// Runs every controller until a termination signal.
pub async fn run(kube_config: kube::Config, config: RunConfig) -> Result<(), Error> {
    // Listened for before anything else: a stop request ends whichever phase is under way.
    let shutdown = Shutdown::listen();
    let ns = config.namespace.as_deref();
    // The admin server comes first. Liveness holds throughout; readiness turns true while this
    // replica stands by for the Lease, and, once it leads, when its caches have synced.
    let metrics = Arc::new(Metrics::new());
    let client = crate::reconcile::kube_client::counted(kube_config, metrics.clone()).map_err(|source| {
        Error::Kube {
            op: "building the Kubernetes client",
            source,
        }
    })?;
    let ready = Arc::new(AtomicBool::new(false));
    let server = tokio::spawn(crate::server::serve(
        config.admin_addr,
        metrics.clone(),
        ready.clone(),
    ));
    // Everything before leading ends on a stop request: a standby told to stop (a rolling update
    // scaling the old pods down) exits now and must not take the Lease on its way out.
    let started = shutdown.unless_requested(async {
        // Fail early, with a hint, when the CRDs are not installed. An API server that does not
        // answer yet (starting, restarting) is waited for, here and until leadership is won:
        // exiting would only restart the process into the same wait (with a hint about CRDs
        // that is wrong).
        patiently("checking that the CRDs are installed", || async {
            let crds_hint = "listing the operator's kinds (are the CRDs installed? kubectl apply -f crds/)";
            let one = ListParams::default().limit(1);
            api::<TrackViaAccount>(&client, ns)
                .list(&one)
                .await
                .map_err(Error::kube(crds_hint))?;
            api::<IntegrationAccount>(&client, ns)
                .list(&one)
                .await
                .map_err(Error::kube(crds_hint))?;
            api::<WorkatoWorkspace>(&client, ns)
                .list(&one)
                .await
                .map_err(Error::kube(crds_hint))?;
            Ok(())
        })
        .await?;
        patiently("reading the fingerprint key", || {
            fingerprint_key(&client, &config.operator_namespace)
        })
        .await
    });
    let outcome = match started.await.transpose()? {
        Some(key) => {
            Replica {
                client: &client,
                config: &config,
                metrics: &metrics,
                ready: &ready,
                shutdown: &shutdown,
            }
            .lead_while_elected(key)
            .await
        }
        None => Ok(()),
    };
    ready.store(false, Ordering::SeqCst);
    server.abort();
    tracing::info!("stopped");
    outcome
}

/// What a replica runs with once started.
struct Replica<'a> {
    client: &'a Client,
    config: &'a RunConfig,
    metrics: &'a Arc<Metrics>,
    ready: &'a Arc<AtomicBool>,
    shutdown: &'a Shutdown,
}

impl Replica<'_> {
    /// Stands by for the Lease and leads, until a stop request. A replica that loses leadership
    /// (its renewals failed for the renew deadline: an API server away, a partition) stops its
    /// controllers and stands by again, as a restarted process would, without a restart: it
    /// usually takes its own Lease back as soon as the API server answers.
    async fn lead_while_elected(&self, key: Sensitive<Vec<u8>>) -> Result<(), Error> {
        let Self {
            client,
            config,
            ready,
            shutdown,
            ..
        } = *self;
        loop {
            // With leader election: the Lease, and when the attempt that took it started (the
            // term counts from there).
            let term = match &config.leader {
                Some(lease) => {
                    let elected = shutdown
                        .unless_requested(leader::acquire(client, lease, ready))
                        .await;
                    let Some(since) = elected.transpose()? else {
                        tracing::info!("stopped before leading");
                        return Ok(());
                    };
                    Some((lease, since))
                }
                None => None,
            };
            match self.lead(key.clone(), term).await {
                Led::Stopped => return Ok(()),
                Led::Lost => {
                    tracing::warn!("stopped leading; standing by for the Lease again");
                }
            }
        }
    }

    /// Runs every controller while this replica leads: for its `term` (the Lease it holds and
    /// since when), with leader election.
    async fn lead(&self, key: Sensitive<Vec<u8>>, term: Option<(&LeaseConfig, tokio::time::Instant)>) -> Led {
        let Self {
            client,
            config,
            metrics,
            ready,
            shutdown,
        } = *self;
        let ns = config.namespace.as_deref();
        metrics.leader.set(1);
        let caches = SharedCaches::new();
        let mut ctx = Context::new(
            client.clone(),
            Arc::new(SystemClock),
            key,
            config.settings.clone(),
            metrics.clone(),
        );
        ctx.secrets = Some(caches.secrets());
        let (controllers, synced) =
            Watches::new(client, ns, config.concurrency, Arc::new(ctx), shutdown.clone()).controllers(caches);
        metrics.observe_state(Some(Box::new(StateMetrics::new(
            &synced,
            Arc::new(SystemClock),
            metrics,
        ))));
        let marking = tokio::spawn(mark_ready_when_synced(synced, ready.clone()));
        tracing::info!(namespace = ns.unwrap_or("<all>"), "controllers running");
        let led = match term {
            Some((lease, since)) => tokio::select! {
                _ = controllers => {
                    // Stopped by a signal, every reconcile finished: the next replica may lead now.
                    leader::release(client, lease).await;
                    Led::Stopped
                }
                () = leader::hold(client, lease, since) => Led::Lost,
            },
            None => {
                controllers.await;
                Led::Stopped
            }
        };
        marking.abort();
        metrics.observe_state(None);
        metrics.leader.set(0);
        // A standby is ready (it can take over); a stopped replica is not.
        ready.store(matches!(led, Led::Lost), Ordering::SeqCst);
        led
    }
}

/// How a term of leadership ended.
enum Led {
    /// On a stop request, every reconcile finished, the Lease released.
    Stopped,
    /// Leadership lost: the controllers were stopped where they stood.
    Lost,
}

/// Turns `/readyz` true once every cache in `synced` has finished its first list.
async fn mark_ready_when_synced(synced: Synced, ready: Arc<AtomicBool>) {
    let Synced {
        accounts,
        integrations,
        rotations,
        ..
    } = synced;
    // kube's readiness signal wakes one waiter only (the controller's own), so ask again
    // until every cache has finished its first list.
    loop {
        let poll = std::time::Duration::from_millis(200);
        let synced = tokio::join!(
            tokio::time::timeout(poll, accounts.wait_until_ready()),
            tokio::time::timeout(poll, integrations.wait_until_ready()),
            tokio::time::timeout(poll, rotations.wait_until_ready())
        );
        match synced {
            (Ok(Ok(())), Ok(Ok(())), Ok(Ok(()))) => {
                ready.store(true, Ordering::SeqCst);
                tracing::info!("caches synced; ready");
                return;
            }
            (Ok(Err(e)), ..) | (_, Ok(Err(e)), _) | (.., Ok(Err(e))) => {
                tracing::error!(error = %e, "a cache stopped before it synced");
                return;
            }
            _ => {}
        }
    }
}
