//! Wiring: one Controller per kind, the watches that map dependencies (Secrets, accounts) back to
//! the objects that use them, the admin HTTP server, graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{ListParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Controller;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::reflector::{self, Store, reflector, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::{
    credential_rotation, index, integration_account, leader, trackvia_account, workato_connection,
    workato_workspace,
};
use crate::api::{
    CredentialRotation, IntegrationAccount, TrackViaAccount, WorkatoConnection, WorkatoWorkspace,
};
use crate::clock::SystemClock;
use crate::domain::caches::Caches;
use crate::domain::recipes::Listings;
use crate::domain::users::Directory;
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
    pub leader: Option<leader::LeaseConfig>,
    /// Reconciles of one kind that run at once (0: no limit).
    pub concurrency: u16,
}

/// A controller whose cache holds each object as [`index::lean`] leaves it.
fn lean_controller<K>(api: Api<K>) -> Controller<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    indexed_controller(api, index::lean, reflector::store())
}

/// A controller whose cache (`reader`, filled through `writer`) holds each object as `keep` leaves
/// it (see [`index`]).
fn indexed_controller<K>(
    api: Api<K>,
    keep: fn(&mut K),
    (reader, writer): (Store<K>, Writer<K>),
) -> Controller<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let stream = reflector(writer, watcher(api, watcher::Config::default()).modify(keep)).applied_objects();
    Controller::for_stream(stream, reader)
}

