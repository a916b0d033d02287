//! The Workato Developer API emulator: `/api/*` routes on one listener serving every
//! workspace, each route also under `/api/managed_users/{managed_user}` (Embedded).

pub mod auth;
pub mod body;
pub mod connections;
pub mod connectors;
pub mod errors;
pub mod probe;
pub mod recipes;
pub mod request;
pub mod runtime;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post, put};

use crate::world::Shared;
use crate::world::workato_limits::MANAGED_PREFIX;
use errors::WkError;

/// The vendor routes (without the control API and middleware).
pub fn router() -> Router<Arc<Shared>> {
    let mut router = Router::new();
    for prefix in ["/api", MANAGED_PREFIX] {
        router = router
            .route(
                &format!("{prefix}/connections"),
                get(connections::list).post(connections::create),
            )
            .route(
                &format!("{prefix}/connections/{{id}}"),
                put(connections::update).delete(connections::delete),
            )
            .route(
                &format!("{prefix}/connections/{{id}}/disconnect"),
                post(connections::disconnect),
            )
            .route(&format!("{prefix}/recipes"), get(recipes::list))
            .route(&format!("{prefix}/recipes/{{id}}"), get(recipes::get))
            .route(&format!("{prefix}/recipes/{{id}}/start"), put(recipes::start))
            .route(&format!("{prefix}/recipes/{{id}}/stop"), put(recipes::stop))
            .route(&format!("{prefix}/recipes/{{id}}/jobs"), get(recipes::jobs))
            .route(&format!("{prefix}/integrations"), get(connectors::integrations))
            .route(
                &format!("{prefix}/custom_connectors"),
                get(connectors::custom_list),
            )
            .route(
                &format!("{prefix}/custom_connectors/{{id}}/code"),
                get(connectors::custom_code),
            );
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

async fn not_found() -> WkError {
    WkError::NotFound
}

async fn method_not_allowed() -> WkError {
    WkError::MethodNotAllowed
}
