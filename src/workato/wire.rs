//! How Workato's JSON maps onto the client's types where the mapping is more than field for
//! field. Workato's OpenAPI document (`workato-api-spec.yaml`, `components.schemas.Connection`)
//! requires `application` and leaves `provider` optional; both name the connector, so a
//! connection without `provider` takes it from `application` (the operator's provider check must
//! not pass just because the optional field was left out).

use serde::Deserialize;

use super::Connection;

/// A connection as it arrives.
#[derive(Deserialize)]
pub(super) struct ConnectionWire {
    id: i64,
    #[serde(default)]
    name: String,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    application: Option<String>,
    #[serde(default)]
    folder_id: Option<i64>,
    #[serde(default)]
    authorization_status: Option<String>,
    #[serde(default)]
    authorization_error: Option<String>,
    #[serde(default)]
    authorized_at: Option<String>,
    #[serde(default)]
    connection_lost_at: Option<String>,
    #[serde(default)]
    connection_lost_reason: Option<String>,
}

impl From<ConnectionWire> for Connection {
    fn from(wire: ConnectionWire) -> Self {
        Self {
            id: wire.id,
            name: wire.name,
            provider: wire.provider.or(wire.application),
            folder_id: wire.folder_id,
            authorization_status: wire.authorization_status,
            authorization_error: wire.authorization_error,
            authorized_at: wire.authorized_at,
            connection_lost_at: wire.connection_lost_at,
            connection_lost_reason: wire.connection_lost_reason,
        }
    }
}
