//! Workato failures, classified from the status code and the body (docs/vendors.md#workato-errors).

use std::time::Duration;

use serde_json::Value;

use crate::external::http::{TransportFailure, trim_message};
use crate::secret::scrub;

/// A failed Workato call. Messages are the server's, with every credential removed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WorkatoError {
    /// 401: the API client token was refused.
    #[error("Workato {op}: 401 unauthorized ({message})")]
    Unauthorized {
        /// The operation.
        op: &'static str,
        /// The server's message, scrubbed.
        message: String,
    },
    /// 403: the API client's role lacks the privilege.
    #[error("Workato {op}: 403 forbidden ({message})")]
    Forbidden {
        /// The operation.
        op: &'static str,
        /// The server's message, scrubbed.
        message: String,
    },
    /// 404.
    #[error("Workato {op}: 404 not found ({message})")]
    NotFound {
        /// The operation.
        op: &'static str,
        /// The server's message, scrubbed.
        message: String,
    },
    /// 400 or 422: invalid request or state-transition error (e.g. starting a running recipe).
    #[error("Workato {op}: {status} rejected ({message})")]
    Rejected {
        /// The operation.
        op: &'static str,
        /// The status code.
        status: u16,
        /// The server's message, scrubbed, with field errors appended.
        message: String,
    },
    /// A recipe start answered 200 with `success: false`.
    #[error("Workato {op}: recipe did not start ({})", .errors.join("; "))]
    StartFailed {
        /// The operation.
        op: &'static str,
        /// `config_errors` and `code_errors`, one line each, scrubbed and trimmed.
        errors: Vec<String>,
    },
    /// 429.
    #[error("Workato {op}: 429 rate limited")]
    RateLimited {
        /// The operation.
        op: &'static str,
        /// The server's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// 5xx or another unexpected status.
    #[error("Workato {op}: {status} server error ({message})")]
    Server {
        /// The operation.
        op: &'static str,
        /// The status code.
        status: u16,
        /// The server's message, scrubbed.
        message: String,
    },
    /// No answer, no connection, or a broken one.
    #[error("Workato {op}: {} ({message})", .failure.describe())]
    Transport {
        /// The operation.
        op: &'static str,
        /// Which transport failure.
        failure: TransportFailure,
        /// Description, without URL.
        message: String,
    },
    /// A 2xx answer whose body we could not read.
    #[error("Workato {op}: unexpected response ({message})")]
    Decode {
        /// The operation.
        op: &'static str,
        /// What did not parse.
        message: String,
    },
}

impl WorkatoError {
    /// Builds the error for a non-2xx answer.
    pub fn from_response(
        op: &'static str,
        status: u16,
        retry_after: Option<Duration>,
        body: &str,
        secrets: &[&str],
    ) -> Self {
        let json: Option<Value> = serde_json::from_str(body).ok();
        let mut raw = json
            .as_ref()
            .and_then(|j| j.get("message"))
            .and_then(Value::as_str)
            .map_or_else(|| body.to_owned(), str::to_owned);
        if let Some(fields) = json
            .as_ref()
            .and_then(|j| j.get("errors"))
            .and_then(Value::as_object)
        {
            for (field, problems) in fields {
                let list: Vec<&str> = problems
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                raw.push_str(&format!("; {field}: {}", list.join(", ")));
            }
        }
        let message = trim_message(&scrub(&raw, secrets), 300);
        match status {
            401 => Self::Unauthorized { op, message },
            403 => Self::Forbidden { op, message },
            404 => Self::NotFound { op, message },
            400 | 409 | 422 => Self::Rejected { op, status, message },
            429 => Self::RateLimited { op, retry_after },
            _ => Self::Server { op, status, message },
        }
    }

    /// A 400 answer: Workato's state-transition error for start/stop (already running/stopped)
    /// among others. The caller re-reads the recipe to know which.
    pub fn is_state_transition(&self) -> bool {
        matches!(self, Self::Rejected { status: 400, .. })
    }

    /// A stable one-word label (metrics, reasons).
    pub fn label(&self) -> &'static str {
        match self {
            Self::Unauthorized { .. } => "Unauthorized",
            Self::Forbidden { .. } => "Forbidden",
            Self::NotFound { .. } => "NotFound",
            Self::Rejected { .. } => "Rejected",
            Self::StartFailed { .. } => "StartFailed",
            Self::RateLimited { .. } => "RateLimited",
            Self::Server { .. } => "ServerError",
            Self::Transport { .. } => "Unreachable",
            Self::Decode { .. } => "BadResponse",
        }
    }
}

crate::classify_vendor_error!(WorkatoError);

/// Reads `config_errors` / `code_errors` of a failed start: rows of
/// `[step_no, [[field_or_label, account_id, message, field_path?], ...]]`.
pub(crate) fn start_errors(body: &Value, secrets: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for key in ["config_errors", "code_errors"] {
        for row in body.get(key).and_then(Value::as_array).into_iter().flatten() {
            let step = row.get(0).map(|s| s.to_string()).unwrap_or_default();
            let problems = row
                .get(1)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_else(|| vec![row.clone()]);
            for p in problems {
                let text = match &p {
                    Value::Array(parts) => {
                        let label = parts.first().and_then(Value::as_str).unwrap_or_default();
                        let msg = parts.get(2).and_then(Value::as_str).unwrap_or_default();
                        format!("step {step}: {label}: {msg}")
                    }
                    Value::String(s) => format!("step {step}: {s}"),
                    other => format!("step {step}: {other}"),
                };
                out.push(trim_message(&scrub(&text, secrets), 200));
            }
        }
    }
    if out.is_empty() {
        out.push("Workato gave no reason".to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::external::Classify;

    #[test]
    fn validation_errors_list_their_fields() {
        let e = WorkatoError::from_response(
            "create connection",
            422,
            None,
            r#"{"message":"Validation failed","errors":{"name":["can't be blank"]}}"#,
            &[],
        );
        assert_eq!(
            e.to_string(),
            "Workato create connection: 422 rejected (Validation failed; name: can't be blank)"
        );
    }

    #[test]
    fn start_errors_are_readable_and_scrubbed() {
        let body = json!({"success": false, "code_errors": [], "config_errors": [
            [1, [["TrackVia", 100, "Connection failed: 401 Unauthorized: Invalid access token: tok-0123456789"]]]
        ]});
        let errors = start_errors(&body, &["tok-0123456789"]);
        assert_eq!(
            errors,
            ["step 1: TrackVia: Connection failed: 401 Unauthorized: Invalid access token: <redacted>"]
        );
    }

    #[test]
    fn classification() {
        let e = |s| WorkatoError::from_response("t", s, None, r#"{"message":"x"}"#, &[]);
        assert!(e(500).is_transient() && e(429).is_transient() && e(502).is_transient());
        assert!(!e(401).is_transient() && !e(404).is_transient() && !e(422).is_transient());
        assert!(e(400).is_state_transition() && !e(422).is_state_transition());
    }
}
