//! The credentials a connection receives: read from the IntegrationAccount's published Secret,
//! shaped into the connection's `input` with the configured field names.

use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use serde_json::{Map, Value};

use crate::api::workato_connection::{ConnectorStatus, InputKeys};
use crate::api::{TrackViaAccount, WorkatoConnection, WorkatoWorkspace};
use crate::domain::credentials::Credentials;
use crate::reconcile::{Context, Error};
use crate::secret::Sensitive;
use crate::trackvia::AuthToken;
use crate::workato::ConnectionInput;

/// Annotation on a WorkatoConnection: the fingerprint of the token its Workato connection last
/// received (Workato never returns a connection's input, so this is the only record).
pub const PUSHED_FINGERPRINT_ANNOTATION: &str = "integrations.trackvia-operator.dev/pushed-token-fingerprint";

/// Default `input` field of the API key.
pub const DEFAULT_API_KEY_FIELD: &str = "user_key";
/// Default `input` field of the auth token.
pub const DEFAULT_AUTH_TOKEN_FIELD: &str = "access_token";

/// Default field of the authentication type (the name most of Workato's connectors with several
/// types use; docs/decisions.md).
pub const DEFAULT_AUTH_TYPE_FIELD: &str = "auth_type";
/// Default value selecting the Auth Token type (TrackVia's name for it; docs/decisions.md).
pub const DEFAULT_AUTH_TYPE_VALUE: &str = "auth_token";

/// The authentication type of `spec.authType`, with the defaults: `(field, value)`.
pub fn configured_auth_type(wc: &WorkatoConnection) -> (String, String) {
    let a = wc.spec.auth_type.clone().unwrap_or_default();
    (
        a.field.unwrap_or_else(|| DEFAULT_AUTH_TYPE_FIELD.into()),
        a.value.unwrap_or_else(|| DEFAULT_AUTH_TYPE_VALUE.into()),
    )
}

/// The authentication type a push sends: what the connector check recorded in status (`None`:
/// the connector declares no such field), or the configured one before any check.
pub fn auth_type(wc: &WorkatoConnection) -> Option<(String, String)> {
    match wc.status.as_ref().and_then(|s| s.connector.as_ref()) {
        Some(c) => recorded_auth_type(c),
        None => Some(configured_auth_type(wc)),
    }
}

/// The authentication type a connector check recorded (`field=value` in status), as
/// `(field, value)`.
pub fn recorded_auth_type(c: &ConnectorStatus) -> Option<(String, String)> {
    c.auth_type
        .as_deref()
        .and_then(|t| t.split_once('='))
        .map(|(f, v)| (f.to_owned(), v.to_owned()))
}

/// The `input` fields of the API key and the auth token: `spec.inputKeys`, with the defaults.
pub fn credential_fields(keys: &InputKeys) -> (String, String) {
    (
        keys.api_key
            .clone()
            .unwrap_or_else(|| DEFAULT_API_KEY_FIELD.into()),
        keys.auth_token
            .clone()
            .unwrap_or_else(|| DEFAULT_AUTH_TOKEN_FIELD.into()),
    )
}

/// The connection's `input` for the published credentials, with the field names of
/// `spec.inputKeys` and the authentication type `auth` (`(field, value)`).
pub fn connection_input(
    wc: &WorkatoConnection,
    account: &TrackViaAccount,
    p: &Credentials,
    auth: Option<(String, String)>,
) -> ConnectionInput {
    input_with(wc, account, &p.api_key, &p.value, auth)
}

/// The connection's `input` for an API key and token, with the authentication type of
/// [`auth_type`].
pub fn input_for(
    wc: &WorkatoConnection,
    account: &TrackViaAccount,
    api_key: &Sensitive<String>,
    token: &AuthToken,
) -> ConnectionInput {
    input_with(wc, account, api_key, token, auth_type(wc))
}

fn input_with(
    wc: &WorkatoConnection,
    account: &TrackViaAccount,
    api_key: &Sensitive<String>,
    token: &AuthToken,
    auth: Option<(String, String)>,
) -> ConnectionInput {
    let keys = wc.spec.input_keys.clone().unwrap_or_default();
    let (key_field, token_field) = credential_fields(&keys);
    let mut m = Map::new();
    if let Some((field, value)) = auth {
        m.insert(field, Value::String(value));
    }
    m.insert(key_field, Value::String(api_key.expose().clone()));
    m.insert(token_field, Value::String(token.expose().clone()));
    if let Some(host_field) = keys.host {
        let host = url::Url::parse(&account.spec.base_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        m.insert(host_field, Value::String(host));
    }
    if let (Some(field), Some(id)) = (keys.account_id, account.spec.account_id.clone()) {
        m.insert(field, Value::String(id));
    }
    Sensitive::new(m)
}

/// The connector of the connection (default `trackvia`).
pub fn provider(wc: &WorkatoConnection) -> String {
    wc.spec.provider.clone().unwrap_or_else(|| "trackvia".to_owned())
}

/// The environment guard (I7), for every push of credentials, the rotation's included: a
/// workspace receives only credentials of an account in its own environment.
pub fn environment_guard(workspace: &WorkatoWorkspace, account: &TrackViaAccount) -> Result<(), String> {
    if workspace.spec.environment == account.spec.environment {
        return Ok(());
    }
    Err(format!(
        "WorkatoWorkspace {} is {} but TrackViaAccount {} is {}: credentials never cross environments, nothing is pushed",
        workspace.name_any(),
        workspace.spec.environment,
        account.name_any(),
        account.spec.environment
    ))
}

/// Records on a WorkatoConnection which token its Workato connection last received.
pub async fn set_pushed(
    ctx: &Context,
    namespace: &str,
    name: &str,
    fingerprint: &str,
) -> Result<WorkatoConnection, Error> {
    let api: Api<WorkatoConnection> = Api::namespaced(ctx.client.clone(), namespace);
    let patch = json!({ "metadata": { "annotations": { PUSHED_FINGERPRINT_ANNOTATION: fingerprint } } });
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(Error::kube("recording the pushed credentials"))
}
