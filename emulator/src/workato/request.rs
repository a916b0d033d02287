//! Request-side helpers shared by the Workato handlers: JSON bodies, ids, query flags.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use super::errors::WkError;

/// The `{id}` route parameter (other parameters, e.g. the managed user, are ignored).
#[derive(Debug, Deserialize)]
pub struct IdParam {
    id: String,
}

impl IdParam {
    /// The numeric id; a non-numeric id cannot exist (404).
    pub fn id(&self) -> Result<u64, WkError> {
        self.id.parse().map_err(|_| WkError::NotFound)
    }
}

/// Parses an optional JSON body (empty = `T::default()`); malformed JSON is a 400.
pub fn json_body<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, WkError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| WkError::BadRequest(format!("Invalid request body: {e}")))
}

/// Deserializes an optional id given as a number or a numeric string.
pub fn lenient_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Number(u64),
        Text(String),
    }
    match Option::<Id>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Id::Number(n)) => Ok(Some(n)),
        Some(Id::Text(t)) if t.is_empty() => Ok(None),
        Some(Id::Text(t)) => t.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

/// A boolean query flag (`true`/`1` are true).
pub fn flag(value: Option<&String>) -> Option<bool> {
    value.map(|v| matches!(v.as_str(), "true" | "1" | "yes"))
}
