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
}

impl<T> Default for ListingCache<T> {
    fn default() -> Self {
        Self {
            entries: Mutex::default(),
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
        let cached = self.lock().get(key).cloned();
        match cached {
            Some((at, value)) if !fresh && at.elapsed() < max_age => Ok(value),
            _ => {
                let value = Arc::new(read().await?);
                self.lock()
                    .insert(key.to_owned(), (Instant::now(), value.clone()));
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
