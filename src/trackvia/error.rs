//! TrackVia failures, classified from the status code and the body (docs/vendors.md#trackvia-errors).

use std::time::Duration;

use serde_json::Value;

use crate::external::http::{TransportFailure, trim_message};
use crate::secret::scrub;

/// Why TrackVia (or the 3scale gateway in front of it) refused to authenticate a call. TrackVia
/// uses 401 for several different problems, and the gateway answers a bad `user_key` itself (403
/// by default); the body tells them apart where it can.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// `error_description` says the access token expired: rotate.
    TokenExpired,
    /// `invalid_token`: the token is unknown to this account. It was deactivated or deleted, or it
    /// belongs to another account or environment (the body cannot tell which).
    TokenInvalid,
    /// The token's user is disabled (deactivated, or no longer an API user).
    UserInactive,
    /// The account API key (`user_key`) was refused, by TrackVia (401) or by the gateway (403
    /// `Authentication failed`, 401 `Authentication parameters missing`).
    ApiKeyInvalid,
    /// No token reached the server.
    TokenMissing,
    /// `accessDenied`: the token works, but its role does not reach the view.
    AccessDenied,
    /// A 401, or a 403 in no shape TrackVia's application uses, whose body matched none of the
    /// above: the message carries the whole body (credentials removed).
    Unrecognised,
}

impl AuthFailure {
    /// A short phrase for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::TokenExpired => "token expired",
            Self::TokenInvalid => "token not valid for this account",
            Self::UserInactive => "user inactive",
            Self::ApiKeyInvalid => "API key refused",
            Self::TokenMissing => "no token sent",
            Self::AccessDenied => "access denied by role",
            Self::Unrecognised => "not recognised",
        }
    }
}

/// A failed TrackVia call. Messages are the server's, with every credential removed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TrackviaError {
    /// 401, or a 403 that is not TrackVia's permission answer, classified.
    #[error("TrackVia {op}: {status} {} ({message})", .kind.describe())]
    Unauthorized {
        /// The operation.
        op: &'static str,
        /// 401 or 403.
        status: u16,
        /// Which 401.
        kind: AuthFailure,
        /// The server's message, scrubbed.
        message: String,
    },
    /// 403 in TrackVia's own error shape: authenticated, but the role lacks the permission.
    #[error("TrackVia {op}: 403 forbidden ({message})")]
    Forbidden {
        /// The operation.
        op: &'static str,
        /// The server's message, scrubbed.
        message: String,
    },
    /// 404.
    #[error("TrackVia {op}: 404 not found ({message})")]
    NotFound {
        /// The operation.
        op: &'static str,
        /// The server's message, scrubbed.
        message: String,
    },
    /// 400, 409 or 422: the request was refused as invalid.
    #[error("TrackVia {op}: {status} rejected ({message})")]
    Rejected {
        /// The operation.
        op: &'static str,
        /// The status code.
        status: u16,
        /// The server's message, scrubbed.
        message: String,
    },
    /// 429.
    #[error("TrackVia {op}: 429 rate limited")]
    RateLimited {
        /// The operation.
        op: &'static str,
        /// The server's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// 5xx or another unexpected status.
    #[error("TrackVia {op}: {status} server error ({message})")]
    Server {
        /// The operation.
        op: &'static str,
        /// The status code.
        status: u16,
        /// The server's message, scrubbed.
        message: String,
    },
    /// No answer, no connection, or a broken one.
    #[error("TrackVia {op}: {} ({message})", .failure.describe())]
    Transport {
        /// The operation.
        op: &'static str,
        /// Which transport failure.
        failure: TransportFailure,
        /// Description, without URL.
        message: String,
    },
    /// A 2xx answer whose body we could not read.
    #[error("TrackVia {op}: unexpected response ({message})")]
    Decode {
        /// The operation.
        op: &'static str,
        /// What did not parse.
        message: String,
    },
}

