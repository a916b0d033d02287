//! The controllers' caches the reconcilers read across kinds: the WorkatoConnections and
//! CredentialRotations of one IntegrationAccount (from the caches, or, to confirm a side effect,
//! from the API server), and who else claims an IntegrationAccount's user.

use std::sync::Arc;

use futures::FutureExt;
use kube::api::ListParams;
use kube::runtime::reflector::Store;
use kube::{Client, Resource, ResourceExt};

use kube::runtime::reflector::ObjectRef;

use crate::api::{
    CredentialRotation, IntegrationAccount, TrackViaAccount, WorkatoConnection, WorkatoWorkspace,
};
use crate::reconcile::Error;
use crate::reconcile::lookup::Lookup;

/// Where a reconcile reads objects of a kind another controller owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The owning controller's cache: cheap, and as fresh as its watch. A watch that is backing
    /// off (the API server restarted) lags by up to half a minute, and a change can trigger a
    /// reconcile through one watch before another watch's cache has seen it. Good enough for
    /// status; not for deciding a side effect.
    Cache,
    /// A list from the API server: what is there now. For confirming a side effect.
    ApiServer,
}

/// The objects of one IntegrationAccount (`account` in `ns`): those whose
/// `spec.integrationAccountRef.name` (`account_of`) names it.
async fn of_account<K>(
    (store, lookup): (Option<&Store<K>>, Option<&Lookup>),
    source: Source,
    client: &Client,
    (ns, account): (&str, &str),
    op: &'static str,
    account_of: fn(&K) -> &str,
) -> Result<Vec<Arc<K>>, Error>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let mine = |o: &K| o.meta().namespace.as_deref() == Some(ns) && account_of(o) == account;
    // A cache that has not synced yet is not waited for: kube wakes only one of the tasks waiting
    // on a store's readiness, so a reconcile that waits can stall until its own timeout.
    if source == Source::Cache
        && let Some(store) = store
        && matches!(store.wait_until_ready().now_or_never(), Some(Ok(())))
    {
        return Ok(match lookup {
            Some(l) => l
                .names(ns, account)
                .iter()
                .filter_map(|n| store.get(&ObjectRef::new(n).within(ns)))
                .filter(|o| mine(o))
                .collect(),
            None => store.state().into_iter().filter(|o| mine(o)).collect(),
        });
    }
    // The CRDs declare the reference a selectable field, so the API server sends just this
    // account's objects. An API server older than 1.30 refuses the selector: list them all.
    let api = kube::Api::<K>::namespaced(client.clone(), ns);
    let selected = ListParams::default().fields(&format!("{ACCOUNT_REF_FIELD}={account}"));
    let list = match api.list(&selected).await {
        Err(kube::Error::Api(s)) if s.code == 400 => api.list(&ListParams::default()).await,
        other => other,
    }
    .map_err(Error::kube(op))?;
    Ok(list.items.into_iter().filter(|o| mine(o)).map(Arc::new).collect())
}

/// The selectable field (see the CRDs) naming the IntegrationAccount of a WorkatoConnection or a
/// CredentialRotation.
const ACCOUNT_REF_FIELD: &str = "spec.integrationAccountRef.name";

/// Indexes of the caches (see [`Lookup`]), kept up to date by the watches that fill them, so that
/// the watch mappings and the checks below look objects up instead of scanning a cache.
#[derive(Default)]
pub struct Lookups {
    /// IntegrationAccounts by their token Secret.
    pub ia_by_token_secret: Lookup,
    /// IntegrationAccounts by their credentials Secret.
    pub ia_by_credentials_secret: Lookup,
    /// IntegrationAccounts by TrackViaAccount.
    pub ia_by_account: Lookup,
    /// IntegrationAccounts by the user they claim ([`user_key`]).
    pub ia_by_user: Lookup,
    /// WorkatoConnections by IntegrationAccount.
    pub wc_by_integration: Lookup,
    /// WorkatoConnections by WorkatoWorkspace.
    pub wc_by_workspace: Lookup,
    /// CredentialRotations by IntegrationAccount.
    pub rotations_by_integration: Lookup,
    /// TrackViaAccounts by the Secrets of their admin credentials.
    pub accounts_by_secret: Lookup,
    /// WorkatoWorkspaces by their token Secret.
    pub workspaces_by_secret: Lookup,
}

/// The key of the TrackVia user an IntegrationAccount claims: its account and email (emails
/// compare without case).
pub fn user_key(ia: &IntegrationAccount) -> String {
    format!(
        "{}/{}",
        ia.spec.account_ref.name,
        ia.spec.email.to_ascii_lowercase()
    )
}

