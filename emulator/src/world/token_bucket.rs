//! Token buckets for the emulated rate limits.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Instant;

use super::sync::lock;

/// How early (in seconds) a request may arrive and still find its token: absorbs scheduling
/// and network jitter so that a client paced exactly at the limit is never refused.
const JITTER_TOLERANCE_SECS: f64 = 0.05;

/// A bucket holding up to `capacity` tokens, refilled continuously at `per_sec` tokens/second.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(capacity: f64, per_sec: f64, now: Instant) -> Self {
        Self {
            capacity,
            per_sec,
            tokens: capacity,
            last: now,
        }
    }

    /// Takes one token if available (within the jitter tolerance).
    pub fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        self.last = now;
        let needed = 1.0 - JITTER_TOLERANCE_SECS * self.per_sec;
        if self.tokens >= needed {
            self.tokens = (self.tokens - 1.0).max(0.0);
            true
        } else {
            false
        }
    }
}

/// One bucket per key, created full on first use.
#[derive(Debug)]
pub struct Buckets<K> {
    buckets: Mutex<HashMap<K, TokenBucket>>,
}

impl<K> Default for Buckets<K> {
    fn default() -> Self {
        Self {
            buckets: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash> Buckets<K> {
    /// Takes a token from `key`'s bucket; false when the caller is over the limit.
    pub fn try_take(&self, key: K, capacity: f64, per_sec: f64) -> bool {
        let now = Instant::now();
        lock(&self.buckets)
            .entry(key)
            .or_insert_with(|| TokenBucket::new(capacity, per_sec, now))
            .try_take(now)
    }

    /// Forgets every bucket (all limits start full again).
    pub fn reset(&self) {
        lock(&self.buckets).clear();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn one_per_second_allows_paced_calls_and_refuses_bursts() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(1.0, 1.0, start);
        assert!(bucket.try_take(start));
        assert!(!bucket.try_take(start + Duration::from_millis(10)));
        // Slightly early (jitter) still passes.
        assert!(bucket.try_take(start + Duration::from_millis(980)));
        assert!(bucket.try_take(start + Duration::from_millis(1980)));
        assert!(!bucket.try_take(start + Duration::from_millis(2100)));
    }

    #[test]
    fn sixty_per_minute_allows_a_burst_of_sixty() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(60.0, 1.0, start);
        assert!((0..60).all(|_| bucket.try_take(start)));
        assert!(!bucket.try_take(start));
        assert!(bucket.try_take(start + Duration::from_secs(1)));
    }

    #[test]
    fn keyed_buckets_are_independent_and_resettable() {
        let buckets = Buckets::default();
        assert!(buckets.try_take("a", 1.0, 1.0));
        assert!(!buckets.try_take("a", 1.0, 1.0));
        assert!(buckets.try_take("b", 1.0, 1.0));
        buckets.reset();
        assert!(buckets.try_take("a", 1.0, 1.0));
    }
}
