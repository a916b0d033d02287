//! The emulated TrackVia connector's connection test: `GET /openapi/views` with the
//! connection's stored `user_key` and `access_token`, run in-process against the TrackVia
//! state (no HTTP, no rate limits, no faults).

use jiff::Timestamp;
use serde_json::Value;

use crate::config::InputKeys;
use crate::trackvia::auth::{Credentials, authenticate};
use crate::world::trackvia::TrackviaState;
use crate::world::workato::Connection;

/// The provider whose connections are really tested; every other provider passes.
pub const TRACKVIA_PROVIDER: &str = "trackvia";

/// Tests a connection; the error is the text Workato shows as `authorization_error`
/// (`"<status> <reason>: <error_description or message>"`).
pub fn test_connection(
    trackvia: &TrackviaState,
    now: Timestamp,
    keys: &InputKeys,
    connection: &Connection,
) -> Result<(), String> {
    if connection.provider != TRACKVIA_PROVIDER {
        return Ok(());
    }
    let field = |name: &str| connection.input.get(name).and_then(input_text);
    let creds = Credentials {
        user_key: field(&keys.user_key),
        token: field(&keys.access_token),
        account_id: None,
    };
    authenticate(trackvia, now, &creds)
        .map(|_| ())
        .map_err(|e| e.describe())
}

fn input_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}
