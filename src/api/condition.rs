//! The status conditions every kind carries: the `meta/v1` Condition (same fields, same JSON, same
//! schema), held compactly. Its type, status and reason come from a few dozen values, yet every
//! cached object holds eight conditions, and a string of its own for each would be an allocation
//! of at least 32 bytes: at 10k objects that is tens of MiB of copies of "True" and "Ready". So
//! they are [`Word`]s, shared between objects.

use std::borrow::{Borrow, Cow};
use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, LazyLock, PoisonError, RwLock};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One aspect of an object's state, per Kubernetes API conventions (`meta/v1` Condition).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// When the status last changed.
    pub last_transition_time: Time,
    /// What a person reads: what is wrong and what to do.
    #[serde(default)]
    pub message: String,
    /// The `metadata.generation` the condition was set from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Why, in CamelCase, stable for automation.
    #[serde(default)]
    pub reason: Word,
    /// `True`, `False` or `Unknown`.
    #[serde(default)]
    pub status: Word,
    /// Which aspect.
    #[serde(default, rename = "type")]
    pub type_: Word,
}

impl schemars::JsonSchema for Condition {
    fn schema_name() -> Cow<'static, str> {
        <k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition as schemars::JsonSchema>::schema_name()
    }

    fn inline_schema() -> bool {
        <k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition as schemars::JsonSchema>::inline_schema()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition as schemars::JsonSchema>::json_schema(
            generator,
        )
    }
}

/// A short string from a small set (a condition's type, status or reason), shared between the
/// objects that hold it. Read as a `&str`. One pointer wide: a condition holds three, and the
/// caches hold about eight conditions per object.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Word(Arc<String>);

/// At most this many distinct words are shared, none longer than [`SHARED_WORD_LEN`]: the words
/// the operator writes are a few dozen; any others (only a status written by someone else could
/// bring them) are each object's own once these are taken, so that what is shared stays bounded
/// (64 KiB) whatever is written.
const SHARED_WORDS: usize = 1024;

/// The longest word shared (the longest the operator writes is about 30 bytes).
const SHARED_WORD_LEN: usize = 64;

/// A shared word, found by its text.
#[derive(PartialEq, Eq, Hash)]
struct Shared(Arc<String>);

impl Borrow<str> for Shared {
    fn borrow(&self) -> &str {
        &self.0
    }
}

static WORDS: LazyLock<RwLock<HashSet<Shared>>> = LazyLock::new(Default::default);

impl Word {
    /// The word `s`, shared if it was seen before (or can still be added to the shared ones).
    pub fn new(s: &str) -> Self {
        if s.len() > SHARED_WORD_LEN {
            return Self(Arc::new(s.to_owned()));
        }
        if let Some(w) = WORDS.read().unwrap_or_else(PoisonError::into_inner).get(s) {
            return Self(w.0.clone());
        }
        let mut words = WORDS.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(w) = words.get(s) {
            return Self(w.0.clone());
        }
        let w = Arc::new(s.to_owned());
        if words.len() < SHARED_WORDS {
            words.insert(Shared(w.clone()));
        }
        Self(w)
    }

    /// The word as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Word {
    fn default() -> Self {
        Self::new("")
    }
}

impl From<&'static str> for Word {
    fn from(s: &'static str) -> Self {
        Self::new(s)
    }
}

impl From<String> for Word {
    fn from(s: String) -> Self {
        Self::new(&s)
    }
}

impl Deref for Word {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<&str> for Word {
    fn eq(&self, other: &&str) -> bool {
        self.0.as_str() == *other
    }
}

impl fmt::Display for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0.as_str(), f)
    }
}

impl Serialize for Word {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Word {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Word;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Word, E> {
                Ok(Word::new(s))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_condition_reads_and_writes_as_the_meta_v1_condition_does() {
        let json = serde_json::json!({
            "lastTransitionTime": "2026-12-02T10:00:00Z", "message": "ok", "observedGeneration": 3,
            "reason": "Verified", "status": "True", "type": "Ready"
        });
        let ours: Condition = serde_json::from_value(json.clone()).unwrap();
        let theirs: k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition =
            serde_json::from_value(json.clone()).unwrap();
        assert_eq!(serde_json::to_value(&ours).unwrap(), json);
        assert_eq!(serde_json::to_value(&theirs).unwrap(), json);
        let sparse = serde_json::json!({"lastTransitionTime": "2026-12-02T10:00:00Z", "type": "Ready"});
        let ours: Condition = serde_json::from_value(sparse.clone()).unwrap();
        let theirs: k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition =
            serde_json::from_value(sparse).unwrap();
        assert_eq!(
            serde_json::to_value(&ours).unwrap(),
            serde_json::to_value(&theirs).unwrap()
        );
    }

    #[test]
    fn two_objects_share_a_word_they_both_hold() {
        let a: Condition = serde_json::from_value(serde_json::json!({
            "lastTransitionTime": "2026-12-02T10:00:00Z", "reason": "ASharedReason", "status": "True", "type": "Ready"
        }))
        .unwrap();
        let b = a.clone();
        let c: Condition = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(a.reason, "ASharedReason");
        assert!(
            std::ptr::eq(a.reason.as_str(), c.reason.as_str()),
            "read twice, held once"
        );
        assert!(std::ptr::eq(b.type_.as_str(), c.type_.as_str()));
    }

    #[test]
    fn a_condition_holds_its_words_as_one_pointer_each() {
        assert_eq!(size_of::<Word>(), size_of::<usize>());
        // Time (12 bytes), message (24), observedGeneration (16) and three words.
        assert!(size_of::<Condition>() <= 80, "{}", size_of::<Condition>());
    }

    #[test]
    fn a_long_word_is_each_objects_own() {
        let long = "R".repeat(SHARED_WORD_LEN + 1);
        let (a, b) = (Word::new(&long), Word::new(&long));
        assert_eq!(a, b);
        assert!(!std::ptr::eq(a.as_str(), b.as_str()), "not shared");
        let short = "R".repeat(SHARED_WORD_LEN);
        assert!(std::ptr::eq(
            Word::new(&short).as_str(),
            Word::new(&short).as_str()
        ));
    }
}
