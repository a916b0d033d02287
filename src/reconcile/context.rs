//! What every reconciler shares: the Kubernetes client, the clock, the fingerprint key, the
//! settings, the metrics and the vendor client registry.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client};

use super::cached_secret::CachedSecret;
use super::vendors::Vendors;
use super::written::Written;
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::secret::{Sensitive, fingerprint};

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
    /// How often an active user is read again (through the same shared list), so that a
    /// deactivation in TrackVia is seen. Longer than the poll: every active IntegrationAccount is
    /// reconciled this often.
    pub user_recheck_interval: Duration,
    /// Budget of TrackVia calls per account per second (TrackVia publishes none).
    pub trackvia_requests_per_second: u32,
    /// How often a rotation probes the old token until TrackVia rejects it.
    pub revocation_probe_interval: Duration,
    /// Timeout of each TrackVia and Workato request; `None`: each vendor's default (30 s, 45 s).
    pub vendor_request_timeout: Option<Duration>,
    /// How often a WorkatoConnection reads its dependent recipes' jobs, at most (only recipes
    /// whose job counters moved; zero: never).
    pub recipe_jobs_interval: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            account_check_interval: Duration::from_secs(600),
            workspace_check_interval: Duration::from_secs(300),
            token_check_interval: Duration::from_secs(900),
            user_poll_interval: Duration::from_secs(60),
            user_recheck_interval: Duration::from_secs(300),
            trackvia_requests_per_second: 5,
            revocation_probe_interval: Duration::from_secs(300),
            vendor_request_timeout: None,
            recipe_jobs_interval: Duration::from_secs(300),
        }
    }
}

/// What every reconciler shares, and nothing else: what a reconciler of one kind alone needs (a
/// cache, an index, a lock) belongs to that reconciler's own context (see `crate::controller`).
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
    /// The vendor clients and their budgets.
    pub vendors: Vendors,
    /// The Secrets of the watched namespaces, as the shared Secret watch keeps them (see
    /// [`CachedSecret`]); `None` outside a running operator (then Secrets are read from the API
    /// server).
    pub secrets: Option<Store<CachedSecret>>,
    /// Our writes the caches have not shown yet (see [`Written`]).
    pub written: Written,
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
        let vendors = Vendors::new(
            fingerprint_key.clone(),
            settings.trackvia_requests_per_second,
            metrics.clone(),
        );
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
            vendors,
            secrets: None,
            written: Written::default(),
        }
    }

    /// Secret `name` in `ns`: from the Secret cache, unless `fresh` (a decision before a side
    /// effect that must see the latest committed state) or the cache does not have it (not synced
    /// yet, or it lags a Secret created a moment ago): then from the API server.
    pub async fn secret(&self, ns: &str, name: &str, fresh: bool) -> Result<Option<Secret>, kube::Error> {
        if !fresh
            && let Some(store) = &self.secrets
            && let Some(s) = store.get(&ObjectRef::new(name).within(ns))
            && s.has_data()
        {
            return Ok(Some(s.to_secret()));
        }
        Api::<Secret>::namespaced(self.client.clone(), ns)
            .get_opt(name)
            .await
    }

    /// Fingerprint of a credential under the operator's key.
    pub fn fingerprint(&self, value: &str) -> String {
        fingerprint(self.fingerprint_key.expose(), value)
    }
}

/// A reconciler's context: the shared [`Context`] (through `Deref`) and what that reconciler alone
/// reads (`own`: caches of other kinds, listings, a directory), built before the controllers start.
pub struct Scoped<T> {
    /// What every reconciler shares.
    pub base: Arc<Context>,
    /// What this reconciler alone reads.
    pub own: T,
}

impl<T> Deref for Scoped<T> {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.base
    }
}
