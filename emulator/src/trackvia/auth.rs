//! TrackVia authentication: the API key (`user_key`), the optional `account-id` header and
//! the auth token (query `access_token` or `Authorization: Bearer`), checked in the order
//! documented in docs/emulator.md. Also enforces the optional per-account rate limit.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Uri};
use jiff::Timestamp;

use super::errors::TvError;
use crate::bearer::bearer_token;
use crate::seed::UserStatus;
use crate::world::Shared;
use crate::world::behaviour::InvalidKeyAnswer;
use crate::world::trackvia::{Account, TrackviaState};

/// Who a request acts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    /// The account of the API key.
    pub account_id: u64,
    /// The token's user.
    pub user_id: u64,
}

/// The credentials carried by one request.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// Query `user_key`.
    pub user_key: Option<String>,
    /// Query `access_token` or `Authorization: Bearer` token.
    pub token: Option<String>,
    /// The `account-id` header.
    pub account_id: Option<String>,
}

impl Credentials {
    /// Reads the credentials of a request.
    pub fn from_request(query: &HashMap<String, String>, headers: &HeaderMap) -> Self {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bearer = header("authorization").and_then(|v| bearer_token(&v).map(str::to_owned));
        Self {
            user_key: query.get("user_key").cloned(),
            token: query.get("access_token").cloned().or(bearer),
            account_id: header("account-id"),
        }
    }
}

/// Step 1: the account of the API key. A missing or unknown key is answered by TrackVia or by
/// the gateway in front of it, as the run's behaviour says.
pub fn resolve_account<'a>(state: &'a TrackviaState, user_key: Option<&str>) -> Result<&'a Account, TvError> {
    let key = user_key.filter(|key| !key.is_empty());
    let refused = match (state.behaviour.invalid_key, key) {
        (InvalidKeyAnswer::Trackvia, _) => TvError::InvalidUserKey,
        (InvalidKeyAnswer::Gateway, None) => TvError::GatewayAuthMissing,
        (InvalidKeyAnswer::Gateway, Some(_)) => TvError::GatewayAuthFailed,
    };
    key.and_then(|key| state.account_by_key(key)).ok_or(refused)
}

/// Steps 2-6: `account-id` header, token presence, validity, expiry and its user.
pub fn authenticate_in(account: &Account, now: Timestamp, creds: &Credentials) -> Result<Principal, TvError> {
    let token_text = creds.token.clone().unwrap_or_default();
    if let Some(header) = &creds.account_id
        && header.trim() != account.id.to_string()
    {
        return Err(TvError::InvalidToken(token_text));
    }
    if token_text.is_empty() {
        return Err(TvError::MissingToken);
    }
    let token = account
        .tokens
        .iter()
        .find(|t| t.value == token_text && t.active)
        .ok_or_else(|| TvError::InvalidToken(token_text.clone()))?;
    if token.expires_at.is_some_and(|expiry| expiry <= now) {
        return Err(TvError::ExpiredToken(token_text));
    }
    let user = account
        .users
        .iter()
        .find(|u| u.id == token.user_id)
        .ok_or(TvError::UserDisabled)?;
    if user.status != UserStatus::Active || !user.api_user {
        return Err(TvError::UserDisabled);
    }
    Ok(Principal {
        account_id: account.id,
        user_id: user.id,
    })
}

/// Steps 1-6 without rate limiting (the in-process check used by the Workato emulator).
pub fn authenticate(
    state: &TrackviaState,
    now: Timestamp,
    creds: &Credentials,
) -> Result<Principal, TvError> {
    let account = resolve_account(state, creds.user_key.as_deref())?;
    authenticate_in(account, now, creds)
}

/// Extractor: an authenticated TrackVia request (rejects with the TrackVia error answers).
#[derive(Debug, Clone, Copy)]
pub struct TvAuth(pub Principal);

impl FromRequestParts<Arc<Shared>> for TvAuth {
    type Rejection = TvError;

    async fn from_request_parts(parts: &mut Parts, shared: &Arc<Shared>) -> Result<Self, Self::Rejection> {
        let query = Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
            .map(|q| q.0)
            .unwrap_or_default();
        let creds = Credentials::from_request(&query, &parts.headers);
        let now = shared.clock.now();
        let world = shared.world();
        let account = resolve_account(&world.trackvia, creds.user_key.as_deref())?;
        if let Some(rate) = account.rate_limit_per_second
            && !shared.trackvia_limits.try_take(account.id, rate, rate)
        {
            return Err(TvError::TooManyRequests);
        }
        authenticate_in(account, now, &creds).map(TvAuth)
    }
}

/// The account a request addresses (for the call log), from its `user_key`.
pub fn account_of_request(state: &TrackviaState, uri: &Uri) -> Option<u64> {
    let params: HashMap<String, String> = Query::try_from_uri(uri).ok()?.0;
    resolve_account(state, params.get("user_key").map(String::as_str))
        .ok()
        .map(|a| a.id)
}
