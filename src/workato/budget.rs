//! One Workato workspace's documented request budget (docs/vendors.md#workato-rate-limits):
//! `GET /api/connections`
//! 60/min; every other connection endpoint 1/s; recipes 60/min; jobs 60/min; connectors 60/min. Every client of the
//! workspace shares one budget, so the limits hold however many WorkatoConnections there are.

use std::time::Duration;

use crate::external::RateLimiter;

/// Which limit an endpoint counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bucket {
    /// `GET /api/connections`.
    ConnectionList,
    /// Every other connection endpoint.
    Connection,
    /// Recipe endpoints.
    Recipe,
    /// Job endpoints.
    Job,
    /// Connector metadata (`/api/integrations`, `/api/custom_connectors`).
    Connector,
}

/// The request budget of one workspace. Cloning shares it.
#[derive(Clone, Debug)]
pub struct WorkatoBudget {
    connection_list: RateLimiter,
    connection: RateLimiter,
    recipe: RateLimiter,
    job: RateLimiter,
    connector: RateLimiter,
}

impl Default for WorkatoBudget {
    fn default() -> Self {
        Self::documented()
    }
}

impl WorkatoBudget {
    /// The documented default limits.
    pub fn documented() -> Self {
        let minute = Duration::from_secs(60);
        Self {
            connection_list: RateLimiter::new("workato_connection_list", 60, minute),
            connection: RateLimiter::new("workato_connection", 1, Duration::from_secs(1)),
            recipe: RateLimiter::new("workato_recipe", 60, minute),
            job: RateLimiter::new("workato_job", 60, minute),
            connector: RateLimiter::new("workato_connector", 60, minute),
        }
    }

    /// How long until `n` recipe calls could go back to back without waiting (see
    /// [`RateLimiter::free_in`]).
    pub fn recipe_burst_free_in(&self, n: usize) -> Duration {
        self.recipe.free_in(n)
    }

    /// The limiter of a bucket.
    pub fn limiter(&self, bucket: Bucket) -> &RateLimiter {
        match bucket {
            Bucket::ConnectionList => &self.connection_list,
            Bucket::Connection => &self.connection,
            Bucket::Recipe => &self.recipe,
            Bucket::Job => &self.job,
            Bucket::Connector => &self.connector,
        }
    }
}
