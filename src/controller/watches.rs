//! One kube `Controller` per kind, with the watches that map a change of something an object
//! refers to (a Secret, an account, a workspace, a rotation) back to the object, and the caches the
//! reconcilers read across kinds (made before any controller starts).

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store, reflector, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::shutdown::Shutdown;
use super::{
    credential_rotation, index, integration_account, trackvia_account, workato_connection, workato_workspace,
};
use crate::api::{
    CredentialRotation, IntegrationAccount, TrackViaAccount, WorkatoConnection, WorkatoWorkspace,
};
use crate::domain::caches::Caches;
use crate::domain::recipes::Listings;
use crate::domain::users::Directory;
use crate::reconcile::{Context, Scoped};

/// The controllers' caches: `/readyz` waits for the first list of accounts, integrations and
/// rotations; the state metrics read all five at each scrape.
pub struct Synced {
    /// TrackViaAccounts.
    pub accounts: Store<TrackViaAccount>,
    /// IntegrationAccounts.
    pub integrations: Store<IntegrationAccount>,
    /// CredentialRotations.
    pub rotations: Store<CredentialRotation>,
    /// WorkatoWorkspaces.
    pub workspaces: Store<WorkatoWorkspace>,
    /// WorkatoConnections.
    pub connections: Store<WorkatoConnection>,
}

/// What every controller is built from.
pub struct Watches {
    client: Client,
    namespace: Option<String>,
    config: controller::Config,
    ctx: Arc<Context>,
    listings: Arc<Listings>,
    shutdown: Shutdown,
}

/// The API of a namespaced kind in `namespace`, or in all namespaces.
pub(super) fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
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

/// The objects in `store` that `matches` says refer to the changed object `o` (same namespace).
fn referring<K, O>(store: &Store<K>, o: &O, matches: impl Fn(&K) -> bool) -> Vec<ObjectRef<K>>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
    O: Resource,
{
    store
        .state()
        .iter()
        .filter(|k| k.meta().namespace == o.meta().namespace && matches(k))
        .map(|k| ObjectRef::from_obj(&**k))
        .collect()
}

impl Watches {
    /// From the run's configuration and the shared context.
    pub fn new(
        client: &Client,
        namespace: Option<&str>,
        concurrency: u16,
        ctx: Arc<Context>,
        shutdown: Shutdown,
    ) -> Self {
        Self {
            client: client.clone(),
            namespace: namespace.map(str::to_owned),
            // Bounded: each reconcile in flight holds its own requests to the API server (and
            // their connections); a burst of thousands of objects must not become thousands.
            config: controller::Config::default().concurrency(concurrency),
            ctx,
            listings: Arc::new(Listings::default()),
            shutdown,
        }
    }

    fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        api(&self.client, self.namespace.as_deref())
    }

    /// Secrets are watched metadata-only: a change of any referenced Secret triggers a reconcile,
    /// which then reads just that Secret.
    fn secrets(&self) -> Api<PartialObjectMeta<Secret>> {
        self.api()
    }

    /// Every controller, running until a termination signal, and the caches to wait for.
    pub fn controllers(self) -> (impl Future<Output = ()>, Synced) {
        let accounts = reflector::store();
        let workspaces = reflector::store();
        let (ia, ia_writer) = reflector::store();
        let (wc, wc_writer) = reflector::store();
        let (cr, cr_writer) = reflector::store();
        let caches = Caches {
            integration_accounts: Some(ia.clone()),
            connections: Some(wc.clone()),
            rotations: Some(cr.clone()),
        };
        let synced = Synced {
            accounts: accounts.0.clone(),
            integrations: ia.clone(),
            rotations: cr.clone(),
            workspaces: workspaces.0.clone(),
            connections: wc.clone(),
        };
        let all = futures::future::join5(
            self.trackvia_accounts(accounts),
            self.workato_workspaces(workspaces),
            self.credential_rotations((cr, cr_writer), &caches, ia.clone()),
            self.integration_accounts((ia, ia_writer), &caches),
            self.workato_connections((wc, wc_writer), &caches),
        );
        (
            async move {
                all.await;
            },
            synced,
        )
    }

    fn trackvia_accounts(
        &self,
        store: (Store<TrackViaAccount>, Writer<TrackViaAccount>),
    ) -> impl Future<Output = ()> + use<> {
        let accounts = store.0.clone();
        indexed_controller(self.api::<TrackViaAccount>(), index::lean, store)
            .watches(self.secrets(), watcher::Config::default(), move |s| {
                referring(&accounts, &s, |a: &TrackViaAccount| {
                    let creds = &a.spec.admin_credentials;
                    [&creds.api_key.name, &creds.auth_token.name].contains(&&s.name_any())
                })
            })
            .with_config(self.config.clone())
            .graceful_shutdown_on(self.shutdown.clone().requested())
            .run(
                trackvia_account::reconcile,
                trackvia_account::error_policy,
                self.ctx.clone(),
            )
            .for_each(|_| async {})
    }

    fn workato_workspaces(
        &self,
        store: (Store<WorkatoWorkspace>, Writer<WorkatoWorkspace>),
    ) -> impl Future<Output = ()> + use<> {
        let workspaces = store.0.clone();
        indexed_controller(self.api::<WorkatoWorkspace>(), index::lean, store)
            .watches(self.secrets(), watcher::Config::default(), move |s| {
                referring(&workspaces, &s, |w: &WorkatoWorkspace| {
                    w.spec.api_token.name == s.name_any()
                })
            })
            .with_config(self.config.clone())
            .graceful_shutdown_on(self.shutdown.clone().requested())
            .run(
                workato_workspace::reconcile,
                workato_workspace::error_policy,
                self.ctx.clone(),
            )
            .for_each(|_| async {})
    }

    fn integration_accounts(
        &self,
        store: (Store<IntegrationAccount>, Writer<IntegrationAccount>),
        caches: &Caches,
    ) -> impl Future<Output = ()> + use<> {
        let (by_secret, by_account, by_rotation) = (store.0.clone(), store.0.clone(), store.0.clone());
        let ctx = Scoped {
            base: self.ctx.clone(),
            own: integration_account::Own {
                caches: caches.clone(),
                directory: Arc::new(Directory::default()),
            },
        };
        indexed_controller(
            self.api::<IntegrationAccount>(),
            index::integration_account,
            store,
        )
        .watches(self.secrets(), watcher::Config::default(), move |s| {
            referring(&by_secret, &s, |i: &IntegrationAccount| {
                i.spec.token_secret_ref.name == s.name_any() || i.spec.credentials_secret.name == s.name_any()
            })
        })
        .watches(
            self.api::<TrackViaAccount>(),
            watcher::Config::default(),
            move |a| {
                referring(&by_account, &a, |i: &IntegrationAccount| {
                    i.spec.account_ref.name == a.name_any()
                })
            },
        )
        .watches(
            self.api::<CredentialRotation>(),
            watcher::Config::default(),
            move |r| {
                referring(&by_rotation, &r, |i: &IntegrationAccount| {
                    i.name_any() == r.spec.integration_account_ref.name
                })
            },
        )
        .with_config(self.config.clone())
        .graceful_shutdown_on(self.shutdown.clone().requested())
        .run(
            integration_account::reconcile,
            integration_account::error_policy,
            Arc::new(ctx),
        )
        .for_each(|_| async {})
    }

    fn workato_connections(
        &self,
        store: (Store<WorkatoConnection>, Writer<WorkatoConnection>),
        caches: &Caches,
    ) -> impl Future<Output = ()> + use<> {
        let (by_account, by_workspace) = (store.0.clone(), store.0.clone());
        let ctx = Scoped {
            base: self.ctx.clone(),
            own: workato_connection::Own {
                caches: caches.clone(),
                listings: self.listings.clone(),
            },
        };
        indexed_controller(self.api::<WorkatoConnection>(), index::workato_connection, store)
            .watches(
                self.api::<IntegrationAccount>(),
                watcher::Config::default(),
                move |i| {
                    referring(&by_account, &i, |c: &WorkatoConnection| {
                        c.spec.integration_account_ref.name == i.name_any()
                    })
                },
            )
            .watches(
                self.api::<WorkatoWorkspace>(),
                watcher::Config::default(),
                move |w| {
                    referring(&by_workspace, &w, |c: &WorkatoConnection| {
                        c.spec.workspace_ref.name == w.name_any()
                    })
                },
            )
            .with_config(self.config.clone())
            .graceful_shutdown_on(self.shutdown.clone().requested())
            .run(
                workato_connection::reconcile,
                workato_connection::error_policy,
                Arc::new(ctx),
            )
            .for_each(|_| async {})
    }

    fn credential_rotations(
        &self,
        store: (Store<CredentialRotation>, Writer<CredentialRotation>),
        caches: &Caches,
        accounts: Store<IntegrationAccount>,
    ) -> impl Future<Output = ()> + use<> {
        let rotations = store.0.clone();
        let ctx = Scoped {
            base: self.ctx.clone(),
            own: credential_rotation::Own {
                caches: caches.clone(),
                listings: self.listings.clone(),
            },
        };
        indexed_controller(self.api::<CredentialRotation>(), index::lean, store)
            // A rotation waiting for the new token moves the moment the token Secret changes.
            .watches(self.secrets(), watcher::Config::default(), move |s| {
                let owners: Vec<String> = referring(&accounts, &s, |i: &IntegrationAccount| {
                    i.spec.token_secret_ref.name == s.name_any()
                })
                .into_iter()
                .map(|r| r.name)
                .collect();
                referring(&rotations, &s, |r: &CredentialRotation| {
                    owners.contains(&r.spec.integration_account_ref.name)
                        && r.status
                            .as_ref()
                            .and_then(|st| st.phase)
                            .is_none_or(|p| !p.is_terminal())
                })
            })
            .with_config(self.config.clone())
            .graceful_shutdown_on(self.shutdown.clone().requested())
            .run(
                credential_rotation::reconcile,
                credential_rotation::error_policy,
                Arc::new(ctx),
            )
            .for_each(|_| async {})
    }
}
