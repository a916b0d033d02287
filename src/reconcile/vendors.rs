//! The vendor client registry: one TrackVia client per account and one Workato client per
//! workspace (by the object's uid), reused across reconciles and rebuilt when the configuration
//! changes, each sharing its account's or workspace's request budget (docs/vendors.md).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::external::RateLimiter;
use crate::metrics::Metrics;
use crate::secret::{Sensitive, fingerprint};
use crate::trackvia::{HttpTrackvia, TrackviaConfig};
use crate::workato::{HttpWorkato, WorkatoBudget, WorkatoConfig};

/// The clients and their budgets.
pub struct Vendors {
    /// Keys the cached configurations (a client is rebuilt when its configuration's fingerprint
    /// changes; no credential is kept as a map key).
    key: Sensitive<Vec<u8>>,
    trackvia_requests_per_second: u32,
    metrics: Arc<Metrics>,
    trackvia: Mutex<HashMap<String, (String, Arc<HttpTrackvia>)>>,
    trackvia_limiters: Mutex<HashMap<String, RateLimiter>>,
    workato: Mutex<HashMap<String, (String, Arc<HttpWorkato>)>>,
    workato_budgets: Mutex<HashMap<String, WorkatoBudget>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section here is a single map operation: a poisoned map is still consistent.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Vendors {
    /// A registry; `trackvia_requests_per_second` is each TrackVia account's budget.
    pub fn new(key: Sensitive<Vec<u8>>, trackvia_requests_per_second: u32, metrics: Arc<Metrics>) -> Self {
        Self {
            key,
            trackvia_requests_per_second,
            metrics,
            trackvia: Mutex::default(),
            trackvia_limiters: Mutex::default(),
            workato: Mutex::default(),
            workato_budgets: Mutex::default(),
        }
    }

    /// The TrackVia client of an account (by its uid), rebuilt when its configuration changes.
    /// Every client of one account shares one request budget.
    pub fn trackvia(
        &self,
        account_uid: &str,
        config: TrackviaConfig,
    ) -> Result<Arc<HttpTrackvia>, reqwest::Error> {
        let key = fingerprint(
            self.key.expose(),
            &format!(
                "{}|{}|{}",
                config.base_url,
                config.account_id.as_deref().unwrap_or_default(),
                config.api_key.expose()
            ),
        );
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
                    self.trackvia_requests_per_second,
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
        let key = fingerprint(
            self.key.expose(),
            &format!(
                "{}|{}|{}",
                config.base_url,
                config.managed_user_id.as_deref().unwrap_or_default(),
                config.api_token.expose()
            ),
        );
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
}
