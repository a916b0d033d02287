//! The credentials a connection receives: read from the IntegrationAccount's published Secret,
//! shaped into the connection's `input` with the configured field names.

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};
use serde_json::{Map, Value};

use crate::api::{IntegrationAccount, TrackViaAccount, WorkatoConnection};
use crate::controller::integration_account::keys;
use crate::controller::{Context, Error};
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

/// The published credentials of an IntegrationAccount.
#[derive(Clone, Debug)]
pub struct Published {
    /// The account API key.
    pub api_key: Sensitive<String>,
    /// The auth token.
    pub value: AuthToken,
}

/// Reads the IntegrationAccount's published Secret, if it is there and the operator's own.
pub async fn published_credentials(
    ctx: &Context,
    ia: &IntegrationAccount,
) -> Result<Option<Published>, Error> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ia.namespace().unwrap_or_default());
    let Some(secret) = api
        .get_opt(&ia.spec.credentials_secret.name)
        .await
        .map_err(Error::kube("reading the credentials Secret"))?
    else {
        return Ok(None);
    };
    let ours = secret
        .owner_references()
        .iter()
        .any(|o| o.controller == Some(true) && Some(&o.uid) == ia.uid().as_ref());
    if !ours {
        return Ok(None);
    }
    Ok(published_from(&secret))
}

/// The credentials in a published Secret.
pub fn published_from(secret: &Secret) -> Option<Published> {
    let get = |k: &str| {
        secret
            .data
            .as_ref()?
            .get(k)
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
            .filter(|s| !s.is_empty())
    };
    Some(Published {
        api_key: Sensitive::new(get(keys::API_KEY)?),
        value: Sensitive::new(get(keys::AUTH_TOKEN)?),
    })
}

/// The connection's `input` for `token`, with the field names of `spec.inputKeys`.
pub fn connection_input(wc: &WorkatoConnection, account: &TrackViaAccount, p: &Published) -> ConnectionInput {
    input_for(wc, account, &p.api_key, &p.value)
}

/// The connection's `input` for an API key and token.
pub fn input_for(
    wc: &WorkatoConnection,
    account: &TrackViaAccount,
    api_key: &Sensitive<String>,
    token: &AuthToken,
) -> ConnectionInput {
    let keys = wc.spec.input_keys.clone().unwrap_or_default();
    let mut m = Map::new();
    m.insert(
        keys.api_key.unwrap_or_else(|| DEFAULT_API_KEY_FIELD.into()),
        Value::String(api_key.expose().clone()),
    );
    m.insert(
        keys.auth_token.unwrap_or_else(|| DEFAULT_AUTH_TOKEN_FIELD.into()),
        Value::String(token.expose().clone()),
    );
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
