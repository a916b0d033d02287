//! The credentials Secret an IntegrationAccount publishes: its keys, labels and annotations, how
//! it is written (server-side apply, owned by the IntegrationAccount) and how it is read back.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};

use super::caches::Source;
use super::secret_ref::controlled_by;
use crate::api::{IntegrationAccount, TrackViaAccount};
use crate::reconcile::{Context, Error, FIELD_MANAGER};
use crate::secret::Sensitive;
use crate::trackvia::AuthToken;

/// Annotation on the token Secret with the token's expiry (RFC 3339), as set in TrackVia.
pub const EXPIRES_AT_ANNOTATION: &str = "integrations.trackvia-operator.dev/expires-at";
/// Annotation on the published Secret with the token's fingerprint.
pub const FINGERPRINT_ANNOTATION: &str = "integrations.trackvia-operator.dev/token-fingerprint";
/// Label on the published Secret naming its IntegrationAccount.
pub const INTEGRATION_ACCOUNT_LABEL: &str = "integrations.trackvia-operator.dev/integration-account";

/// Keys of the published credentials Secret.
pub mod keys {
    /// The account API key (`user_key`).
    pub const API_KEY: &str = "apiKey";
    /// The auth token (`access_token`).
    pub const AUTH_TOKEN: &str = "authToken";
    /// The account's base URL.
    pub const BASE_URL: &str = "baseUrl";
    /// `sandbox` or `production`.
    pub const ENVIRONMENT: &str = "environment";
    /// The TrackVia account id (only when the TrackViaAccount sets one).
    pub const ACCOUNT_ID: &str = "accountId";
    /// The user's email.
    pub const EMAIL: &str = "email";
}

/// The published credentials of an IntegrationAccount.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// The account API key.
    pub api_key: Sensitive<String>,
    /// The auth token.
    pub value: AuthToken,
}

/// Writes the credentials Secret of `ia` with `token` (server-side apply, owned by `ia`).
pub async fn publish_token(
    ctx: &Context,
    ia: &IntegrationAccount,
    account: &crate::api::TrackViaAccount,
    api_key: &crate::secret::Sensitive<String>,
    token: &crate::trackvia::AuthToken,
) -> Result<Secret, Error> {
    let fp = ctx.fingerprint(token.expose());
    let secret = desired_secret(ia, account, api_key, token, &fp).ok_or(Error::Malformed("uid"))?;
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ia.namespace().unwrap_or_default());
    api.patch(
        &ia.spec.credentials_secret.name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&secret),
    )
    .await
    .map_err(Error::kube("writing the credentials Secret"))
}

/// The Secret as the operator would write it.
pub fn desired_secret(
    ia: &IntegrationAccount,
    account: &TrackViaAccount,
    api_key: &Sensitive<String>,
    token: &AuthToken,
    fingerprint: &str,
) -> Option<Secret> {
    let owner = ia.controller_owner_ref(&())?;
    let mut data = BTreeMap::new();
    let mut put = |k: &str, v: &str| {
        data.insert(k.to_owned(), ByteString(v.as_bytes().to_vec()));
    };
    put(keys::API_KEY, api_key.expose());
    put(keys::AUTH_TOKEN, token.expose());
    put(keys::BASE_URL, &account.spec.base_url);
    put(keys::ENVIRONMENT, &account.spec.environment.to_string());
    if let Some(id) = &account.spec.account_id {
        put(keys::ACCOUNT_ID, id);
    }
    put(keys::EMAIL, &ia.spec.email);
    Some(Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(ia.spec.credentials_secret.name.clone()),
            namespace: ia.namespace(),
            labels: Some(BTreeMap::from([
                (
                    "app.kubernetes.io/managed-by".to_owned(),
                    "trackvia-operator".to_owned(),
                ),
                (INTEGRATION_ACCOUNT_LABEL.to_owned(), ia.name_any()),
            ])),
            annotations: Some(BTreeMap::from([(
                FINGERPRINT_ANNOTATION.to_owned(),
                fingerprint.to_owned(),
            )])),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(data),
        ..Default::default()
    })
}

/// The Secret `ia`'s spec names for its credentials (whoever controls it), from `source` (a
/// Secret the cache does not have is looked for in the API server: it may be someone else's that
/// the cache has not shown yet).
pub async fn credentials_secret(
    ctx: &Context,
    ia: &IntegrationAccount,
    source: Source,
) -> Result<Option<Secret>, Error> {
    ctx.secret(
        &ia.namespace().unwrap_or_default(),
        &ia.spec.credentials_secret.name,
        source == Source::ApiServer,
    )
    .await
    .map_err(Error::kube("reading the credentials Secret"))
}

/// Reads the IntegrationAccount's published Secret (from `source`), if it is there and the
/// operator's own.
pub async fn published_credentials(
    ctx: &Context,
    ia: &IntegrationAccount,
    source: Source,
) -> Result<Option<Credentials>, Error> {
    Ok(credentials_secret(ctx, ia, source)
        .await?
        .filter(|s| controlled_by(s, ia))
        .and_then(|s| published_from(&s)))
}

/// The credentials in a published Secret.
pub fn published_from(secret: &Secret) -> Option<Credentials> {
    let get = |k: &str| {
        secret
            .data
            .as_ref()?
            .get(k)
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
            .filter(|s| !s.is_empty())
    };
    Some(Credentials {
        api_key: Sensitive::new(get(keys::API_KEY)?),
        value: Sensitive::new(get(keys::AUTH_TOKEN)?),
    })
}