/// Name of the Secret holding the key of the token fingerprints.
pub const FINGERPRINT_KEY_SECRET: &str = "trackvia-operator-fingerprint-key";

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

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
    let ns = config.namespace.as_deref();
    // The admin server comes first: liveness holds while a standby waits for leadership; readiness
    // turns true once the caches are synced and the controllers run.
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
    // Fail early, with a hint, when the CRDs are not installed. An API server that does not answer
    // yet (starting, restarting) is waited for, here and until leadership is won: exiting would
    // only restart the process into the same wait (with a hint about CRDs that is wrong).
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
    let key = patiently("reading the fingerprint key", || {
        fingerprint_key(&client, &config.operator_namespace)
    })
    .await?;
    if let Some(lease) = &config.leader {
        leader::acquire(&client, lease).await?;
    }
    let ctx = Arc::new(Context::new(
        client.clone(),
        Arc::new(SystemClock),
        key,
        config.settings.clone(),
        metrics.clone(),
    ));
    // The caches other reconcilers read, and the listings several share: made before any
    // controller starts, handed to the reconcilers that use them.
    let (ia_store, ia_writer) = reflector::store();
    let (wc_store, wc_writer) = reflector::store();
    let (cr_store, cr_writer) = reflector::store();
    let caches = Caches {
        integration_accounts: Some(ia_store.clone()),
        connections: Some(wc_store.clone()),
        rotations: Some(cr_store.clone()),
    };
    let listings = Arc::new(Listings::default());

    // Bounded: each reconcile in flight holds its own requests to the API server (and their
    // connections); a burst of thousands of objects must not become thousands of them.
    let controller_config = kube::runtime::controller::Config::default().concurrency(config.concurrency);

    // Secrets are watched metadata-only: a change of any referenced Secret triggers a reconcile,
    // which then reads just that Secret.
    let secrets_meta = || api::<PartialObjectMeta<Secret>>(&client, ns);

    let accounts = lean_controller(api::<TrackViaAccount>(&client, ns));
    let account_store = accounts.store();
    let synced_accounts = account_store.clone();
    let accounts = accounts
        .watches(secrets_meta(), watcher::Config::default(), move |s| {
            account_store
                .state()
                .iter()
                .filter(|a| {
                    a.namespace() == s.namespace()
                        && [
                            &a.spec.admin_credentials.api_key.name,
                            &a.spec.admin_credentials.auth_token.name,
                        ]
                        .contains(&&s.name_any())
                })
                .map(|a| ObjectRef::from_obj(&**a))
                .collect::<Vec<_>>()
        })
        .with_config(controller_config.clone())
        .graceful_shutdown_on(shutdown_signal())
        .run(
            trackvia_account::reconcile,
            trackvia_account::error_policy,
            ctx.clone(),
        )
        .for_each(|_| async {});

    let workspaces = lean_controller(api::<WorkatoWorkspace>(&client, ns));
    let workspace_store = workspaces.store();
    let workspaces = workspaces
        .watches(secrets_meta(), watcher::Config::default(), move |s| {
            workspace_store
                .state()
                .iter()
                .filter(|w| w.namespace() == s.namespace() && w.spec.api_token.name == s.name_any())
                .map(|w| ObjectRef::from_obj(&**w))
                .collect::<Vec<_>>()
        })
        .with_config(controller_config.clone())
        .graceful_shutdown_on(shutdown_signal())
        .run(
            workato_workspace::reconcile,
            workato_workspace::error_policy,
            ctx.clone(),
        )
        .for_each(|_| async {});

    let integrations = indexed_controller(
        api::<IntegrationAccount>(&client, ns),
        index::integration_account,
        (ia_store.clone(), ia_writer),
    );
    let synced_integrations = ia_store.clone();
    let by_secret = ia_store.clone();
    let by_account = ia_store.clone();
    let by_rotation = ia_store.clone();
    let integrations = integrations
        .watches(secrets_meta(), watcher::Config::default(), move |s| {
            by_secret
                .state()
                .iter()
                .filter(|i| {
                    i.namespace() == s.namespace()
                        && (i.spec.token_secret_ref.name == s.name_any()
                            || i.spec.credentials_secret.name == s.name_any())
                })
                .map(|i| ObjectRef::from_obj(&**i))
                .collect::<Vec<_>>()
        })
        .watches(
            api::<TrackViaAccount>(&client, ns),
            watcher::Config::default(),
            move |a| {
                by_account
                    .state()
                    .iter()
                    .filter(|i| i.namespace() == a.namespace() && i.spec.account_ref.name == a.name_any())
                    .map(|i| ObjectRef::from_obj(&**i))
                    .collect::<Vec<_>>()
            },
        )
        .watches(
            api::<CredentialRotation>(&client, ns),
            watcher::Config::default(),
            move |r| {
                by_rotation
                    .state()
                    .iter()
                    .filter(|i| {
                        i.namespace() == r.namespace() && i.name_any() == r.spec.integration_account_ref.name
                    })
                    .map(|i| ObjectRef::from_obj(&**i))
                    .collect::<Vec<_>>()
            },
        )
        .with_config(controller_config.clone())
        .graceful_shutdown_on(shutdown_signal())
        .run(
            integration_account::reconcile,
            integration_account::error_policy,
            Arc::new(integration_account::Ctx {
                base: ctx.clone(),
                caches: caches.clone(),
                directory: Arc::new(Directory::default()),
            }),
        )
        .for_each(|_| async {});

    let connections = indexed_controller(
        api::<WorkatoConnection>(&client, ns),
        index::workato_connection,
        (wc_store.clone(), wc_writer),
    );
    let wc_by_ia = wc_store.clone();
    let wc_by_ws = wc_store;
    let connections = connections
        .watches(
            api::<IntegrationAccount>(&client, ns),
            watcher::Config::default(),
            move |i| {
                wc_by_ia
                    .state()
                    .iter()
                    .filter(|c| {
                        c.namespace() == i.namespace() && c.spec.integration_account_ref.name == i.name_any()
                    })
                    .map(|c| ObjectRef::from_obj(&**c))
                    .collect::<Vec<_>>()
            },
        )
        .watches(
            api::<WorkatoWorkspace>(&client, ns),
            watcher::Config::default(),
            move |w| {
                wc_by_ws
                    .state()
                    .iter()
                    .filter(|c| c.namespace() == w.namespace() && c.spec.workspace_ref.name == w.name_any())
                    .map(|c| ObjectRef::from_obj(&**c))
                    .collect::<Vec<_>>()
            },
        )
        .with_config(controller_config.clone())
        .graceful_shutdown_on(shutdown_signal())
        .run(
            workato_connection::reconcile,
            workato_connection::error_policy,
            Arc::new(workato_connection::Ctx {
                base: ctx.clone(),
                caches: caches.clone(),
                listings: listings.clone(),
            }),
        )
        .for_each(|_| async {});

    let rotations = indexed_controller(
        api::<CredentialRotation>(&client, ns),
        index::lean,
        (cr_store.clone(), cr_writer),
    );
    let synced_rotations = cr_store.clone();
    let rotation_store = cr_store;
    let ia_for_rotations = ia_store.clone();
    let rotations = rotations
        // A rotation waiting for the new token moves the moment the token Secret changes.
        .watches(secrets_meta(), watcher::Config::default(), move |s| {
            let accounts: Vec<String> = ia_for_rotations
                .state()
                .iter()
                .filter(|i| i.namespace() == s.namespace() && i.spec.token_secret_ref.name == s.name_any())
                .map(|i| i.name_any())
                .collect();
            rotation_store
                .state()
                .iter()
                .filter(|r| {
                    r.namespace() == s.namespace() && accounts.contains(&r.spec.integration_account_ref.name)
                })
                .filter(|r| {
                    r.status
                        .as_ref()
                        .and_then(|st| st.phase)
                        .is_none_or(|p| !p.is_terminal())
                })
                .map(|r| ObjectRef::from_obj(&**r))
                .collect::<Vec<_>>()
        })
        .with_config(controller_config.clone())
        .graceful_shutdown_on(shutdown_signal())
        .run(
            credential_rotation::reconcile,
            credential_rotation::error_policy,
            Arc::new(credential_rotation::Ctx {
                base: ctx.clone(),
                caches,
                listings,
            }),
        )
        .for_each(|_| async {});

    let became_ready = ready.clone();
    tokio::spawn(async move {
        // kube's readiness signal wakes one waiter only (the controller's own), so ask again
        // until every cache has finished its first list.
        loop {
            let poll = std::time::Duration::from_millis(200);
            let synced = tokio::join!(
                tokio::time::timeout(poll, synced_accounts.wait_until_ready()),
                tokio::time::timeout(poll, synced_integrations.wait_until_ready()),
                tokio::time::timeout(poll, synced_rotations.wait_until_ready())
            );
            match synced {
                (Ok(Ok(())), Ok(Ok(())), Ok(Ok(()))) => {
                    became_ready.store(true, Ordering::SeqCst);
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
    });
    tracing::info!(namespace = ns.unwrap_or("<all>"), "controllers running");
    let controllers = async { tokio::join!(accounts, workspaces, integrations, connections, rotations) };
    let outcome = match &config.leader {
        Some(lease) => tokio::select! {
            _ = controllers => Ok(()),
            () = leader::hold(&client, lease) => Err(Error::LeadershipLost),
        },
        None => {
            controllers.await;
            Ok(())
        }
    };
    ready.store(false, Ordering::SeqCst);
    server.abort();
    tracing::info!("stopped");
    outcome
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
