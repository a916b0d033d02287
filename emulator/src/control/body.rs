//! Request bodies of the control API.

use serde::de::DeserializeOwned;

use super::error::ControlError;

/// Parses a JSON body; an empty body is `T::default()`.
pub(super) fn parse_body<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ControlError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| ControlError::bad_request(format!("invalid JSON body: {e}")))
}

/// Parses a JSON body that must be present.
pub(super) fn require_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ControlError> {
    serde_json::from_slice(bytes).map_err(|e| ControlError::bad_request(format!("invalid JSON body: {e}")))
}
