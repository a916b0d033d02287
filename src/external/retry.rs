//! Retries with capped, jittered exponential backoff, only for failures that are transient.

use std::future::Future;
use std::time::Duration;

/// How an error of an external call should be treated.
pub trait Classify {
    /// Worth retrying: the same call may succeed later (5xx, 429, timeouts, transport errors).
    fn is_transient(&self) -> bool;
    /// The server asked to wait this long (`Retry-After`).
    fn retry_after(&self) -> Option<Duration> {
        None
    }
    /// The server certainly did not act on the request (429, connection refused), so even a
    /// request that must not run twice may be sent again.
    fn never_processed(&self) -> bool {
        false
    }
}

/// Implements [`Classify`] for a vendor error enum with the variants both clients share:
/// `RateLimited { retry_after }` and `Transport { failure }` are transient, so is `Server` with a
/// 5xx `status`; only a 429 or a refused connection was certainly never processed.
#[macro_export]
#[doc(hidden)]
macro_rules! classify_vendor_error {
    ($error:ty) => {
        impl $crate::external::Classify for $error {
            fn is_transient(&self) -> bool {
                match self {
                    Self::RateLimited { .. } | Self::Transport { .. } => true,
                    Self::Server { status, .. } => *status >= 500,
                    _ => false,
                }
            }

            fn retry_after(&self) -> Option<std::time::Duration> {
                match self {
                    Self::RateLimited { retry_after, .. } => *retry_after,
                    _ => None,
                }
            }

            fn never_processed(&self) -> bool {
                matches!(
                    self,
                    Self::RateLimited { .. }
                        | Self::Transport {
                            failure: $crate::external::http::TransportFailure::Connect,
                            ..
                        }
                )
            }
        }
    };
}

/// Whether a request may be sent again after an ambiguous failure (timeout, 5xx, broken
/// connection), where the server may already have acted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Idempotence {
    /// Reads and updates to a fixed state: retry any transient failure.
    Idempotent,
    /// Creates and state transitions: retry only failures the server cannot have acted on; the
    /// caller resolves ambiguous ones by reading the state.
    NotIdempotent,
}

/// An error seen through the retry rule of a non-idempotent request.
struct Once<E>(E);

impl<E: Classify> Classify for Once<E> {
    fn is_transient(&self) -> bool {
        self.0.is_transient() && self.0.never_processed()
    }
    fn retry_after(&self) -> Option<Duration> {
        self.0.retry_after()
    }
}

/// `base` doubled `n` times, at most `max`: the wait of every exponential backoff of the operator
/// (HTTP retries here; persisted backoffs of rotations, user creation, token validation, failed
/// listings).
pub fn doubling(base: Duration, max: Duration, n: u32) -> Duration {
    let factor = 1u32.checked_shl(n.min(20)).unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(max)
}

/// Backoff policy: attempt `n` (0-based) waits a random time in `[0, min(max, base * 2^n)]`
/// ("full jitter"), or the server's `Retry-After` when it gave one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// First backoff ceiling.
    pub base: Duration,
    /// Largest backoff ceiling.
    pub max: Duration,
    /// Attempts in total, the first included.
    pub max_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(200),
            max: Duration::from_secs(10),
            max_attempts: 4,
        }
    }
}

impl Backoff {
    /// No retries.
    pub const NONE: Backoff = Backoff {
        base: Duration::ZERO,
        max: Duration::ZERO,
        max_attempts: 1,
    };

