//! An index of one kind's objects by a key they carry (a Secret they name, the object they refer
//! to), kept up to date from the kind's watch (`controller::watches`), so that "who refers to
//! this" costs a map lookup instead of a scan of the whole cache.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

/// Object names by `(namespace, key)`.
#[derive(Default)]
pub struct Lookup {
    inner: RwLock<Inner>,
}

/// Kept compact, since every object of a kind has an entry in each of its kind's indexes: one
/// string for a namespace and a key (or name) together, and plain sorted lists, where maps and
/// sets would cost a node of hundreds of bytes for the one or two entries most have.
#[derive(Default)]
struct Inner {
    /// The names (sorted) by [`slot`] of namespace and key.
    by_key: HashMap<Box<str>, Vec<Box<str>>>,
    /// The keys (sorted) by [`slot`] of namespace and name.
    keys_of: HashMap<Box<str>, Box<[Box<str>]>>,
}

/// Namespace and key (or name) as one map key: no namespace or name contains a NUL.
fn slot(ns: &str, key: &str) -> Box<str> {
    format!("{ns}\0{key}").into_boxed_str()
}

impl Inner {
    fn remove(&mut self, ns: &str, name: &str) {
        let Some(keys) = self.keys_of.remove(&slot(ns, name)) else {
            return;
        };
        for k in keys {
            let at = slot(ns, &k);
            if let Some(names) = self.by_key.get_mut(&at) {
                names.retain(|n| &**n != name);
                if names.is_empty() {
                    self.by_key.remove(&at);
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
        if inner
            .keys_of
            .get(&slot(ns, name))
            .is_some_and(|had| had.iter().map(|k| &**k).eq(keys.iter().map(String::as_str)))
        {
            return;
        }
        inner.remove(ns, name);
        for k in &keys {
            // Most keys are carried by one object: room for one name, not the four of a first push.
            let names = inner
                .by_key
                .entry(slot(ns, k))
                .or_insert_with(|| Vec::with_capacity(1));
            if let Err(at) = names.binary_search_by(|n| (**n).cmp(name)) {
                names.insert(at, name.into());
            }
        }
        inner.keys_of.insert(
            slot(ns, name),
            keys.into_iter().map(String::into_boxed_str).collect(),
        );
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

    /// The names of the objects in `ns` carrying `key`, sorted.
    pub fn names(&self, ns: &str, key: &str) -> Vec<String> {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .by_key
            .get(&slot(ns, key))
            .map(|n| n.iter().map(|n| n.to_string()).collect())
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
        // A namespace and a key never run into another pair's.
        l.set("n", "d", vec!["s/x".into()]);
        assert!(l.names("n/s", "x").is_empty() && l.names("n", "s").is_empty());
        assert_eq!(l.names("n", "s/x"), ["d"]);
    }
}
