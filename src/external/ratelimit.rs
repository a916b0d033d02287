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
    /// Told each time a reservation starts or is given back.
    started: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct State {
    /// The most recent reservations, oldest first: the last `limit` that started (at the time
    /// they did), then every one still waiting (at the time it plans to start).
    slots: VecDeque<Slot>,
    /// Number of the next reservation.
    next: u64,
    /// Nothing may start before this (set from `Retry-After`).
    paused_until: Option<Instant>,
}

/// One reservation.
#[derive(Debug, Clone, Copy)]
struct Slot {
    number: u64,
    at: Instant,
    started: bool,
}

/// What a caller whose planned time has come may do.
enum Turn {
    Go,
    /// An earlier reservation started late: wait until then.
    WaitUntil(Instant),
    /// An earlier reservation has not started yet.
    WaitForEarlier,
}

/// A reservation being waited for; given back if its caller goes away before it starts.
struct Reservation<'a> {
    limiter: &'a RateLimiter,
    number: u64,
    started: bool,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.started {
            self.limiter.lock().slots.retain(|s| s.number != self.number);
            self.limiter.inner.started.notify_waiters();
        }
    }
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
                started: tokio::sync::Notify::new(),
            }),
        }
    }

    /// The budget's name (for metrics and logs).
    pub fn name(&self) -> &'static str {
        self.inner.name
    }

    /// Waits for a slot and takes it. Returns how long the caller waited.
    ///
    /// A reservation counts from when its caller actually starts, not from when it planned to: a
    /// caller that wakes late (a process short of CPU) moves the callers after it, so the requests
    /// keep their distance as sent, not only as planned. Callers start in the order they reserved.
    pub async fn acquire(&self) -> Duration {
        let asked = Instant::now();
        let (number, mut at) = self.reserve(asked);
        let mut reservation = Reservation {
            limiter: self,
            number,
            started: false,
        };
        loop {
            if at > Instant::now() {
                tokio::time::sleep_until(at).await;
            }
            let earlier_started = self.inner.started.notified();
            tokio::pin!(earlier_started);
            earlier_started.as_mut().enable();
            match self.turn(number, Instant::now()) {
                Turn::Go => break,
                Turn::WaitUntil(t) => at = t,
                Turn::WaitForEarlier => earlier_started.await,
            }
        }
        reservation.started = true;
        self.inner.started.notify_waiters();
        Instant::now().saturating_duration_since(asked)
    }

    /// How long from now until `n` requests (at most the limit) could go back to back without
    /// waiting, if nobody else took a slot meanwhile. Takes nothing.
    pub fn free_in(&self, n: usize) -> Duration {
        let inner = &self.inner;
        let now = Instant::now();
        let n = n.clamp(1, inner.limit);
        let state = self.lock();
        // All `n` go at once when the last of them may (`n - 1` places after the list's end).
        let mut at = self.earliest(&state, state.slots.len() + n - 1, now);
        if let Some(last) = state.slots.back() {
            at = at.max(last.at);
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

    /// Reserves the earliest slot at or after `now` that keeps every window within the limit, as
    /// planned now; returns its number and time.
    fn reserve(&self, now: Instant) -> (u64, Instant) {
        let mut state = self.lock();
        let mut slot = self.earliest(&state, state.slots.len(), now);
        if let Some(last) = state.slots.back() {
            slot = slot.max(last.at);
        }
        let number = state.next;
        state.next += 1;
        state.slots.push_back(Slot {
            number,
            at: slot,
            started: false,
        });
        (number, slot)
    }

    /// The earliest a reservation at `position` in the list may start, from `now`: after a pause,
    /// and a window (with its margin) after the one `limit` places before it.
    fn earliest(&self, state: &State, position: usize, now: Instant) -> Instant {
        let inner = &self.inner;
        let mut at = now;
        if let Some(p) = state.paused_until {
            at = at.max(p);
        }
        if let Some(before) = position.checked_sub(inner.limit).and_then(|k| state.slots.get(k)) {
            at = at.max(before.at + inner.window + inner.margin);
        }
        at
    }

    /// Whether reservation `number` may start at `now`; if so, it is marked started at `now`.
    fn turn(&self, number: u64, now: Instant) -> Turn {
        let mut state = self.lock();
        let Some(i) = state.slots.iter().position(|s| s.number == number) else {
            // (never: a reservation leaves the list only after it started)
            return Turn::Go;
        };
        if state.slots.iter().take(i).any(|s| !s.started) {
            return Turn::WaitForEarlier;
        }
        let earliest = self.earliest(&state, i, now);
        if earliest > now {
            state.slots[i].at = earliest;
            return Turn::WaitUntil(earliest);
        }
        state.slots[i] = Slot {
            number,
            at: now,
            started: true,
        };
        // Those up to `i` have started, none after it. Only the last `limit` that started are
        // needed to place the ones after them.
        state.slots.drain(..(i + 1).saturating_sub(self.inner.limit));
        Turn::Go
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means another task panicked while holding it; the slot list is
        // still consistent (nothing in a critical section panics between two changes of it).
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
        let times = starts(&rl, &[Duration::ZERO; 20]).await;
        assert_kept(&times, 4, Duration::from_secs(10));
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

    /// Runs callers of `rl` on one thread that `blocks` (from, for) keep busy, as a process short
    /// of CPU is; returns when each caller started, in order.
    fn starts_on_a_busy_thread(
        rl: &RateLimiter,
        callers: &[Duration],
        blocks: &[(Duration, Duration)],
    ) -> Vec<Duration> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let t0 = Instant::now();
            for &(from, for_) in blocks {
                tokio::spawn(async move {
                    tokio::time::sleep_until(t0 + from).await;
                    std::thread::sleep(for_);
                });
            }
            starts(rl, callers).await
        })
    }

    /// Runs callers of `rl`, each `after` its delay from now; returns when each started (from
    /// now), in order.
    async fn starts(rl: &RateLimiter, callers: &[Duration]) -> Vec<Duration> {
        let t0 = Instant::now();
        let tasks: Vec<_> = callers
            .iter()
            .map(|&after| {
                let rl = rl.clone();
                tokio::spawn(async move {
                    tokio::time::sleep_until(t0 + after).await;
                    rl.acquire().await;
                    Instant::now() - t0
                })
            })
            .collect();
        let mut starts = Vec::new();
        for t in tasks {
            starts.push(t.await.unwrap());
        }
        starts.sort();
        starts
    }

    /// No `limit + 1` starts within `window`.
    fn assert_kept(starts: &[Duration], limit: usize, window: Duration) {
        for (i, w) in starts.windows(limit + 1).enumerate() {
            assert!(
                w[limit] - w[0] >= window,
                "starts {i}..={} within {:?} (limit {limit} per {window:?}): {starts:?}",
                i + limit,
                w[limit] - w[0]
            );
        }
    }

    #[test]
    fn a_caller_that_wakes_late_moves_the_ones_after_it() {
        // 1 per 200 ms: planned at 0, 210 and 420 ms. The thread is busy from 150 to 400 ms, so
        // the second starts at about 400 ms; the third must not start 20 ms after it.
        let window = Duration::from_millis(200);
        let rl = RateLimiter::with_margin("t", 1, window, Duration::from_millis(10));
        let starts = starts_on_a_busy_thread(
            &rl,
            &[Duration::ZERO; 3],
            &[(Duration::from_millis(150), Duration::from_millis(250))],
        );
        assert_kept(&starts, 1, window);
    }

    #[test]
    fn generated_schedules_of_late_wakes_never_crowd_a_window() {
        for seed in 0..6 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let limit = rng.usize(1..=3);
            let window = Duration::from_millis(50);
            let rl = RateLimiter::with_margin("t", limit as u32, window, Duration::from_millis(10));
            let callers: Vec<_> = (0..10).map(|_| Duration::from_millis(rng.u64(0..100))).collect();
            let blocks: Vec<_> = (0..4)
                .map(|_| {
                    (
                        Duration::from_millis(rng.u64(0..300)),
                        Duration::from_millis(rng.u64(10..80)),
                    )
                })
                .collect();
            let starts = starts_on_a_busy_thread(&rl, &callers, &blocks);
            assert_kept(&starts, limit, window);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_that_goes_away_gives_its_reservation_back() {
        let rl = RateLimiter::with_margin("t", 1, Duration::from_secs(1), Duration::ZERO);
        rl.acquire().await;
        // The second caller is dropped while it waits for its slot (at 1 s).
        let gone = tokio::time::timeout(Duration::from_millis(500), rl.acquire()).await;
        assert!(gone.is_err());
        // The third is not held behind it: it goes at 1 s, when the window allows.
        let start = Instant::now();
        rl.acquire().await;
        assert_eq!(Instant::now() - start, Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_pauses_the_budget() {
        let rl = RateLimiter::with_margin("t", 10, Duration::from_secs(1), Duration::ZERO);
        rl.pause_for(Duration::from_secs(3));
        assert_eq!(rl.acquire().await, Duration::from_secs(3));
    }
}
