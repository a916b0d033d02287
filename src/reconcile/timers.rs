//! The periodic checks of one kind, on one timer.
//!
//! A reconcile that asks to run again in five minutes could return kube's `Action::requeue`, but
//! then kube's scheduler holds an entry for every object, for as long as the object lives: a copy
//! of its `ObjectRef` (name, namespace, resource version and uid) in a map and another in a delay
//! queue, about 900 bytes. At 10k IntegrationAccounts and 10k WorkatoConnections, each always with
//! a check ahead, that was about 18 MiB. [`Timers`] keeps one key and one instant per object
//! (about 130 bytes) and hands each object to its controller when it is due, as a change would.
//!
//! The semantics are kube's for a reconcile's requeue: the instant the object's last reconcile
//! asked for holds (kube replaces an object's entry when a change runs it, and the reconcile then
//! schedules the next), and the object is handed on once, then forgotten. Two differences, both
//! costing at most one reconcile that finds nothing to do: a reconcile that fails, or that asks for
//! nothing (a deletion), leaves the instant asked before in place. Requeues after an error stay
//! with kube (they are few and short-lived).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use kube::Resource;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::sync::Notify;
use tokio::time::Instant;

/// An object's namespace and name, as `namespace/name` (neither may hold a `/`).
type Key = Arc<str>;

/// When each object of one kind is next due for its periodic checks.
#[derive(Default)]
pub struct Timers {
    due: Mutex<Due>,
    /// Rung when an object becomes the first due.
    earlier: Notify,
}

#[derive(Default)]
struct Due {
    at: HashMap<Key, Instant>,
    queue: BTreeSet<(Instant, Key)>,
}

impl Timers {
    /// Asks for `obj` to be reconciled again after `after`, in place of any instant asked before,
    /// and returns what its reconcile returns to kube: nothing to schedule there.
    pub fn requeue<K: Resource>(&self, obj: &K, after: Duration) -> Action {
        let meta = obj.meta();
        let ns = meta.namespace.as_deref().unwrap_or_default();
        let name = meta.name.as_deref().unwrap_or_default();
        self.at(ns, name, Instant::now() + after);
        Action::await_change()
    }

    /// Asks for object `ns/name` to be handed on at `when`, in place of any instant asked before.
    pub fn at(&self, ns: &str, name: &str, when: Instant) {
        let mut due = self.due.lock().unwrap_or_else(PoisonError::into_inner);
        let text = format!("{ns}/{name}");
        // The map's own key when it has one: `insert` keeps the old key, and the queue must hold
        // that one, not a second copy.
        let key: Key = match due.at.get_key_value(text.as_str()) {
            Some((k, _)) => k.clone(),
            None => Arc::from(text),
        };
        if let Some(before) = due.at.insert(key.clone(), when) {
            due.queue.remove(&(before, key.clone()));
        }
        due.queue.insert((when, key));
        let first = due.queue.first().is_some_and(|(t, _)| *t == when);
        drop(due);
        if first {
            self.earlier.notify_one();
        }
    }

    /// How many objects have an instant ahead.
    pub fn len(&self) -> usize {
        self.due.lock().unwrap_or_else(PoisonError::into_inner).at.len()
    }

    /// Whether no object has an instant ahead.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the objects due at `now`, and says when the next one is.
    fn take_due(&self, now: Instant, into: &mut VecDeque<Key>) -> Option<Instant> {
        let mut due = self.due.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some((t, _)) = due.queue.first() {
            if *t > now {
                return Some(*t);
            }
            if let Some((_, key)) = due.queue.pop_first() {
                due.at.remove(&key);
                into.push_back(key);
            }
        }
        None
    }

