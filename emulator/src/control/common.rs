//! Control API routes that concern both services: state, call log, faults, clock, limits.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::body::require_body;
use super::error::ControlError;
use crate::world::Shared;
use crate::world::clock::format_ts;
use crate::world::faults::{Fault, FaultSpec};

/// `GET /_emulator/health`.
pub async fn health() -> Json<Value> {
    Json(json!({"ok": true}))
}

/// `GET /_emulator/state`: the whole state, token values included.
pub async fn state(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let now = shared.clock.now();
    let world = shared.world();
    Json(json!({
        "now": format_ts(now),
        "clockOffsetSecs": shared.clock.offset_secs(),
        "trackvia": &world.trackvia,
        "workato": &world.workato,
    }))
}

/// `GET /_emulator/calls[?since=N]`.
pub async fn calls(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ControlError> {
    let since = match params.get("since") {
        Some(v) => v
            .parse()
            .map_err(|_| ControlError::bad_request("since must be a number"))?,
        None => 0,
    };
    Ok(Json(json!({ "calls": shared.calls.since(since) })))
}

/// `DELETE /_emulator/calls`.
pub async fn clear_calls(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({ "cleared": shared.calls.clear() }))
}

/// `GET /_emulator/faults`.
pub async fn faults(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({ "faults": shared.faults.list() }))
}

/// `POST /_emulator/faults`.
pub async fn add_fault(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<(StatusCode, Json<Fault>), ControlError> {
    let spec: FaultSpec = require_body(&body)?;
    let fault = shared.faults.add(spec).map_err(ControlError::bad_request)?;
    Ok((StatusCode::CREATED, Json(fault)))
}

/// `DELETE /_emulator/faults`.
pub async fn clear_faults(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({ "cleared": shared.faults.clear() }))
}

/// `DELETE /_emulator/faults/{id}`.
pub async fn remove_fault(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<u64>,
) -> Result<Json<Value>, ControlError> {
    if shared.faults.remove(id) {
        Ok(Json(json!({ "removed": id })))
    } else {
        Err(ControlError::not_found(format!("no fault {id}")))
    }
}

/// `GET /_emulator/clock`.
pub async fn clock(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(clock_json(&shared))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Advance {
    advance_secs: u64,
}

/// `POST /_emulator/clock` `{"advanceSecs":N}`.
pub async fn advance_clock(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<Json<Value>, ControlError> {
    let advance: Advance = require_body(&body)?;
    shared.clock.advance(advance.advance_secs);
    Ok(Json(clock_json(&shared)))
}

fn clock_json(shared: &Shared) -> Value {
    json!({"now": format_ts(shared.clock.now()), "offsetSecs": shared.clock.offset_secs()})
}

/// `DELETE /_emulator/rate-limits`: every rate-limit bucket starts full again.
pub async fn reset_rate_limits(State(shared): State<Arc<Shared>>) -> Json<Value> {
    shared.trackvia_limits.reset();
    shared.workato_limits.reset();
    Json(json!({"reset": true}))
}
