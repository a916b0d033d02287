//! Workato error answers: `{"message":"..."}`, validation errors with `errors`.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::world::workato::ScopeError;

/// Every error the emulated Workato API answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WkError {
    /// Missing or unknown API token (401).
    #[error("Unauthorized")]
    Unauthorized,
    /// Unknown object, route or managed user (404).
    #[error("Not found")]
    NotFound,
    /// Body validation failed (422): field -> messages.
    #[error("Validation failed")]
    Validation(BTreeMap<String, Vec<String>>),
    /// State-transition or malformed request (400).
    #[error("{0}")]
    BadRequest(String),
    /// Over a rate limit (429); `Retry-After` when non-zero.
    #[error("Too many requests")]
    TooManyRequests {
        /// Seconds for `Retry-After` (0 = no header).
        retry_after_secs: u64,
    },
    /// Known route, wrong method (405).
    #[error("Method not allowed")]
    MethodNotAllowed,
}

impl WkError {
    /// A 422 for one blank field.
    pub fn blank(field: &str) -> Self {
        Self::Validation(BTreeMap::from([(
            field.to_owned(),
            vec!["can't be blank".to_owned()],
        )]))
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        match self {
            Self::Validation(errors) => json!({"message": self.to_string(), "errors": errors}),
            _ => json!({"message": self.to_string()}),
        }
    }
}

impl From<ScopeError> for WkError {
    fn from(error: ScopeError) -> Self {
        match error {
            ScopeError::Unauthorized => Self::Unauthorized,
            ScopeError::UnknownManagedUser => Self::NotFound,
        }
    }
}

impl IntoResponse for WkError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(self.body())).into_response();
        if let Self::TooManyRequests { retry_after_secs } = self
            && retry_after_secs > 0
            && let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}
