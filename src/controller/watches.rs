//! One kube `Controller` per kind, on shared caches: one watch per kind (and one of Secrets)
//! fills a cache that the kind's own controller, the controllers of the kinds that refer to it and
//! the reconcilers read. A change reaches a controller from the same cache its reconcile then
//! reads, so the reconcile never sees an object older than the event that woke it. Which changes
//! wake which controller is in [`super::triggers`].

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store, reflector, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use super::shutdown::Shutdown;
use super::triggers::{self, Change, Inputs};
use super::{
    credential_rotation, index, integration_account, trackvia_account, workato_connection, workato_workspace,
};
use crate::api::{
    CredentialRotation, IntegrationAccount, TrackViaAccount, WorkatoConnection, WorkatoWorkspace,
};
use crate::domain::caches::{Caches, Lookups, user_key};
use crate::domain::recipes::Listings;
use crate::domain::users::Directory;
use crate::reconcile::cached_secret::CachedSecret;
use crate::reconcile::lookup::Lookup;
use crate::reconcile::timers::Timers;
use crate::reconcile::{Context, Scoped};

/// The caches whose first list `/readyz` waits for.
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

/// A shared cache: what reconcilers read, and the subscribers its watch hands each change to.
pub struct Shared<K: Resource<DynamicType = ()> + Clone + 'static> {
    /// The cache.
    pub store: Store<K>,
    writer: Writer<K>,
    subscribers: Vec<mpsc::UnboundedSender<Change<K>>>,
    /// The indexes of this cache, each with the keys of an object.
    indexes: Vec<(Arc<Lookups>, Index, Keys<K>)>,
}

/// Which index of [`Lookups`].
type Index = fn(&Lookups) -> &Lookup;
/// The keys of an object in an index.
type Keys<K> = fn(&K) -> Vec<String>;

impl<K> Shared<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    fn new() -> Self {
        let (store, writer) = reflector::store();
        Self {
            store,
            writer,
            subscribers: Vec::new(),
            indexes: Vec::new(),
        }
    }

    /// Keeps index `index` of `lookups` up to date with this cache.
    fn index(&mut self, lookups: &Arc<Lookups>, index: Index, keys: Keys<K>) {
        self.indexes.push((lookups.clone(), index, keys));
    }

    /// The objects that changed, as the cache holds them, filtered by `inputs`, with `echoes`
    /// without the echoes of our own writes, with `deletes` deleted ones too (see
    /// [`triggers::changes`]).
    fn changes(
        &mut self,
        inputs: Option<Inputs<K>>,
        echoes: Option<Arc<Context>>,
        deletes: bool,
    ) -> impl futures::Stream<Item = Arc<K>> + Send + 'static {
        let (tx, rx) = mpsc::unbounded_channel();
        self.subscribers.push(tx);
        let received = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
        triggers::changes(received, self.store.clone(), inputs, (echoes, deletes))
    }

    /// The watch that fills the cache (as `keep` leaves each object) and hands each change to the
    /// subscribers once the cache holds it, to be run.
    fn fill(self, api: Api<K>, keep: fn(&mut K)) -> impl Future<Output = ()> + Send + 'static {
        let Self {
            store,
            writer,
            subscribers,
            indexes,
        } = self;
        let ns_name = |o: &K| (o.meta().namespace.clone().unwrap_or_default(), o.name_any());
        reflector(
            writer,
            watcher(api, watcher::Config::default())
                .default_backoff()
                .modify(keep),
        )
        .for_each(move |e| {
            // The indexes first, then the subscribers: a mapping finds what it looks up.
            for (lookups, index, keys) in &indexes {
                let lookup = index(lookups);
                match &e {
                    Ok(watcher::Event::Apply(o)) => {
                        let (ns, name) = ns_name(o);
                        lookup.set(&ns, &name, keys(o));
                    }
                    Ok(watcher::Event::Delete(o)) => {
                        let (ns, name) = ns_name(o);
                        lookup.remove(&ns, &name);
                    }
                    Ok(watcher::Event::InitDone) => {
                        lookup.clear();
                        for o in store.state() {
                            let (ns, name) = ns_name(&o);
                            lookup.set(&ns, &name, keys(&o));
                        }
                    }
                    _ => {}
                }
            }
            let changed: Vec<Change<K>> = match e {
                // The cache's own copy (it has just taken this version), not a second one to queue.
                Ok(watcher::Event::Apply(o)) => {
                    vec![Change::Applied(
                        store.get(&ObjectRef::from_obj(&o)).unwrap_or_else(|| Arc::new(o)),
                    )]
                }
                Ok(watcher::Event::Delete(o)) => vec![Change::Deleted(Arc::new(o))],
                // A (re)list: everything it holds now, once.
                Ok(watcher::Event::InitDone) => store.state().into_iter().map(Change::Applied).collect(),
                Ok(_) => Vec::new(),
                Err(e) => {
                    tracing::warn!(kind = %K::kind(&()), error = %e, "watch failed; retrying");
                    Vec::new()
                }
            };
            for c in changed {
                for s in &subscribers {
                    let _ = s.send(c.clone());
                }
            }
            async {}
        })
    }
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

