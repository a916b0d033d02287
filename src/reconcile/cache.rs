//! A small shared cache of vendor listings, one entry per account or workspace, so that the cost
//! of a periodic listing does not grow with the number of objects that read it, nor, when the
//! vendor fails, with the number of times they are woken up (a failed listing is remembered and
//! not tried again before a backoff).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// First wait after a failed listing; doubles with every failure in a row.
const FAILURE_BACKOFF_BASE: Duration = Duration::from_secs(5);
/// Longest wait between two listings that fail.
const FAILURE_BACKOFF_MAX: Duration = Duration::from_secs(300);

/// A listing that failed: until when it is not tried again, how many failed in a row, and the
/// error every caller gets meanwhile.
struct Failure<E> {
    until: Instant,
    failures: u32,
    error: E,
}

/// Listings by key (an account's or workspace's uid), each with the time it was read.
pub struct ListingCache<T, E> {
    entries: Mutex<HashMap<String, (Instant, Arc<T>)>>,
    failures: Mutex<HashMap<String, Failure<E>>>,
    /// One reader per key at a time: the objects that find a listing stale together wait for
    /// one read instead of each making its own (single flight).
    readers: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl<T, E> Default for ListingCache<T, E> {
    fn default() -> Self {
        Self {
            entries: Mutex::default(),
            failures: Mutex::default(),
            readers: Mutex::default(),
        }
    }
}

fn lock<V>(m: &Mutex<V>) -> std::sync::MutexGuard<'_, V> {
    // Each critical section is one map operation: a poisoned map is still consistent.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<T, E: Clone> ListingCache<T, E> {
    /// The listing of `key`: the cached one if younger than `max_age` (and not `fresh`), else
    /// the result of `read`, which is then cached.
    pub async fn get_or_read<F, Fut>(
        &self,
        key: &str,
        max_age: Duration,
        fresh: bool,
        read: F,
    ) -> Result<Arc<T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let requested = Instant::now();
        let cached = self.lock().get(key).cloned();
        if let Some((at, value)) = cached
            && !fresh
            && at.elapsed() < max_age
        {
            return Ok(value);
        }
        let reader = self
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.to_owned())
            .or_default()
            .clone();
        let _turn = reader.lock().await;
        // Whoever read while this caller waited read after the request: that answer will do.
        let cached = self.lock().get(key).cloned();
        match cached {
            Some((at, value)) if at >= requested => return Ok(value),
            Some((at, value)) if !fresh && at.elapsed() < max_age => return Ok(value),
            _ => {}
        }
        // A listing that failed is not tried again before its backoff, however many callers ask.
        if let Some(f) = lock(&self.failures).get(key)
            && f.until > Instant::now()
        {
            return Err(f.error.clone());
        }
        // Stamped with the start of the read: the listing is as of then.
        let started = Instant::now();
        match read().await {
            Ok(v) => {
                let value = Arc::new(v);
                self.lock().insert(key.to_owned(), (started, value.clone()));
                lock(&self.failures).remove(key);
                Ok(value)
            }
            Err(error) => {
                let mut failures = lock(&self.failures);
                let n = failures.get(key).map_or(0, |f| f.failures) + 1;
                let wait = crate::external::retry::doubling(FAILURE_BACKOFF_BASE, FAILURE_BACKOFF_MAX, n - 1);
                failures.insert(
                    key.to_owned(),
                    Failure {
                        until: Instant::now() + wait,
                        failures: n,
                        error: error.clone(),
                    },
                );
                Err(error)
            }
        }
    }

    /// Forgets the listing of `key` (after a change of ours).
    pub fn forget(&self, key: &str) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Arc<T>)>> {
        lock(&self.entries)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn callers_that_find_a_listing_stale_together_share_one_read() {
        let cache: Arc<ListingCache<usize, ()>> = Arc::default();
        let reads = Arc::new(AtomicUsize::new(0));
        let callers: Vec<_> = (0..10)
            .map(|_| {
                let cache = cache.clone();
                let reads = reads.clone();
                tokio::spawn(async move {
                    cache
                        .get_or_read("ws", Duration::from_secs(60), false, || async {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            Ok::<_, ()>(reads.fetch_add(1, Ordering::SeqCst))
                        })
                        .await
                })
            })
            .collect();
        for c in callers {
            assert_eq!(*c.await.unwrap().unwrap(), 0);
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_fresh_read_is_never_older_than_the_request() {
        let cache: ListingCache<u32, ()> = ListingCache::default();
        let v = cache.get_or_read("ws", Duration::from_secs(60), false, || async { Ok::<_, ()>(1) });
        assert_eq!(*v.await.unwrap(), 1);
        tokio::time::advance(Duration::from_secs(1)).await;
        let v = cache.get_or_read("ws", Duration::from_secs(60), true, || async { Ok::<_, ()>(2) });
        assert_eq!(
            *v.await.unwrap(),
            2,
            "fresh skips a cached listing read before the request"
        );
        let v = cache.get_or_read("ws", Duration::from_secs(60), false, || async { Ok::<_, ()>(3) });
        assert_eq!(*v.await.unwrap(), 2, "and caches what it read");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_listing_is_not_tried_again_before_its_backoff() {
        let cache: ListingCache<u32, &'static str> = ListingCache::default();
        let reads = AtomicUsize::new(0);
        let read = || async {
            reads.fetch_add(1, Ordering::SeqCst);
            Err::<u32, _>("503")
        };
        // Woken every 100 ms for 30 s, with the vendor failing throughout.
        for _ in 0..300 {
            assert_eq!(
                cache.get_or_read("ws", Duration::from_secs(5), true, read).await,
                Err("503")
            );
            tokio::time::advance(Duration::from_millis(100)).await;
        }
        // At 0, 5, 15 s (backoffs of 5, 10, then 20 s).
        assert_eq!(reads.load(Ordering::SeqCst), 3);
        tokio::time::advance(Duration::from_secs(30)).await;
        let v = cache.get_or_read("ws", Duration::from_secs(5), false, || async { Ok::<_, &str>(7) });
        assert_eq!(*v.await.unwrap(), 7, "a success clears the failure");
    }
}
