//! The operator's own writes to the objects it reconciles, remembered until its caches have seen
//! them. Two things rest on it:
//!
//! - **one reconcile per change**: a watch event that is only the echo of a write of ours (a
//!   status, a finalizer, the pushed-credentials annotation) does not start another reconcile
//!   (`controller::triggers` asks [`Written::echo`]);
//! - **reading from the cache safely**: a reconcile reads its object from the cache unless the
//!   cache has not yet seen the last write of ours ([`Written::unseen`]); only then is the
//!   object read from the API server (`reconcile::current`).
//!
//! Entries live from a write until the cache shows it: a handful at any time, not one per object.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

/// The resource versions our writes produced, by object uid, oldest first.
#[derive(Default)]
pub struct Written {
    by_uid: Mutex<HashMap<String, Vec<String>>>,
    /// The versions the caches showed last (a bounded window): a watch event can arrive before
    /// the answer to the write it echoes, and such a write is not waited for.
    recent: Mutex<(HashMap<String, String>, VecDeque<String>)>,
}

/// How many of the versions last shown by the caches are remembered.
const RECENT: usize = 4096;

/// At most this many unseen writes are kept per object (a reconcile makes three at most).
const KEEP: usize = 8;

impl Written {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<String>>> {
        // Each critical section is one map operation: a poisoned map is still consistent.
        self.by_uid.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers that a write of ours left object `uid` at `resource_version`.
    pub fn record(&self, uid: Option<&str>, resource_version: Option<&str>) {
        let (Some(uid), Some(rv)) = (uid, resource_version) else {
            return;
        };
        let mut map = self.lock();
        {
            let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
            if recent.0.get(uid).map(String::as_str) == Some(rv) {
                // Its echo came first: the cache has it already.
                recent.0.remove(uid);
                return;
            }
        }
        let versions = map.entry(uid.to_owned()).or_default();
        versions.push(rv.to_owned());
        if versions.len() > KEEP {
            versions.remove(0);
        }
    }

    /// Whether a watch event showing `uid` at `resource_version` is the echo of a write of ours.
    /// The cache has seen that write now: it and every write before it are forgotten.
    pub fn echo(&self, uid: Option<&str>, resource_version: Option<&str>) -> bool {
        let (Some(uid), Some(rv)) = (uid, resource_version) else {
            return false;
        };
        let mut map = self.lock();
        let Some(i) = map.get(uid).and_then(|v| v.iter().position(|v| v == rv)) else {
            // (under the same lock as `record`, so that neither misses the other)
            self.shown(uid, rv);
            return false;
        };
        let Some(versions) = map.get_mut(uid) else {
            return false;
        };
        versions.drain(..=i);
        if versions.is_empty() {
            map.remove(uid);
        }
        true
    }

    /// Remembers that a cache showed `uid` at `rv` (for a write whose answer is still on its way).
    fn shown(&self, uid: &str, rv: &str) {
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        let (map, order) = &mut *recent;
        if map.insert(uid.to_owned(), rv.to_owned()).is_none() {
            order.push_back(uid.to_owned());
        }
        while order.len() > RECENT {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }

    /// The version our last write left `uid` at, while the caches have not shown it. A reader
    /// asks this before it reads the cache: a cache holds a version before its echo is taken, so
    /// a copy read after an answer of `None` includes every write of ours.
    pub fn unseen(&self, uid: Option<&str>) -> Option<String> {
        self.lock().get(uid?).and_then(|v| v.last().cloned())
    }

    /// A cache showed `uid` at `resource_version`, our last write as [`Written::unseen`] gave it:
    /// the entry is settled, unless a write of ours came after it.
    pub fn settle(&self, uid: Option<&str>, resource_version: &str) {
        let Some(uid) = uid else { return };
        let mut map = self.lock();
        if map.get(uid).and_then(|v| v.last()).map(String::as_str) == Some(resource_version) {
            map.remove(uid);
        }
    }

    /// Forgets `uid` (deleted, or the API server and the cache agree on its latest version).
    pub fn forget(&self, uid: Option<&str>) {
        if let Some(uid) = uid {
            self.lock().remove(uid);
        }
    }

    /// How many objects have writes the cache has not shown yet.
    pub fn pending(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_is_an_echo_once_and_unseen_until_then() {
        let w = Written::default();
        w.record(Some("u"), Some("5"));
        w.record(Some("u"), Some("7"));
        assert_eq!(
            w.unseen(Some("u")).as_deref(),
            Some("7"),
            "the cache lags our last write"
        );
        assert!(w.echo(Some("u"), Some("5")));
        assert_eq!(w.unseen(Some("u")).as_deref(), Some("7"));
        assert!(!w.echo(Some("u"), Some("6")), "someone else's write");
        assert!(w.echo(Some("u"), Some("7")));
        assert!(!w.echo(Some("u"), Some("7")), "an echo is an echo once");
        assert_eq!(w.unseen(Some("u")), None, "nothing of ours unseen");
        assert_eq!(w.pending(), 0);
    }

    #[test]
    fn an_echo_before_the_answer_to_its_write_leaves_nothing_to_wait_for() {
        let w = Written::default();
        assert!(!w.echo(Some("u"), Some("5")), "not known as ours yet");
        w.record(Some("u"), Some("5"));
        assert_eq!(w.pending(), 0);
        assert_eq!(w.unseen(Some("u")), None);
    }

    #[test]
    fn the_cache_showing_the_last_write_settles_it_and_only_that() {
        let w = Written::default();
        w.record(Some("u"), Some("5"));
        w.settle(Some("u"), "4");
        assert_eq!(w.pending(), 1, "an older version settles nothing");
        w.settle(Some("u"), "5");
        assert_eq!(w.pending(), 0);
        assert_eq!(w.unseen(None), None);
    }
}
