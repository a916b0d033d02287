//! What every reconciler shares: the Kubernetes client, the clock, the fingerprint key, the
//! vendor clients (one per account or workspace, reused across reconciles) and their budgets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use futures::FutureExt;
use kube::Client;
use kube::api::ListParams;
use kube::runtime::events::Reporter;
use kube::runtime::reflector::Store;

use super::cache::ListingCache;
use crate::api::{CredentialRotation, IntegrationAccount, WorkatoConnection};
use crate::clock::Clock;
use crate::external::RateLimiter;
use crate::metrics::Metrics;
use crate::secret::{Sensitive, fingerprint};
use crate::trackvia::{AuthToken, HttpTrackvia, TrackviaApi, TrackviaConfig, TrackviaError, User};
use crate::workato::{Connection, HttpWorkato, Recipe, WorkatoBudget, WorkatoConfig, WorkatoError};

/// Intervals and limits of the operator.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Re-check of TrackViaAccount admin credentials when the spec sets none.
    pub account_check_interval: Duration,
    /// Re-check of WorkatoWorkspace tokens when the spec sets none.
    pub workspace_check_interval: Duration,
    /// Re-validation of each IntegrationAccount's token.
    pub token_check_interval: Duration,
    /// How often the user list of an account is read while users wait for verification (one
    /// listing per account per interval, shared by every IntegrationAccount of the account).
    pub user_poll_interval: Duration,
    /// Budget of TrackVia calls per account per second (TrackVia publishes none).
    pub trackvia_requests_per_second: u32,
    /// How often a rotation probes the old token until TrackVia rejects it.
    pub revocation_probe_interval: Duration,
    /// Timeout of each TrackVia and Workato request; `None`: each vendor's default (30 s, 45 s).
    pub vendor_request_timeout: Option<Duration>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            account_check_interval: Duration::from_secs(600),
            workspace_check_interval: Duration::from_secs(300),
            token_check_interval: Duration::from_secs(900),
            user_poll_interval: Duration::from_secs(60),
            trackvia_requests_per_second: 5,
            revocation_probe_interval: Duration::from_secs(300),
            vendor_request_timeout: None,
        }
    }
}

/// Shared state of the reconcilers.
pub struct Context {
    /// Kubernetes.
    pub client: Client,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Key of the token fingerprints in status.
    pub fingerprint_key: Sensitive<Vec<u8>>,
    /// Event reporter identity.
    pub reporter: Reporter,
    /// Intervals.
    pub settings: Settings,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    trackvia: Mutex<HashMap<String, (String, Arc<HttpTrackvia>)>>,
    trackvia_limiters: Mutex<HashMap<String, RateLimiter>>,
    workato: Mutex<HashMap<String, (String, Arc<HttpWorkato>)>>,
    workato_budgets: Mutex<HashMap<String, WorkatoBudget>>,
    directory: ListingCache<Vec<User>, TrackviaError>,
    /// Connections of each workspace, listed at most once per workspace check interval.
    pub connections: ListingCache<Vec<Connection>, WorkatoError>,
    /// TrackVia recipes of each workspace, listed at most once per workspace check interval.
    pub recipes: ListingCache<Vec<Recipe>, WorkatoError>,
    integration_accounts: OnceLock<Store<IntegrationAccount>>,
    workato_connections: OnceLock<Store<WorkatoConnection>>,
    credential_rotations: OnceLock<Store<CredentialRotation>>,
}

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
    store: Option<&Store<K>>,
    source: Source,
    client: &Client,
    (ns, account): (&str, &str),
    op: &'static str,
    account_of: fn(&K) -> &str,
) -> Result<Vec<Arc<K>>, super::Error>
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
        return Ok(store.state().into_iter().filter(|o| mine(o)).collect());
    }
    // The CRDs declare the reference a selectable field, so the API server sends just this
    // account's objects. An API server older than 1.30 refuses the selector: list them all.
    let api = kube::Api::<K>::namespaced(client.clone(), ns);
    let selected = ListParams::default().fields(&format!("{ACCOUNT_REF_FIELD}={account}"));
    let list = match api.list(&selected).await {
        Err(kube::Error::Api(s)) if s.code == 400 => api.list(&ListParams::default()).await,
        other => other,
    }
    .map_err(super::Error::kube(op))?;
    Ok(list.items.into_iter().filter(|o| mine(o)).map(Arc::new).collect())
}

