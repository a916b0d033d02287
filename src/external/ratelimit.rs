//! Client-side request budgets: never more than `limit` requests in any window of `window`.
//!
//! A sliding window of reservations is the most conservative reading of a documented "N per
//! period" limit: it stays under a server that counts with a fixed window, a sliding window or a
//! token bucket alike, yet it never waits longer than the limit requires. Slots are handed out in
//! FIFO order, so concurrent callers (every WorkatoConnection of one workspace) share one budget
//! fairly. A `Retry-After` from the server pauses the whole budget.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// A shared request budget. Cloning shares it.
#[derive(Clone, Debug)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: &'static str,
    limit: usize,
    window: Duration,
    /// Safety margin added to the window, for clock and network jitter between us and the server.
    margin: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Start times of the most recent reservations (at most `limit`), oldest first; may lie in the future.
    slots: VecDeque<Instant>,
    /// Nothing may start before this (set from `Retry-After`).
    paused_until: Option<Instant>,
}

impl RateLimiter {
    /// At most `limit` requests in any `window`. The margin defaults to 5% of the window, at most
    /// 100 ms.
    pub fn new(name: &'static str, limit: u32, window: Duration) -> Self {
        let margin = (window / 20).min(Duration::from_millis(100));
        Self::with_margin(name, limit, window, margin)
    }

    /// Like [`RateLimiter::new`] with an explicit margin.
    pub fn with_margin(name: &'static str, limit: u32, window: Duration, margin: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                name,
                limit: limit.max(1) as usize,
                window,
                margin,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// The budget's name (for metrics and logs).
    pub fn name(&self) -> &'static str {
        self.inner.name
    }

    /// Waits for a slot and takes it. Returns how long the caller waited.
    pub async fn acquire(&self) -> Duration {
        let now = Instant::now();
        let slot = self.reserve(now);
        if slot > now {
            tokio::time::sleep_until(slot).await;
        }
        slot.saturating_duration_since(now)
    }

    /// How long from now until `n` requests (at most the limit) could go back to back without
    /// waiting, if nobody else took a slot meanwhile. Takes nothing.
    pub fn free_in(&self, n: usize) -> Duration {
        let inner = &self.inner;
        let now = Instant::now();
        let n = n.clamp(1, inner.limit);
        let state = self.lock();
        let mut at = now;
        if let Some(p) = state.paused_until {
            at = at.max(p);
        }
        if let Some(last) = state.slots.back() {
            at = at.max(*last);
        }
        // Of the reservations in the window, at most `limit - n` may remain when the first of
        // the `n` goes: the older ones must have left the window.
        let keep = inner.limit - n;
        if state.slots.len() > keep {
            let must_expire = state.slots[state.slots.len() - keep - 1];
            at = at.max(must_expire + inner.window + inner.margin);
        }
        at.saturating_duration_since(now)
    }

    /// Pauses the budget until `now + after` (the server said `Retry-After`).
    pub fn pause_for(&self, after: Duration) {
        let until = Instant::now() + after;
        let mut state = self.lock();
        if state.paused_until.is_none_or(|p| p < until) {
            state.paused_until = Some(until);
        }
    }

    /// Reserves the earliest slot at or after `now` that keeps every window within the limit.
    fn reserve(&self, now: Instant) -> Instant {
        let inner = &self.inner;
        let mut state = self.lock();
        let mut slot = now;
        if let Some(p) = state.paused_until {
            slot = slot.max(p);
        }
        if let Some(last) = state.slots.back() {
            slot = slot.max(*last);
        }
        if state.slots.len() >= inner.limit {
            let oldest_in_window = state.slots[state.slots.len() - inner.limit];
            slot = slot.max(oldest_in_window + inner.window + inner.margin);
        }
        state.slots.push_back(slot);
        while state.slots.len() > inner.limit {
            state.slots.pop_front();
        }
        slot
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means another task panicked while holding it; the slot list is
        // still consistent (every mutation is a single push/pop).
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_per_second_paces_exactly() {
        let rl = RateLimiter::with_margin("t", 1, Duration::from_secs(1), Duration::ZERO);
        let start = Instant::now();
        for i in 0..5u64 {
            rl.acquire().await;
            assert_eq!(Instant::now() - start, Duration::from_secs(i));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn bursts_up_to_the_limit_then_waits_for_the_window() {
        let rl = RateLimiter::with_margin("t", 3, Duration::from_secs(60), Duration::ZERO);
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(rl.acquire().await, Duration::ZERO);
        }
        rl.acquire().await;
        assert_eq!(Instant::now() - start, Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn no_window_ever_holds_more_than_the_limit_under_concurrency() {
        let rl = RateLimiter::with_margin("t", 4, Duration::from_secs(10), Duration::ZERO);
        let start = Instant::now();
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let rl = rl.clone();
                tokio::spawn(async move {
                    rl.acquire().await;
                    Instant::now() - start
                })
            })
            .collect();
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.unwrap());
        }
        times.sort();
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .take_while(|u| **u < *t + Duration::from_secs(10))
                .count();
            assert!(in_window <= 4, "window starting at {t:?} holds {in_window}");
        }
        // And it is not slower than needed: 20 requests at 4 per 10 s end at 40 s.
        assert_eq!(*times.last().unwrap(), Duration::from_secs(40));
    }

    #[tokio::test(start_paused = true)]
    async fn free_in_says_when_a_burst_fits_whole() {
        let rl = RateLimiter::with_margin("t", 3, Duration::from_secs(60), Duration::ZERO);
        assert_eq!(rl.free_in(3), Duration::ZERO);
        rl.acquire().await;
        tokio::time::advance(Duration::from_secs(10)).await;
        // One slot taken 10 s ago: two fit now, three only once it leaves the window.
        assert_eq!(rl.free_in(2), Duration::ZERO);
        assert_eq!(rl.free_in(3), Duration::from_secs(50));
        assert_eq!(rl.free_in(99), Duration::from_secs(50), "clamped to the limit");
        rl.acquire().await;
        rl.acquire().await;
        assert_eq!(rl.free_in(1), Duration::from_secs(50));
        // And the answer holds: after waiting it, the burst goes without waiting.
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(rl.free_in(3), Duration::ZERO);
        for _ in 0..3 {
            assert_eq!(rl.acquire().await, Duration::ZERO);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_pauses_the_budget() {
        let rl = RateLimiter::with_margin("t", 10, Duration::from_secs(1), Duration::ZERO);
        rl.pause_for(Duration::from_secs(3));
        assert_eq!(rl.acquire().await, Duration::from_secs(3));
    }
}