    /// The ceiling for attempt `n` (0-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        doubling(self.base, self.max, attempt)
    }

    /// Runs `op` until it succeeds, fails permanently or runs out of attempts. `on_retry` hears
    /// about each retry (for logs and metrics) before the wait.
    pub async fn run<T, E, F, Fut>(
        &self,
        mut op: F,
        mut on_retry: impl FnMut(&E, u32, Duration),
    ) -> Result<T, E>
    where
        E: Classify,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut attempt = 0;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) if e.is_transient() && attempt + 1 < self.max_attempts => {
                    let wait = e.retry_after().unwrap_or_else(|| jitter(self.ceiling(attempt)));
                    on_retry(&e, attempt + 1, wait);
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Backoff {
    /// [`Backoff::run`] under the retry rule of `idempotence`.
    pub async fn run_with<T, E, F, Fut>(
        &self,
        idempotence: Idempotence,
        mut op: F,
        mut on_retry: impl FnMut(&E, u32, Duration),
    ) -> Result<T, E>
    where
        E: Classify,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        match idempotence {
            Idempotence::Idempotent => self.run(op, on_retry).await,
            Idempotence::NotIdempotent => self
                .run(
                    || {
                        let fut = op();
                        async move { fut.await.map_err(Once) }
                    },
                    |e: &Once<E>, n, w| on_retry(&e.0, n, w),
                )
                .await
                .map_err(|Once(e)| e),
        }
    }
}

fn jitter(ceiling: Duration) -> Duration {
    let ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(fastrand::u64(0..=ms))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[derive(Debug, PartialEq)]
    enum E {
        Transient,
        Permanent,
        After(Duration),
    }

    impl Classify for E {
        fn is_transient(&self) -> bool {
            !matches!(self, E::Permanent)
        }
        fn never_processed(&self) -> bool {
            matches!(self, E::After(_))
        }
        fn retry_after(&self) -> Option<Duration> {
            match self {
                E::After(d) => Some(*d),
                _ => None,
            }
        }
    }

    #[test]
    fn ceilings_double_and_cap() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
            max_attempts: 9,
        };
        let c: Vec<_> = (0..6).map(|n| b.ceiling(n).as_millis()).collect();
        assert_eq!(c, [100, 200, 400, 800, 1000, 1000]);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_errors_then_gives_up() {
        let calls = AtomicU32::new(0);
        let r: Result<(), E> = Backoff::default()
            .run(
                || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err(E::Transient)
                },
                |_, _, _| {},
            )
            .await;
        assert_eq!(r, Err(E::Transient));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn never_retries_permanent_errors() {
        let calls = AtomicU32::new(0);
        let r: Result<(), E> = Backoff::default()
            .run(
                || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err(E::Permanent)
                },
                |_, _, _| {},
            )
            .await;
        assert_eq!(r, Err(E::Permanent));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn non_idempotent_requests_are_resent_only_when_never_processed() {
        let calls = AtomicU32::new(0);
        let r: Result<(), E> = Backoff::default()
            .run_with(
                Idempotence::NotIdempotent,
                || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err(E::Transient)
                },
                |_, _, _| {},
            )
            .await;
        assert_eq!(r, Err(E::Transient));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "a timeout may have been processed: not resent"
        );
        calls.store(0, Ordering::SeqCst);
        let r: Result<u32, E> = Backoff::default()
            .run_with(
                Idempotence::NotIdempotent,
                || async {
                    match calls.fetch_add(1, Ordering::SeqCst) {
                        0 => Err(E::After(Duration::from_secs(1))),
                        n => Ok(n),
                    }
                },
                |_, _, _| {},
            )
            .await;
        assert_eq!(r, Ok(1), "a 429 was never processed: resent");
    }

    #[tokio::test(start_paused = true)]
    async fn honours_retry_after() {
        let calls = AtomicU32::new(0);
        let start = tokio::time::Instant::now();
        let r: Result<u32, E> = Backoff::default()
            .run(
                || async {
                    match calls.fetch_add(1, Ordering::SeqCst) {
                        0 => Err(E::After(Duration::from_secs(7))),
                        n => Ok(n),
                    }
                },
                |_, _, _| {},
            )
            .await;
        assert_eq!(r, Ok(1));
        assert_eq!(tokio::time::Instant::now() - start, Duration::from_secs(7));
    }
}