/// The selectable field (see the CRDs) naming the IntegrationAccount of a WorkatoConnection or a
/// CredentialRotation.
const ACCOUNT_REF_FIELD: &str = "spec.integrationAccountRef.name";

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section here is a single map operation: a poisoned map is still consistent.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Context {
    /// A context.
    pub fn new(
        client: Client,
        clock: Arc<dyn Clock>,
        fingerprint_key: Sensitive<Vec<u8>>,
        settings: Settings,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            client,
            clock,
            fingerprint_key,
            reporter: Reporter {
                controller: "trackvia-operator".into(),
                instance: std::env::var("POD_NAME").ok(),
            },
            settings,
            metrics,
            trackvia: Mutex::default(),
            trackvia_limiters: Mutex::default(),
            workato: Mutex::default(),
            workato_budgets: Mutex::default(),
            directory: ListingCache::default(),
            connections: ListingCache::default(),
            recipes: ListingCache::default(),
            integration_accounts: OnceLock::new(),
            workato_connections: OnceLock::new(),
            credential_rotations: OnceLock::new(),
        }
    }

    /// Gives the reconcilers the IntegrationAccount cache (set once at start).
    pub fn set_integration_accounts(&self, store: Store<IntegrationAccount>) {
        let _ = self.integration_accounts.set(store);
    }

    /// The IntegrationAccount cache, when running under the controller.
    pub fn integration_accounts(&self) -> Option<&Store<IntegrationAccount>> {
        self.integration_accounts.get()
    }

    /// Gives the reconcilers the WorkatoConnection and CredentialRotation caches (set once at start).
    pub fn set_stores(&self, connections: Store<WorkatoConnection>, rotations: Store<CredentialRotation>) {
        let _ = self.workato_connections.set(connections);
        let _ = self.credential_rotations.set(rotations);
    }

    /// The WorkatoConnections of IntegrationAccount `account` in `ns`. From [`Source::Cache`]
    /// once the controller's cache has synced (an IntegrationAccount reconcile must not list
    /// connections from the API server each time: across all accounts that is quadratic in the
    /// number of objects), else from the API server.
    pub async fn workato_connections_of(
        &self,
        ns: &str,
        account: &str,
        source: Source,
    ) -> Result<Vec<Arc<WorkatoConnection>>, super::Error> {
        of_account(
            self.workato_connections.get(),
            source,
            &self.client,
            (ns, account),
            "listing WorkatoConnections",
            |w| &w.spec.integration_account_ref.name,
        )
        .await
    }

    /// The CredentialRotations of IntegrationAccount `account` in `ns`, like
    /// [`Context::workato_connections_of`].
    pub async fn credential_rotations_of(
        &self,
        ns: &str,
        account: &str,
        source: Source,
    ) -> Result<Vec<Arc<CredentialRotation>>, super::Error> {
        of_account(
            self.credential_rotations.get(),
            source,
            &self.client,
            (ns, account),
            "listing CredentialRotations",
            |r| &r.spec.integration_account_ref.name,
        )
        .await
    }

    /// Fingerprint of a credential under the operator's key.
    pub fn fingerprint(&self, value: &str) -> String {
        fingerprint(self.fingerprint_key.expose(), value)
    }

    /// The TrackVia client of an account (by its uid), rebuilt when its configuration changes.
    /// Every client of one account shares one request budget.
    pub fn trackvia(
        &self,
        account_uid: &str,
        config: TrackviaConfig,
    ) -> Result<Arc<HttpTrackvia>, reqwest::Error> {
        let key = self.fingerprint(&format!(
            "{}|{}|{}",
            config.base_url,
            config.account_id.as_deref().unwrap_or_default(),
            config.api_key.expose()
        ));
        if let Some((k, c)) = lock(&self.trackvia).get(account_uid)
            && *k == key
        {
            return Ok(c.clone());
        }
        let limiter = lock(&self.trackvia_limiters)
            .entry(account_uid.to_owned())
            .or_insert_with(|| {
                RateLimiter::new(
                    "trackvia",
                    self.settings.trackvia_requests_per_second,
                    Duration::from_secs(1),
                )
            })
            .clone();
        let client = Arc::new(HttpTrackvia::with_limiter(config, limiter)?.observed_by(self.metrics.clone()));
        lock(&self.trackvia).insert(account_uid.to_owned(), (key, client.clone()));
        Ok(client)
    }

    /// The Workato client of a workspace (by its uid); one budget per workspace.
    pub fn workato(
        &self,
        workspace_uid: &str,
        config: WorkatoConfig,
    ) -> Result<Arc<HttpWorkato>, reqwest::Error> {
        let key = self.fingerprint(&format!(
            "{}|{}|{}",
            config.base_url,
            config.managed_user_id.as_deref().unwrap_or_default(),
            config.api_token.expose()
        ));
        if let Some((k, c)) = lock(&self.workato).get(workspace_uid)
            && *k == key
        {
            return Ok(c.clone());
        }
        let budget = lock(&self.workato_budgets)
            .entry(workspace_uid.to_owned())
            .or_default()
            .clone();
        let client = Arc::new(HttpWorkato::new(config, budget)?.observed_by(self.metrics.clone()));
        lock(&self.workato).insert(workspace_uid.to_owned(), (key, client.clone()));
        Ok(client)
    }

    /// Finds a user by email in the account's user list, read at most once per
    /// `user_poll_interval` per account whatever the number of IntegrationAccounts (`fresh`
    /// forces a new read, e.g. after a create of ours).
    pub async fn find_user(
        &self,
        account_uid: &str,
        api: &HttpTrackvia,
        admin: &AuthToken,
        email: &str,
        fresh: bool,
    ) -> Result<Option<User>, TrackviaError> {
        let users = self
            .directory
            .get_or_read(account_uid, self.settings.user_poll_interval, fresh, || {
                api.list_all_users(admin)
            })
            .await?;
        Ok(users
            .iter()
            .find(|u| u.email.eq_ignore_ascii_case(email))
            .cloned())
    }

    /// Forgets the cached user list of an account.
    pub fn forget_users(&self, account_uid: &str) {
        self.directory.forget(account_uid);
    }
}