/// The caches of the IntegrationAccount, WorkatoConnection and CredentialRotation controllers,
/// built before the controllers start (`None` outside a running operator: then the API server
/// is read instead, or, for [`Caches::claimant`], nobody else is known).
#[derive(Clone, Default)]
pub struct Caches {
    /// The IntegrationAccount controller's cache.
    pub integration_accounts: Option<Store<IntegrationAccount>>,
    /// The WorkatoConnection controller's cache.
    pub connections: Option<Store<WorkatoConnection>>,
    /// The CredentialRotation controller's cache.
    pub rotations: Option<Store<CredentialRotation>>,
    /// The TrackViaAccount controller's cache.
    pub accounts: Option<Store<TrackViaAccount>>,
    /// The WorkatoWorkspace controller's cache.
    pub workspaces: Option<Store<WorkatoWorkspace>>,
    /// Their indexes (`None`: scan the caches).
    pub lookups: Option<Arc<Lookups>>,
}

/// Object `name` of a kind in `ns`: from `store`, or from the API server when the store does not
/// have it (not synced yet, or it lags an object created a moment ago; a change of it reaches the
/// reader through the same cache's watch, so the cache is never older than what woke it).
pub async fn get<K>(
    store: Option<&Store<K>>,
    client: &Client,
    (ns, name): (&str, &str),
    op: &'static str,
) -> Result<Option<K>, Error>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    if let Some(o) = store.and_then(|s| s.get(&ObjectRef::new(name).within(ns))) {
        return Ok(Some((*o).clone()));
    }
    kube::Api::<K>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .map_err(Error::kube(op))
}

impl Caches {
    /// TrackViaAccount `name` in `ns` (see [`get`]).
    pub async fn account(
        &self,
        client: &Client,
        ns: &str,
        name: &str,
    ) -> Result<Option<TrackViaAccount>, Error> {
        get(
            self.accounts.as_ref(),
            client,
            (ns, name),
            "reading the TrackViaAccount",
        )
        .await
    }

    /// WorkatoWorkspace `name` in `ns` (see [`get`]).
    pub async fn workspace(
        &self,
        client: &Client,
        ns: &str,
        name: &str,
    ) -> Result<Option<WorkatoWorkspace>, Error> {
        get(
            self.workspaces.as_ref(),
            client,
            (ns, name),
            "reading the WorkatoWorkspace",
        )
        .await
    }

    /// IntegrationAccount `name` in `ns` (see [`get`]).
    pub async fn integration_account(
        &self,
        client: &Client,
        ns: &str,
        name: &str,
    ) -> Result<Option<IntegrationAccount>, Error> {
        get(
            self.integration_accounts.as_ref(),
            client,
            (ns, name),
            "reading the IntegrationAccount",
        )
        .await
    }

    /// The WorkatoConnections of IntegrationAccount `account` in `ns`. From [`Source::Cache`]
    /// once the controller's cache has synced (an IntegrationAccount reconcile must not list
    /// connections from the API server each time: across all accounts that is quadratic in the
    /// number of objects), else from the API server.
    pub async fn connections(
        &self,
        client: &Client,
        ns: &str,
        account: &str,
        source: Source,
    ) -> Result<Vec<Arc<WorkatoConnection>>, Error> {
        of_account(
            (
                self.connections.as_ref(),
                self.lookups.as_deref().map(|l| &l.wc_by_integration),
            ),
            source,
            client,
            (ns, account),
            "listing WorkatoConnections",
            |w| &w.spec.integration_account_ref.name,
        )
        .await
    }

    /// The CredentialRotations of IntegrationAccount `account` in `ns`, like
    /// [`Caches::connections`].
    pub async fn rotations(
        &self,
        client: &Client,
        ns: &str,
        account: &str,
        source: Source,
    ) -> Result<Vec<Arc<CredentialRotation>>, Error> {
        of_account(
            (
                self.rotations.as_ref(),
                self.lookups.as_deref().map(|l| &l.rotations_by_integration),
            ),
            source,
            client,
            (ns, account),
            "listing CredentialRotations",
            |r| &r.spec.integration_account_ref.name,
        )
        .await
    }

    /// The oldest other IntegrationAccount of the same TrackViaAccount and email, if `ia` is not
    /// it: one TrackVia user belongs to one IntegrationAccount.
    pub fn claimant(&self, ia: &IntegrationAccount) -> Option<String> {
        let store = self.integration_accounts.as_ref()?;
        let me = (ia.creation_timestamp(), ia.name_any());
        let ns = ia.namespace().unwrap_or_default();
        let others: Vec<Arc<IntegrationAccount>> = match &self.lookups {
            Some(l) => l
                .ia_by_user
                .names(&ns, &user_key(ia))
                .iter()
                .filter_map(|n| store.get(&ObjectRef::new(n).within(&ns)))
                .collect(),
            None => store.state(),
        };
        others
            .iter()
            .filter(|o| {
                o.namespace() == ia.namespace()
                    && o.name_any() != ia.name_any()
                    && o.spec.account_ref == ia.spec.account_ref
                    && o.spec.email.eq_ignore_ascii_case(&ia.spec.email)
                    && o.meta().deletion_timestamp.is_none()
            })
            .map(|o| (o.creation_timestamp(), o.name_any()))
            .filter(|other| *other < me)
            .min()
            .map(|(_, name)| name)
    }
}
