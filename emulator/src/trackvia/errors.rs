//! TrackVia error answers, with the exact bodies of the two shapes TrackVia uses: app errors
//! (`{"errors":[],"message","name","code"}`) and Spring Security OAuth errors
//! (`{"error","error_description"}`).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Every error the emulated TrackVia API answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TvError {
    /// `user_key` missing or unknown.
    #[error("invalid user_key")]
    InvalidUserKey,
    /// The 3scale gateway refused an unknown `user_key` (APIcast's default "auth failed" answer).
    #[error("gateway: authentication failed")]
    GatewayAuthFailed,
    /// The 3scale gateway found no `user_key` (APIcast's default "auth missing" answer).
    #[error("gateway: authentication parameters missing")]
    GatewayAuthMissing,
    /// No token in the request.
    #[error("missing token")]
    MissingToken,
    /// Token unknown in the account, deactivated, or `account-id` mismatch.
    #[error("invalid token")]
    InvalidToken(String),
    /// Token past its expiry.
    #[error("expired token")]
    ExpiredToken(String),
    /// The token's user is not Active or not an API user.
    #[error("user disabled")]
    UserDisabled,
    /// The route needs an admin role.
    #[error("access denied")]
    AccessDenied,
    /// The view does not exist or the role does not reach it.
    #[error("view {0} denied")]
    ViewDenied(String),
    /// Bad request parameters.
    #[error("{0}")]
    InvalidRequest(String),
    /// Unknown route.
    #[error("not found")]
    NotFound,
    /// Known route, wrong method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Over the account's rate limit.
    #[error("too many requests")]
    TooManyRequests,
}

impl TvError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidUserKey
            | Self::GatewayAuthMissing
            | Self::MissingToken
            | Self::InvalidToken(_)
            | Self::ExpiredToken(_)
            | Self::UserDisabled
            | Self::ViewDenied(_) => StatusCode::UNAUTHORIZED,
            Self::AccessDenied | Self::GatewayAuthFailed => StatusCode::FORBIDDEN,
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// The gateway's plain-text body, for the answers that come from the gateway.
    pub fn gateway_text(&self) -> Option<&'static str> {
        match self {
            Self::GatewayAuthFailed => Some(GATEWAY_AUTH_FAILED),
            Self::GatewayAuthMissing => Some(GATEWAY_AUTH_MISSING),
            _ => None,
        }
    }

    /// The body: JSON from TrackVia, a JSON string holding the gateway's text otherwise.
    pub fn body(&self) -> Value {
        let status = self.status();
        if let Some(text) = self.gateway_text() {
            return Value::String(text.to_owned());
        }
        match self {
            Self::InvalidUserKey => {
                app_error(status, "unauthorized", "Authentication failed: invalid user_key")
            }
            Self::MissingToken => oauth_error(
                "unauthorized",
                "Full authentication is required to access this resource",
            ),
            Self::InvalidToken(token) => {
                oauth_error("invalid_token", &format!("Invalid access token: {token}"))
            }
            Self::ExpiredToken(token) => {
                oauth_error("invalid_token", &format!("Access token expired: {token}"))
            }
            Self::UserDisabled => oauth_error("unauthorized", "User is disabled"),
            Self::GatewayAuthFailed | Self::GatewayAuthMissing => Value::Null,
            Self::AccessDenied => app_error(status, "accessDenied", "Access is denied"),
            Self::ViewDenied(view) => app_error(
                status,
                "accessDenied",
                &format!("DENIED!!! - View: {view} either does not exist or you do not have access to it."),
            ),
            Self::InvalidRequest(message) => app_error(status, "invalidRequest", message),
            Self::NotFound => app_error(status, "notFound", "Not Found"),
            Self::MethodNotAllowed => app_error(status, "methodNotAllowed", "Method Not Allowed"),
            Self::TooManyRequests => app_error(status, "tooManyRequests", "Too Many Requests"),
        }
    }

    /// `"<status> <reason>: <error_description or message>"`, as Workato reports a failed
    /// TrackVia connection test.
    pub fn describe(&self) -> String {
        let status = self.status();
        let body = self.body();
        let detail = self.gateway_text().unwrap_or_else(|| {
            body.get("error_description")
                .or_else(|| body.get("message"))
                .and_then(Value::as_str)
                .unwrap_or_default()
        });
        format!(
            "{} {}: {detail}",
            status.as_u16(),
            status.canonical_reason().unwrap_or_default()
        )
    }
}

/// A TrackVia app-error body.
pub fn app_error(status: StatusCode, name: &str, message: &str) -> Value {
    json!({"errors": [], "message": message, "name": name, "code": status.as_u16().to_string()})
}

/// APIcast's default body for credentials it refuses (status 403), as 3scale ships it
/// (docs/vendors.md#trackvia-errors).
pub const GATEWAY_AUTH_FAILED: &str = "Authentication failed";
/// APIcast's default body for a request without credentials (status 401).
pub const GATEWAY_AUTH_MISSING: &str = "Authentication parameters missing";

fn oauth_error(error: &str, description: &str) -> Value {
    json!({"error": error, "error_description": description})
}

impl IntoResponse for TvError {
    fn into_response(self) -> Response {
        if let Some(text) = self.gateway_text() {
            return (
                self.status(),
                [(header::CONTENT_TYPE, "text/plain; charset=us-ascii")],
                text,
            )
                .into_response();
        }
        let mut response = (self.status(), Json(self.body())).into_response();
        if self == Self::TooManyRequests {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_uses_description_or_message() {
        assert_eq!(
            TvError::ExpiredToken("t".into()).describe(),
            "401 Unauthorized: Access token expired: t"
        );
        assert_eq!(
            TvError::InvalidUserKey.describe(),
            "401 Unauthorized: Authentication failed: invalid user_key"
        );
    }
}