/// The objects named `names` in the namespace of the changed object `o`.
fn named<K: Resource<DynamicType = ()>, O: Resource>(names: Vec<String>, o: &O) -> Vec<ObjectRef<K>> {
    let ns = o.meta().namespace.clone().unwrap_or_default();
    names.iter().map(|n| ObjectRef::new(n).within(&ns)).collect()
}

/// The caches of every kind, and of Secrets.
pub struct SharedCaches {
    lookups: Arc<Lookups>,
    secrets: Shared<CachedSecret>,
    accounts: Shared<TrackViaAccount>,
    workspaces: Shared<WorkatoWorkspace>,
    integrations: Shared<IntegrationAccount>,
    connections: Shared<WorkatoConnection>,
    rotations: Shared<CredentialRotation>,
}

impl SharedCaches {
    /// Empty caches; the Secret cache is what [`Context::secrets`] reads.
    pub fn new() -> Self {
        let lookups = Arc::new(Lookups::default());
        let mut integrations = Shared::new();
        integrations.index(
            &lookups,
            |l| &l.ia_by_token_secret,
            |i: &IntegrationAccount| vec![i.spec.token_secret_ref.name.clone()],
        );
        integrations.index(
            &lookups,
            |l| &l.ia_by_credentials_secret,
            |i: &IntegrationAccount| vec![i.spec.credentials_secret.name.clone()],
        );
        integrations.index(
            &lookups,
            |l| &l.ia_by_account,
            |i: &IntegrationAccount| vec![i.spec.account_ref.name.clone()],
        );
        integrations.index(
            &lookups,
            |l| &l.ia_by_user,
            |i: &IntegrationAccount| vec![user_key(i)],
        );
        let mut connections = Shared::new();
        connections.index(
            &lookups,
            |l| &l.wc_by_integration,
            |c: &WorkatoConnection| vec![c.spec.integration_account_ref.name.clone()],
        );
        connections.index(
            &lookups,
            |l| &l.wc_by_workspace,
            |c: &WorkatoConnection| vec![c.spec.workspace_ref.name.clone()],
        );
        let mut rotations = Shared::new();
        rotations.index(
            &lookups,
            |l| &l.rotations_by_integration,
            |r: &CredentialRotation| vec![r.spec.integration_account_ref.name.clone()],
        );
        let mut accounts = Shared::new();
        accounts.index(
            &lookups,
            |l| &l.accounts_by_secret,
            |a: &TrackViaAccount| {
                let creds = &a.spec.admin_credentials;
                vec![creds.api_key.name.clone(), creds.auth_token.name.clone()]
            },
        );
        let mut workspaces = Shared::new();
        workspaces.index(
            &lookups,
            |l| &l.workspaces_by_secret,
            |w: &WorkatoWorkspace| vec![w.spec.api_token.name.clone()],
        );
        Self {
            lookups,
            secrets: Shared::new(),
            accounts,
            workspaces,
            integrations,
            connections,
            rotations,
        }
    }

    /// The Secret cache.
    pub fn secrets(&self) -> Store<CachedSecret> {
        self.secrets.store.clone()
    }
}

impl Default for SharedCaches {
    fn default() -> Self {
        Self::new()
    }
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

