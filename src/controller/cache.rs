//! A small shared cache of vendor listings, one entry per account or workspace, so that the cost
//! of a periodic listing does not grow with the number of objects that read it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Listings by key (an account's or workspace's uid), each with the time it was read.
pub struct ListingCache<T> {
    entries: Mutex<HashMap<String, (Instant, Arc<T>)>>,
    /// One reader per key at a time: the objects that find a listing stale together wait for
    /// one read instead of each making its own (single flight).
    readers: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl<T> Default for ListingCache<T> {
    fn default() -> Self {
        Self {
            entries: Mutex::default(),
            readers: Mutex::default(),
        }
    }
}

impl<T> ListingCache<T> {
    /// The listing of `key`: the cached one if younger than `max_age` (and not `fresh`), else
    /// the result of `read`, which is then cached.
    pub async fn get_or_read<E, F, Fut>(
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
            Some((at, value)) if at >= requested => Ok(value),
            Some((at, value)) if !fresh && at.elapsed() < max_age => Ok(value),
            _ => {
                // Stamped with the start of the read: the listing is as of then.
                let started = Instant::now();
                let value = Arc::new(read().await?);
                self.lock().insert(key.to_owned(), (started, value.clone()));
                Ok(value)
            }
        }
    }

    /// Forgets the listing of `key` (after a change of ours).
    pub fn forget(&self, key: &str) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Arc<T>)>> {
        // Each critical section is one map operation: a poisoned map is still consistent.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn callers_that_find_a_listing_stale_together_share_one_read() {
        let cache: Arc<ListingCache<usize>> = Arc::default();
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
        let cache: ListingCache<u32> = ListingCache::default();
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
}
