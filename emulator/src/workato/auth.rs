//! Workato request admission: API token (`Authorization: Bearer`), managed-user prefix, then
//! the per-workspace rate limit, all before the route runs.

use std::sync::Arc;

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use super::errors::WkError;
use crate::bearer::bearer_token;
use crate::world::Shared;
use crate::world::workato::{Scope, ScopeError, WorkatoState};
use crate::world::workato_limits::LimitClass;

/// Name of the route parameter holding the managed-user id.
pub const MANAGED_PARAM: &str = "managed_user";

/// Extractor: an admitted Workato request and the workspace it acts on.
#[derive(Debug, Clone)]
pub struct WkScope(pub Scope);

impl FromRequestParts<Arc<Shared>> for WkScope {
    type Rejection = WkError;

    async fn from_request_parts(parts: &mut Parts, shared: &Arc<Shared>) -> Result<Self, Self::Rejection> {
        let managed = managed_param(parts, shared).await;
        let scope = resolve(&shared.world().workato, &parts.headers, managed.as_deref())?;
        let template = parts
            .extensions
            .get::<MatchedPath>()
            .map(|p| p.as_str().to_owned());
        if let Some(class) = template.and_then(|t| LimitClass::of(&parts.method, &t)) {
            let (capacity, per_sec) = class.bucket();
            if !shared
                .workato_limits
                .try_take((scope.admin.clone(), class), capacity, per_sec)
            {
                let retry_after_secs = shared.config.workato_retry_after_secs;
                return Err(WkError::TooManyRequests { retry_after_secs });
            }
        }
        Ok(Self(scope))
    }
}

/// The decoded `{managed_user}` route parameter, if the route has one.
pub async fn managed_param(parts: &mut Parts, shared: &Arc<Shared>) -> Option<String> {
    let params = RawPathParams::from_request_parts(parts, shared).await.ok()?;
    params
        .iter()
        .find(|(name, _)| *name == MANAGED_PARAM)
        .map(|(_, value)| value.to_owned())
}

/// Resolves the scope of a request from its headers and managed-user segment.
pub fn resolve(
    state: &WorkatoState,
    headers: &HeaderMap,
    managed: Option<&str>,
) -> Result<Scope, ScopeError> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    state.resolve_scope(token, managed)
}