    /// The objects of `store` as they fall due, for their controller's triggers. An object no
    /// longer in the cache (deleted) is dropped.
    pub fn fired<K>(self: Arc<Self>, store: Store<K>) -> impl futures::Stream<Item = Arc<K>> + Send + 'static
    where
        K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
    {
        futures::stream::unfold(
            (self, store, VecDeque::<Key>::new()),
            |(timers, store, mut ready)| async move {
                loop {
                    if let Some(key) = ready.pop_front() {
                        let (ns, name) = key.split_once('/').unwrap_or(("", &key));
                        if let Some(obj) = store.get(&ObjectRef::new(name).within(ns)) {
                            return Some((obj, (timers, store, ready)));
                        }
                        continue;
                    }
                    match timers.take_due(Instant::now(), &mut ready) {
                        _ if !ready.is_empty() => {}
                        Some(next) => {
                            tokio::select! {
                                () = tokio::time::sleep_until(next) => {}
                                () = timers.earlier.notified() => {}
                            }
                        }
                        None => timers.earlier.notified().await,
                    }
                }
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use kube::runtime::reflector::{self, store::Writer};
    use kube::runtime::watcher;

    use super::*;
    use crate::api::IntegrationAccount;

    fn ia(name: &str) -> IntegrationAccount {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "IntegrationAccount",
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"accountRef": {"name": "acme"}, "system": "S", "email": "s@acme.example",
                     "tokenSecretRef": {"name": "t", "key": "token"}, "credentialsSecret": {"name": "c"}}
        }))
        .unwrap()
    }

    fn store(names: &[&str]) -> (Store<IntegrationAccount>, Writer<IntegrationAccount>) {
        let (store, mut writer) = reflector::store();
        for n in names {
            writer.apply_watcher_event(&watcher::Event::Apply(ia(n)));
        }
        (store, writer)
    }

    /// What fires within `window` from now, with the instant each fired at (seconds from `t0`).
    async fn fired_within(
        fired: &mut (impl futures::Stream<Item = Arc<IntegrationAccount>> + Unpin),
        t0: Instant,
        window: Duration,
    ) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        let end = Instant::now() + window;
        while let Ok(Some(o)) = tokio::time::timeout_at(end, fired.next()).await {
            out.push((o.metadata.name.clone().unwrap(), (Instant::now() - t0).as_secs()));
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn each_object_fires_once_at_the_instant_last_asked() {
        // The invariant, over generated sequences: an object is handed on exactly at the instant
        // last asked for it, once; never when it is no longer cached; nothing is kept after.
        let names = ["a", "b", "c", "d"];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..50 {
            let (store, mut writer) = store(&names);
            let timers = Arc::new(Timers::default());
            let mut fired = Box::pin(timers.clone().fired(store));
            let t0 = Instant::now();
            let mut model: HashMap<&str, u64> = HashMap::new();
            let mut deleted = std::collections::HashSet::new();
            let mut expected = Vec::new();
            let mut seen = Vec::new();
            for step in 0..12u64 {
                // Just before second `step * 10`, an ask or a deletion.
                let name = names[next(4) as usize];
                match next(5) {
                    0 if !deleted.contains(name) => {
                        writer.apply_watcher_event(&watcher::Event::Delete(ia(name)));
                        deleted.insert(name);
                    }
                    _ => {
                        let after = 1 + next(25);
                        let at = step * 10 + after;
                        timers.at("ns", name, t0 + Duration::from_secs(at));
                        model.insert(name, at);
                    }
                }
                // Advance to half a second before the next step: whatever falls due fires.
                let end = (step + 1) * 10;
                let until = t0 + Duration::from_millis(end * 1000 - 500);
                seen.extend(fired_within(&mut fired, t0, until - Instant::now()).await);
                let mut due: Vec<_> = model
                    .iter()
                    .filter(|(_, t)| **t < end)
                    .map(|(n, t)| (*n, *t))
                    .collect();
                due.sort_by_key(|(n, t)| (*t, *n));
                for (n, t) in due {
                    model.remove(n);
                    if !deleted.contains(n) {
                        expected.push((n.to_owned(), t));
                    }
                }
            }
            seen.extend(fired_within(&mut fired, t0, Duration::from_secs(100)).await);
            let mut left: Vec<_> = model.into_iter().filter(|(n, _)| !deleted.contains(n)).collect();
            left.sort_by_key(|(n, t)| (*t, *n));
            expected.extend(left.into_iter().map(|(n, t)| (n.to_owned(), t)));
            assert_eq!(seen, expected);
            assert!(timers.is_empty(), "nothing is kept once it fired");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_earlier_instant_wakes_a_timer_waiting_for_a_later_one() {
        let (store, _writer) = store(&["late", "soon"]);
        let timers = Arc::new(Timers::default());
        let mut fired = Box::pin(timers.clone().fired(store));
        let t0 = Instant::now();
        timers.at("ns", "late", t0 + Duration::from_secs(300));
        // The stream is waiting for "late" when "soon" is asked for.
        assert!(
            fired_within(&mut fired, t0, Duration::from_secs(1))
                .await
                .is_empty()
        );
        timers.at("ns", "soon", t0 + Duration::from_secs(5));
        let seen = fired_within(&mut fired, t0, Duration::from_secs(400)).await;
        assert_eq!(seen, [("soon".to_owned(), 5), ("late".to_owned(), 300)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reconcile_that_asks_for_a_check_schedules_nothing_with_kube() {
        let timers = Timers::default();
        let action = timers.requeue(&ia("a"), Duration::from_secs(300));
        assert_eq!(action, Action::await_change());
        assert_eq!(timers.len(), 1);
        // The next reconcile's ask replaces it: one entry, at the later instant, its key held once
        // by the map and the queue together (not a second copy for the queue).
        let _ = timers.requeue(&ia("a"), Duration::from_secs(600));
        assert_eq!(timers.len(), 1);
        {
            let due = timers.due.lock().unwrap();
            let (key, _) = due.at.get_key_value("ns/a").unwrap();
            assert_eq!(
                Arc::strong_count(key),
                2,
                "one key, shared by the map and the queue"
            );
        }
        let mut ready = VecDeque::new();
        assert_eq!(
            timers.take_due(Instant::now(), &mut ready),
            Some(Instant::now() + Duration::from_secs(600))
        );
    }
}