impl TrackviaError {
    /// Builds the error for a non-2xx answer. `secrets` are removed from the server's message.
    pub fn from_response(
        op: &'static str,
        status: u16,
        retry_after: Option<Duration>,
        body: &str,
        secrets: &[&str],
    ) -> Self {
        let json: Option<Value> = serde_json::from_str(body).ok();
        let field = |k: &str| {
            json.as_ref()
                .and_then(|j| j.get(k))
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let raw = [field("error_description"), field("message")]
            .into_iter()
            .find(|s| !s.is_empty())
            .map_or_else(|| body.to_owned(), str::to_owned);
        let message = trim_message(&scrub(&raw, secrets), 300);
        // Unrecognised wording is reported verbatim: the whole body, not a field of it.
        let verbatim = || trim_message(&scrub(body.trim(), secrets), 300);
        let refused = |kind| Self::Unauthorized {
            op,
            status,
            kind,
            message: if kind == AuthFailure::Unrecognised {
                verbatim()
            } else {
                message.clone()
            },
        };
        match status {
            401 => refused(classify_401(field("error"), field("name"), &raw)),
            403 => match classify_403(json.as_ref(), body) {
                Some(kind) => refused(kind),
                None => Self::Forbidden { op, message },
            },
            404 => Self::NotFound { op, message },
            400 | 409 | 422 => Self::Rejected { op, status, message },
            429 => Self::RateLimited { op, retry_after },
            _ => Self::Server { op, status, message },
        }
    }

    /// The class of a refused authentication (a 401, or a 403 that is not TrackVia's permission
    /// answer), if this is one.
    pub fn auth_failure(&self) -> Option<AuthFailure> {
        match self {
            Self::Unauthorized { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// A stable one-word label (metrics, reasons).
    pub fn label(&self) -> &'static str {
        match self {
            Self::Unauthorized {
                kind: AuthFailure::Unrecognised,
                ..
            } => "Unrecognised",
            Self::Unauthorized { .. } => "Unauthorized",
            Self::Forbidden { .. } => "Forbidden",
            Self::NotFound { .. } => "NotFound",
            Self::Rejected { .. } => "Rejected",
            Self::RateLimited { .. } => "RateLimited",
            Self::Server { .. } => "ServerError",
            Self::Transport { .. } => "Unreachable",
            Self::Decode { .. } => "BadResponse",
        }
    }
}

/// APIcast's default answers (3scale's gateway), plain text: a refused and a missing `user_key`
/// (docs/vendors.md#trackvia-errors).
const GATEWAY_REFUSED: [&str; 2] = ["authentication failed", "authentication parameters missing"];

/// Whether `body` is the gateway's answer about the `user_key` (its default wording, as text).
fn gateway_refusal(body: &str) -> bool {
    let b = body.trim().trim_end_matches('.').to_ascii_lowercase();
    GATEWAY_REFUSED.contains(&b.as_str())
}

/// A 403 is TrackVia's permission answer only in TrackVia's own error shapes (`{"name",
/// "message"}` or `{"error","error_description"}`); the gateway's `user_key` refusal is an
/// invalid API key; anything else is reported as it came.
fn classify_403(json: Option<&Value>, body: &str) -> Option<AuthFailure> {
    let shaped = json.is_some_and(|j| {
        ["name", "error"]
            .iter()
            .any(|k| j.get(*k).and_then(Value::as_str).is_some_and(|v| !v.is_empty()))
    });
    let mentions_key = |j: &Value| {
        ["message", "error_description"].iter().any(|k| {
            j.get(*k)
                .and_then(Value::as_str)
                .is_some_and(|m| mentions_user_key(&m.to_ascii_lowercase()))
        })
    };
    if gateway_refusal(body) || json.is_some_and(mentions_key) {
        Some(AuthFailure::ApiKeyInvalid)
    } else if shaped {
        None
    } else {
        Some(AuthFailure::Unrecognised)
    }
}

fn mentions_user_key(d: &str) -> bool {
    d.contains("user_key") || d.contains("user key") || d.contains("userkey")
}

fn classify_401(error: &str, name: &str, description: &str) -> AuthFailure {
    let d = description.to_ascii_lowercase();
    if name == "accessDenied" {
        AuthFailure::AccessDenied
    } else if d.contains("expired") {
        AuthFailure::TokenExpired
    } else if d.contains("disabled") || d.contains("inactive") || d.contains("locked") {
        AuthFailure::UserInactive
    } else if mentions_user_key(&d) || gateway_refusal(description) {
        AuthFailure::ApiKeyInvalid
    } else if d.contains("full authentication is required") {
        AuthFailure::TokenMissing
    } else if error == "invalid_token" {
        AuthFailure::TokenInvalid
    } else {
        AuthFailure::Unrecognised
    }
}

crate::classify_vendor_error!(TrackviaError);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::external::Classify;

    fn kind(body: &str) -> AuthFailure {
        TrackviaError::from_response("t", 401, None, body, &[])
            .auth_failure()
            .unwrap()
    }

    #[test]
    fn classifies_each_401_body() {
        assert_eq!(
            kind(r#"{"error":"invalid_token","error_description":"Access token expired: abc"}"#),
            AuthFailure::TokenExpired
        );
        assert_eq!(
            kind(r#"{"error":"invalid_token","error_description":"Invalid access token: abc"}"#),
            AuthFailure::TokenInvalid
        );
        assert_eq!(
            kind(r#"{"error":"unauthorized","error_description":"User is disabled"}"#),
            AuthFailure::UserInactive
        );
        assert_eq!(
            kind(
                r#"{"errors":[],"message":"Authentication failed: invalid user_key","name":"unauthorized","code":"401"}"#
            ),
            AuthFailure::ApiKeyInvalid
        );
        assert_eq!(
            kind(
                r#"{"error":"unauthorized","error_description":"Full authentication is required to access this resource"}"#
            ),
            AuthFailure::TokenMissing
        );
        assert_eq!(
            kind(
                r#"{"errors":[],"message":"DENIED!!! - View: 5000 either does not exist or you do not have access to it.","name":"accessDenied","code":"401"}"#
            ),
            AuthFailure::AccessDenied
        );
        assert_eq!(kind("<html>nope</html>"), AuthFailure::Unrecognised);
    }

    fn refusal(status: u16, body: &str) -> TrackviaError {
        TrackviaError::from_response("list users", status, None, body, &["key-secret-123456"])
    }

    #[test]
    fn the_gateway_refusing_the_api_key_is_an_invalid_api_key_not_a_role_problem() {
        // APIcast's defaults: 403 "Authentication failed" for an unknown key, 401
        // "Authentication parameters missing" for none, as plain text.
        for (status, body) in [
            (403, "Authentication failed"),
            (403, "Authentication failed\n"),
            (401, "Authentication parameters missing"),
            (403, "Authentication parameters missing"),
            (
                403,
                r#"{"errors":[],"message":"Authentication failed: invalid user_key","name":"unauthorized","code":"403"}"#,
            ),
        ] {
            let e = refusal(status, body);
            assert_eq!(
                e.auth_failure(),
                Some(AuthFailure::ApiKeyInvalid),
                "{status} {body}: {e:?}"
            );
            assert_eq!(e.label(), "Unauthorized");
            assert!(
                e.to_string().contains(&format!("{status} API key refused")),
                "{e}"
            );
        }
    }

    #[test]
    fn trackvias_own_403_is_a_permission_problem() {
        for body in [
            r#"{"errors":[],"message":"Access is denied","name":"accessDenied","code":"403"}"#,
            r#"{"error":"access_denied","error_description":"Access is denied"}"#,
        ] {
            let e = refusal(403, body);
            assert!(matches!(e, TrackviaError::Forbidden { .. }), "{body}: {e:?}");
            assert_eq!(e.auth_failure(), None);
        }
    }

    #[test]
    fn unknown_wording_is_unrecognised_and_reported_verbatim_without_credentials() {
        for (status, body) in [
            (
                403,
                "<html><body>Request blocked for key-secret-123456</body></html>",
            ),
            (403, "{}"),
            (403, r#"{"detail":"quota plan suspended"}"#),
            (401, "Something new happened to key-secret-123456"),
        ] {
            let e = refusal(status, body);
            assert_eq!(
                e.auth_failure(),
                Some(AuthFailure::Unrecognised),
                "{status} {body}"
            );
            assert_eq!(e.label(), "Unrecognised");
            let shown = e.to_string();
            assert!(!shown.contains("key-secret-123456"), "{shown}");
            let expected = scrub(body, &["key-secret-123456"]);
            assert!(shown.contains(&expected), "the body, verbatim: {shown}");
        }
    }

    #[test]
    fn messages_never_carry_credentials() {
        let e = TrackviaError::from_response(
            "list views",
            401,
            None,
            r#"{"error":"invalid_token","error_description":"Invalid access token: tok-secret-123456"}"#,
            &["tok-secret-123456", "key-secret-123456"],
        );
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("tok-secret-123456"), "{shown}");
        assert!(shown.contains("401 token not valid for this account"), "{shown}");
        let e = TrackviaError::from_response(
            "list users",
            403,
            None,
            "blocked: key-secret-123456",
            &["tok-secret-123456", "key-secret-123456"],
        );
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("key-secret-123456"), "{shown}");
    }

    #[test]
    fn transient_and_permanent() {
        let e = |s| TrackviaError::from_response("t", s, None, "{}", &[]);
        assert!(e(500).is_transient() && e(503).is_transient() && e(429).is_transient());
        assert!(
            !e(401).is_transient()
                && !e(403).is_transient()
                && !e(404).is_transient()
                && !e(400).is_transient()
        );
    }
}