    /// Every controller and the watches filling their caches, running until a termination
    /// signal, and the caches to wait for.
    pub fn controllers(self, mut c: SharedCaches) -> (impl Future<Output = ()>, Synced) {
        let caches = Caches {
            integration_accounts: Some(c.integrations.store.clone()),
            connections: Some(c.connections.store.clone()),
            rotations: Some(c.rotations.store.clone()),
            accounts: Some(c.accounts.store.clone()),
            workspaces: Some(c.workspaces.store.clone()),
            lookups: Some(c.lookups.clone()),
        };
        let synced = Synced {
            accounts: c.accounts.store.clone(),
            integrations: c.integrations.store.clone(),
            rotations: c.rotations.store.clone(),
            workspaces: c.workspaces.store.clone(),
            connections: c.connections.store.clone(),
        };
        let accounts = self.trackvia_accounts(&mut c);
        let workspaces = self.workato_workspaces(&mut c);
        let rotations = self.credential_rotations(&mut c, &caches);
        let integrations = self.integration_accounts(&mut c, &caches);
        let connections = self.workato_connections(&mut c, &caches);
        let controllers = futures::future::join5(accounts, workspaces, rotations, integrations, connections);
        let SharedCaches {
            lookups: _,
            secrets,
            accounts,
            workspaces,
            integrations,
            connections,
            rotations,
        } = c;
        let fills = futures::future::join3(
            secrets.fill(self.api(), index::lean),
            futures::future::join(
                accounts.fill(self.api(), index::lean),
                workspaces.fill(self.api(), index::lean),
            ),
            futures::future::join3(
                integrations.fill(self.api(), index::integration_account),
                connections.fill(self.api(), index::workato_connection),
                rotations.fill(self.api(), index::lean),
            ),
        );
        (
            async move {
                // The watches run as long as the controllers; the controllers stop on a signal.
                tokio::select! {
                    _ = controllers => {},
                    _ = fills => {},
                }
            },
            synced,
        )
    }

    fn trackvia_accounts(&self, c: &mut SharedCaches) -> impl Future<Output = ()> + use<> {
        let lookups = c.lookups.clone();
        Controller::for_shared_stream(
            c.accounts
                .changes(Some(triggers::own), Some(self.ctx.clone()), false),
            c.accounts.store.clone(),
        )
        .watches_shared_stream(c.secrets.changes(None, None, true), move |s| {
            let names = lookups
                .accounts_by_secret
                .names(&s.namespace().unwrap_or_default(), &s.name_any());
            named(names, &*s)
        })
        .with_config(self.config.clone())
        .graceful_shutdown_on(self.shutdown.clone().requested())
        .run(
            trackvia_account::reconcile,
            trackvia_account::error_policy,
            Arc::new(Scoped {
                base: self.ctx.clone(),
                own: c.accounts.store.clone(),
            }),
        )
        .for_each(|_| async {})
    }

    fn workato_workspaces(&self, c: &mut SharedCaches) -> impl Future<Output = ()> + use<> {
        let lookups = c.lookups.clone();
        Controller::for_shared_stream(
            c.workspaces
                .changes(Some(triggers::own), Some(self.ctx.clone()), false),
            c.workspaces.store.clone(),
        )
        .watches_shared_stream(c.secrets.changes(None, None, true), move |s| {
            let names = lookups
                .workspaces_by_secret
                .names(&s.namespace().unwrap_or_default(), &s.name_any());
            named(names, &*s)
        })
        .with_config(self.config.clone())
        .graceful_shutdown_on(self.shutdown.clone().requested())
        .run(
            workato_workspace::reconcile,
            workato_workspace::error_policy,
            Arc::new(Scoped {
                base: self.ctx.clone(),
                own: c.workspaces.store.clone(),
            }),
        )
        .for_each(|_| async {})
    }

    fn integration_accounts(
        &self,
        c: &mut SharedCaches,
        caches: &Caches,
    ) -> impl Future<Output = ()> + use<> {
        let store = c.integrations.store.clone();
        let (by_secret, by_account) = (c.lookups.clone(), c.lookups.clone());
        let timers = Arc::new(Timers::default());
        let ctx = Scoped {
            base: self.ctx.clone(),
            own: integration_account::Own {
                caches: caches.clone(),
                directory: Arc::new(Directory::default()),
                timers: timers.clone(),
            },
        };
        Controller::for_shared_stream(
            futures::stream::select(
                c.integrations
                    .changes(Some(triggers::own), Some(self.ctx.clone()), false),
                timers.fired(store.clone()),
            ),
            store,
        )
        // The echo of the credentials Secret it publishes does not wake the account again.
        .watches_shared_stream(c.secrets.changes(None, Some(self.ctx.clone()), true), move |s| {
            let ns = s.namespace().unwrap_or_default();
            let mut names = by_secret.ia_by_token_secret.names(&ns, &s.name_any());
            names.extend(by_secret.ia_by_credentials_secret.names(&ns, &s.name_any()));
            named(names, &*s)
        })
        .watches_shared_stream(
            c.accounts.changes(Some(triggers::spec_and_ready), None, true),
            move |a| {
                let names = by_account
                    .ia_by_account
                    .names(&a.namespace().unwrap_or_default(), &a.name_any());
                named(names, &*a)
            },
        )
        .watches_shared_stream(c.rotations.changes(None, None, true), move |r| {
            named(vec![r.spec.integration_account_ref.name.clone()], &*r)
        })
        .with_config(self.config.clone())
        .graceful_shutdown_on(self.shutdown.clone().requested())
        .run(
            integration_account::reconcile,
            integration_account::error_policy,
            Arc::new(ctx),
        )
        .for_each(|_| async {})
    }

