//! An index of one kind's objects by a key they carry (a Secret they name, the object they refer
//! to), kept up to date from the kind's watch (`controller::watches`), so that "who refers to
//! this" costs a map lookup instead of a scan of the whole cache.

use std::collections::{BTreeSet, HashMap};
use std::sync::{PoisonError, RwLock};

/// Object names by `(namespace, key)`.
#[derive(Default)]
pub struct Lookup {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    by_key: HashMap<(String, String), BTreeSet<String>>,
    keys_of: HashMap<(String, String), Vec<String>>,
}

impl Inner {
    fn remove(&mut self, ns: &str, name: &str) {
        let Some(keys) = self.keys_of.remove(&(ns.to_owned(), name.to_owned())) else {
            return;
        };
        for k in keys {
            let slot = (ns.to_owned(), k);
            if let Some(names) = self.by_key.get_mut(&slot) {
                names.remove(name);
                if names.is_empty() {
                    self.by_key.remove(&slot);
                }
            }
        }
    }
}

impl Lookup {
    /// Object `name` in `ns` now carries `keys` (and no other).
    pub fn set(&self, ns: &str, name: &str, mut keys: Vec<String>) {
        keys.sort();
        keys.dedup();
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if inner.keys_of.get(&(ns.to_owned(), name.to_owned())) == Some(&keys) {
            return;
        }
        inner.remove(ns, name);
        for k in &keys {
            inner
                .by_key
                .entry((ns.to_owned(), k.clone()))
                .or_default()
                .insert(name.to_owned());
        }
        inner.keys_of.insert((ns.to_owned(), name.to_owned()), keys);
    }

    /// Object `name` in `ns` is gone.
    pub fn remove(&self, ns: &str, name: &str) {
        self.inner
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(ns, name);
    }

    /// Forgets everything (before a relist fills it again).
    pub fn clear(&self) {
        *self.inner.write().unwrap_or_else(PoisonError::into_inner) = Inner::default();
    }

    /// The names of the objects in `ns` carrying `key`.
    pub fn names(&self, ns: &str, key: &str) -> Vec<String> {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .by_key
            .get(&(ns.to_owned(), key.to_owned()))
            .map(|n| n.iter().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_is_found_by_its_current_keys_only() {
        let l = Lookup::default();
        l.set("ns", "a", vec!["s1".into(), "s2".into()]);
        l.set("ns", "b", vec!["s1".into()]);
        l.set("other", "c", vec!["s1".into()]);
        assert_eq!(l.names("ns", "s1"), ["a", "b"]);
        l.set("ns", "a", vec!["s3".into()]);
        assert_eq!(l.names("ns", "s1"), ["b"]);
        assert!(l.names("ns", "s2").is_empty());
        assert_eq!(l.names("ns", "s3"), ["a"]);
        l.remove("ns", "b");
        assert!(l.names("ns", "s1").is_empty());
        assert_eq!(l.names("other", "s1"), ["c"]);
    }
}
