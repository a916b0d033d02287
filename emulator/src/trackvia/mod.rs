//! The TrackVia API emulator: `/openapi/*` routes on one listener serving every account.

pub mod auth;
pub mod body;
pub mod errors;
pub mod routes;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::world::Shared;

/// The vendor routes (without the control API and middleware).
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/openapi/users",
            get(routes::list_users).post(routes::create_user),
        )
        .route("/openapi/apps", get(routes::list_apps))
        .route("/openapi/views", get(routes::list_views))
        .route("/openapi/views/{id}", get(routes::view_records))
        .route("/openapi/views/{id}/records", get(routes::view_records))
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
}
