//! What the TrackVia and Workato clients share: HTTP plumbing, request budgets and retries.

pub mod http;
pub mod observe;
pub mod ratelimit;
pub mod retry;

pub use http::HttpSettings;
pub use observe::{Observed, RequestObserver};
pub use ratelimit::RateLimiter;
pub use retry::{Backoff, Classify, Idempotence};
