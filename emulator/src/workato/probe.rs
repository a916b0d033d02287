//! The emulated TrackVia connectors' connection test, run in-process against the TrackVia state
//! (no HTTP, no rate limits, no faults). The built-in connector follows the connection's
//! authentication type: Auth Token tests `GET /openapi/views` with the stored API key and auth
//! token; OAuth passes while the employee who authorized it in Workato's UI (`oauth_user`, an
//! emulator stand-in for the OAuth grant) is an active TrackVia user. A custom connector tests
//! the fields its seed names.

use jiff::Timestamp;
use serde_json::Value;

use crate::config::InputKeys;
use crate::trackvia::auth::{Credentials, authenticate};
use crate::world::trackvia::TrackviaState;
use crate::world::workato::Connection;

/// The built-in connector whose connections are really tested; every other provider passes
/// unless it is a seeded custom connector.
pub const TRACKVIA_PROVIDER: &str = "trackvia";

/// The input field the emulator's OAuth stand-in keeps: the email of the employee who
/// authorized the connection (never a vendor field; set by seeds and the control API).
pub const OAUTH_USER_FIELD: &str = "oauth_user";

/// Tests a connection; the error is the text Workato shows as `authorization_error`
/// (`"<status> <reason>: <error_description or message>"`).
pub fn test_connection(
    trackvia: &TrackviaState,
    now: Timestamp,
    keys: &InputKeys,
    connection: &Connection,
) -> Result<(), String> {
    let field = |name: &str| connection.input.get(name).and_then(input_text);
    let (user_key, token) = if connection.provider == TRACKVIA_PROVIDER {
        let kind = field(&keys.auth_type.field);
        let oauth = match kind.as_deref() {
            None => keys.auth_type.default_oauth,
            Some(k) if k == keys.auth_type.oauth => true,
            Some(k) if k == keys.auth_type.auth_token => false,
            Some(_) => return Err("400 Bad Request: unknown authentication type".into()),
        };
        if oauth {
            return oauth_test(trackvia, field(OAUTH_USER_FIELD));
        }
        (&keys.user_key, &keys.access_token)
    } else if let Some(custom) = keys.custom.iter().find(|c| c.provider == connection.provider) {
        (&custom.user_key, &custom.access_token)
    } else {
        return Ok(());
    };
    let creds = Credentials {
        user_key: field(user_key),
        token: field(token),
        account_id: None,
    };
    authenticate(trackvia, now, &creds)
        .map(|_| ())
        .map_err(|e| e.describe())
}

/// An OAuth connection works while the employee who authorized it is active in TrackVia.
fn oauth_test(trackvia: &TrackviaState, employee: Option<String>) -> Result<(), String> {
    let Some(email) = employee else {
        return Err("401 Unauthorized: OAuth connection not authorized; connect it in Workato".into());
    };
    let active = trackvia
        .accounts
        .iter()
        .filter_map(|a| a.user_by_email(&email))
        .any(|u| u.status == crate::seed::UserStatus::Active);
    if active {
        Ok(())
    } else {
        Err("401 Unauthorized: invalid_grant: Bad credentials".into())
    }
}

fn input_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}
