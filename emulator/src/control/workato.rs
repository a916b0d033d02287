//! Control API: Workato switches (task limit, recipe ticks) and recipe creation.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::body::{parse_body, require_body};
use super::error::ControlError;
use crate::error::StateError;
use crate::seed::RecipeSeed;
use crate::workato::body::{RecipeJson, RecipeParts};
use crate::workato::runtime::{TickReport, run_job, run_ticks, set_task_limit};
use crate::world::Shared;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskLimit {
    reached: bool,
}

/// `POST /_emulator/workato/task-limit` `{"reached":bool}`.
pub async fn task_limit(State(shared): State<Arc<Shared>>, body: Bytes) -> Result<Json<Value>, ControlError> {
    let TaskLimit { reached } = require_body(&body)?;
    let now = shared.clock.now();
    let cause = &shared.config.task_limit_stop_cause;
    let stopped = set_task_limit(&mut shared.world(), reached, now, cause);
    Ok(Json(json!({"reached": reached, "stopped": stopped})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Tick {
    #[serde(default = "one")]
    count: u64,
}

impl Default for Tick {
    fn default() -> Self {
        Self { count: 1 }
    }
}

fn one() -> u64 {
    1
}

/// At most this many ticks per request.
const MAX_TICKS: u64 = 100_000;

/// `POST /_emulator/workato/tick` `{"count":N}` (default 1): runs N poll ticks now.
pub async fn tick(State(shared): State<Arc<Shared>>, body: Bytes) -> Result<Json<TickReport>, ControlError> {
    let Tick { count } = parse_body(&body)?;
    if count > MAX_TICKS {
        return Err(ControlError::bad_request(format!(
            "count must be at most {MAX_TICKS}"
        )));
    }
    Ok(Json(run_ticks(&shared, count)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewRecipe {
    #[serde(default)]
    id: Option<u64>,
    name: String,
    #[serde(default)]
    running: bool,
    #[serde(default)]
    connections: Vec<Option<u64>>,
    #[serde(default)]
    folder_id: Option<u64>,
    #[serde(default)]
    description: Option<String>,
}

/// `POST /_emulator/workato/workspaces/{ws}/recipes` -> 201 recipe (Workato shape).
pub async fn create_recipe(
    State(shared): State<Arc<Shared>>,
    Path(ws): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<RecipeJson>), ControlError> {
    let new: NewRecipe = require_body(&body)?;
    let seed = RecipeSeed {
        id: new.id.unwrap_or(0),
        name: new.name,
        running: new.running,
        connections: new.connections,
        folder_id: new.folder_id,
        description: new.description,
        lifetime_task_count: 0,
    };
    let now = shared.clock.now();
    let mut world = shared.world();
    let id = world.workato.create_recipe(&ws, seed, now)?.id;
    let workspace = world.workato.workspace(&ws)?;
    let recipe = workspace
        .recipe(id)
        .ok_or_else(|| StateError::NotFound(format!("recipe {id}")))?;
    let json = RecipeJson::new(
        recipe,
        workspace,
        RecipeParts {
            code: true,
            tags: false,
        },
    );
    Ok((StatusCode::CREATED, Json(json)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewJob {
    /// The error a step failed with; none: the job succeeds.
    #[serde(default)]
    error: Option<String>,
}

/// `POST /_emulator/workato/workspaces/{ws}/recipes/{id}/jobs` `{"error":"..."}` -> 201
/// `{"id","isError","error","completedAt"}`: the recipe runs one job now that fails with that
/// error in an action step (or, without `error`, succeeds).
pub async fn run_recipe_job(
    State(shared): State<Arc<Shared>>,
    Path((ws, id)): Path<(String, u64)>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ControlError> {
    let NewJob { error } = parse_body(&body)?;
    let now = shared.clock.now();
    let job = run_job(&mut shared.world(), &ws, id, now, error)?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"id": job.id, "isError": job.is_error, "error": job.error, "completedAt": crate::world::clock::format_ts(job.completed_at)}),
        ),
    ))
}