    fn workato_connections(&self, c: &mut SharedCaches, caches: &Caches) -> impl Future<Output = ()> + use<> {
        let store = c.connections.store.clone();
        let (by_account, by_workspace, by_secret, by_rotation) = (
            c.lookups.clone(),
            c.lookups.clone(),
            c.lookups.clone(),
            c.lookups.clone(),
        );
        let timers = Arc::new(Timers::default());
        let ctx = Scoped {
            base: self.ctx.clone(),
            own: workato_connection::Own {
                caches: caches.clone(),
                listings: self.listings.clone(),
                timers: timers.clone(),
            },
        };
        Controller::for_shared_stream(
            futures::stream::select(
                c.connections
                    .changes(Some(triggers::own), Some(self.ctx.clone()), false),
                timers.fired(store.clone()),
            ),
            store,
        )
        .watches_shared_stream(
            c.integrations.changes(Some(triggers::spec), None, true),
            move |i| {
                let names = by_account
                    .wc_by_integration
                    .names(&i.namespace().unwrap_or_default(), &i.name_any());
                named(names, &*i)
            },
        )
        .watches_shared_stream(
            c.workspaces.changes(Some(triggers::spec_and_ready), None, true),
            move |w| {
                let names = by_workspace
                    .wc_by_workspace
                    .names(&w.namespace().unwrap_or_default(), &w.name_any());
                named(names, &*w)
            },
        )
        // The recipes its account's rotations hold stopped (reported in its status).
        .watches_shared_stream(
            c.rotations.changes(Some(triggers::held_recipes), None, true),
            move |r| {
                let names = by_rotation.wc_by_integration.names(
                    &r.namespace().unwrap_or_default(),
                    &r.spec.integration_account_ref.name,
                );
                named(names, &*r)
            },
        )
        // The credentials its IntegrationAccount publishes (the account's status is not a trigger).
        .watches_shared_stream(c.secrets.changes(None, None, true), move |s| {
            let ns = s.namespace().unwrap_or_default();
            let names: Vec<String> = by_secret
                .ia_by_credentials_secret
                .names(&ns, &s.name_any())
                .iter()
                .flat_map(|ia| by_secret.wc_by_integration.names(&ns, ia))
                .collect();
            named(names, &*s)
        })
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
        c: &mut SharedCaches,
        caches: &Caches,
    ) -> impl Future<Output = ()> + use<> {
        let rotations = c.rotations.store.clone();
        let lookups = c.lookups.clone();
        let ctx = Scoped {
            base: self.ctx.clone(),
            own: credential_rotation::Own {
                caches: caches.clone(),
                listings: self.listings.clone(),
            },
        };
        // Every change of a rotation wakes it: it reads its own record from the API server and
        // moves step by step (docs/reliability.md).
        Controller::for_shared_stream(c.rotations.changes(None, None, false), c.rotations.store.clone())
            // A rotation waiting for the new token moves the moment the token Secret changes.
            .watches_shared_stream(c.secrets.changes(None, None, true), move |s| {
                let ns = s.namespace().unwrap_or_default();
                lookups
                    .ia_by_token_secret
                    .names(&ns, &s.name_any())
                    .iter()
                    .flat_map(|ia| lookups.rotations_by_integration.names(&ns, ia))
                    .map(|n| ObjectRef::new(&n).within(&ns))
                    .filter(|r| {
                        rotations.get(r).is_some_and(|r| {
                            r.status
                                .as_ref()
                                .and_then(|st| st.phase)
                                .is_none_or(|p| !p.is_terminal())
                        })
                    })
                    .collect::<Vec<_>>()
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
