//! The control API under `/_emulator/` (served on both listeners). It is NOT part of either
//! vendor's API: it stands in for a person's UI steps and lets tests inspect and steer the
//! emulators (state, call log, faults, clock, recipe ticks, task limit).

mod body;
mod common;
mod error;
mod trackvia;
mod workato;

use std::sync::Arc;

use axum::Router;
use axum::routing::{delete, get, post};

use crate::world::Shared;
pub use error::ControlError;

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
        .route(
            "/_emulator/trackvia/behaviour",
            get(trackvia::behaviour).post(trackvia::set_behaviour),
        )
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
        .route(
            "/_emulator/workato/workspaces/{ws}/recipes/{id}/jobs",
            post(workato::run_recipe_job),
        )
}
