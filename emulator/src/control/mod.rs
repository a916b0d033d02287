//! The control API under `/_emulator/` (served on both listeners). It is NOT part of either
//! vendor's API: it stands in for a person's UI steps and lets tests inspect and steer the
//! emulators (state, call log, faults, clock, recipe ticks, task limit).

mod common;
mod trackvia;
mod workato;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::error::StateError;
use crate::shared::Shared;

/// The control routes.
pub fn router() -> Router<Arc<Shared>> {
    let users = "/_emulator/trackvia/accounts/{account}/users/{user}";
    Router::new()
        .route("/_emulator/health", get(common::health))
        .route("/_emulator/state", get(common::state))
        .route("/_emulator/calls", get(common::calls).delete(common::clear_calls))
        .route(
            "/_emulator/faults",
            get(common::faults)
                .post(common::add_fault)
                .delete(common::clear_faults),
        )
        .route("/_emulator/faults/{id}", delete(common::remove_fault))
        .route("/_emulator/clock", get(common::clock).post(common::advance_clock))
        .route("/_emulator/rate-limits", delete(common::reset_rate_limits))
        .route(&format!("{users}/verify"), post(trackvia::verify))
        .route(&format!("{users}/api-user"), post(trackvia::api_user))
        .route(&format!("{users}/role"), post(trackvia::role))
        .route(&format!("{users}/deactivate"), post(trackvia::deactivate))
        .route(&format!("{users}/activate"), post(trackvia::activate))
        .route(
            "/_emulator/trackvia/accounts/{account}/tokens",
            post(trackvia::create_token),
        )
        .route(
            "/_emulator/trackvia/accounts/{account}/tokens/{id}",
            delete(trackvia::delete_token),
        )
        .route(
            "/_emulator/trackvia/accounts/{account}/tokens/{id}/deactivate",
            post(trackvia::deactivate_token),
        )
        .route(
            "/_emulator/trackvia/accounts/{account}/roles/{role}",
            post(trackvia::upsert_role),
        )
        .route("/_emulator/workato/task-limit", post(workato::task_limit))
        .route("/_emulator/workato/tick", post(workato::tick))
        .route(
            "/_emulator/workato/workspaces/{ws}/recipes",
            post(workato::create_recipe),
        )
}

/// A control API error: `{"error":"..."}` with a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlError {
    status: StatusCode,
    message: String,
}

impl ControlError {
    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }
}

impl From<StateError> for ControlError {
    fn from(error: StateError) -> Self {
        let status = match &error {
            StateError::NotFound(_) => StatusCode::NOT_FOUND,
            StateError::Conflict(_) => StatusCode::CONFLICT,
            StateError::Invalid(_) => StatusCode::BAD_REQUEST,
        };
        Self {
            status,
            message: error.to_string(),
        }
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

/// Parses a JSON body; an empty body is `T::default()`.
fn parse_body<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ControlError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| ControlError::bad_request(format!("invalid JSON body: {e}")))
}

/// Parses a JSON body that must be present.
fn require_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ControlError> {
    serde_json::from_slice(bytes).map_err(|e| ControlError::bad_request(format!("invalid JSON body: {e}")))
}
