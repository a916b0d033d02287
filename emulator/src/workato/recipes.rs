//! Workato Recipes and Jobs API handlers, and the start/stop state transitions.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use jiff::Timestamp;
use serde_json::{Value, json};

use super::auth::WkScope;
use super::body::{JobJson, JobsJson, RecipeJson, RecipeParts};
use super::errors::WkError;
use super::probe::test_connection;
use super::request::{IdParam, flag};
use crate::config::InputKeys;
use crate::world::workato::{Recipe, Workspace};
use crate::world::{Shared, World};

/// Default and maximum `per_page`.
const MAX_PER_PAGE: usize = 100;
/// At most this many jobs are listed.
const MAX_JOBS_LISTED: usize = 100;

type Params = Query<HashMap<String, String>>;

/// `GET /api/recipes?adapter_names_any&adapter_names_all&running&folder_id&stop_cause&page&per_page&exclude_code`.
pub async fn list(
    State(shared): State<Arc<Shared>>,
    WkScope(scope): WkScope,
    Query(params): Params,
) -> Result<Json<Value>, WkError> {
    let world = shared.world();
    let ws = workspace(&world, &scope.workspace)?;
    let page = number(&params, "page").unwrap_or(1).max(1);
    let per_page = number(&params, "per_page")
        .unwrap_or(MAX_PER_PAGE)
        .clamp(1, MAX_PER_PAGE);
    let parts = RecipeParts {
        code: !flag(params.get("exclude_code")).unwrap_or(false),
        tags: includes_tags(&params),
    };
    let items: Vec<RecipeJson> = ws
        .recipes
        .iter()
        .filter(|r| recipe_matches(ws, r, &params))
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|r| RecipeJson::new(r, ws, parts))
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// `GET /api/recipes/{id}[?includes[]=tags]`.
pub async fn get(
    State(shared): State<Arc<Shared>>,
    WkScope(scope): WkScope,
    Path(param): Path<IdParam>,
    Query(params): Params,
) -> Result<Json<RecipeJson>, WkError> {
    let id = param.id()?;
    let world = shared.world();
    let ws = workspace(&world, &scope.workspace)?;
    let recipe = ws.recipe(id).ok_or(WkError::NotFound)?;
    let parts = RecipeParts {
        code: true,
        tags: includes_tags(&params),
    };
    Ok(Json(RecipeJson::new(recipe, ws, parts)))
}

/// Whether `includes[]=tags` was asked for.
fn includes_tags(params: &HashMap<String, String>) -> bool {
    ["includes[]", "includes"].iter().any(|key| {
        params
            .get(*key)
            .is_some_and(|v| v.split(',').any(|p| p.trim() == "tags"))
    })
}

/// `PUT /api/recipes/{id}/start`.
pub async fn start(
    State(shared): State<Arc<Shared>>,
    WkScope(scope): WkScope,
    Path(param): Path<IdParam>,
) -> Result<Json<Value>, WkError> {
    let id = param.id()?;
    let now = shared.clock.now();
    let mut world = shared.world();
    start_recipe(
        &mut world,
        &scope.workspace,
        id,
        now,
        &shared.config.trackvia_input_keys,
    )
    .map(Json)
}

/// `PUT /api/recipes/{id}/stop`.
pub async fn stop(
    State(shared): State<Arc<Shared>>,
    WkScope(scope): WkScope,
    Path(param): Path<IdParam>,
) -> Result<Json<Value>, WkError> {
    let id = param.id()?;
    let now = shared.clock.now();
    let mut world = shared.world();
    let recipe = world
        .workato
        .workspace_mut(&scope.workspace)
        .ok()
        .and_then(|ws| ws.recipe_mut(id))
        .ok_or(WkError::NotFound)?;
    if !recipe.running {
        return Err(WkError::BadRequest("Recipe is already stopped".into()));
    }
    recipe.stop(None, now);
    Ok(Json(json!({"success": true})))
}

/// `GET /api/recipes/{id}/jobs[?status=succeeded|failed]`.
pub async fn jobs(
    State(shared): State<Arc<Shared>>,
    WkScope(scope): WkScope,
    Path(param): Path<IdParam>,
    Query(params): Params,
) -> Result<Json<JobsJson>, WkError> {
    let id = param.id()?;
    let world = shared.world();
    let recipe = workspace(&world, &scope.workspace)?
        .recipe(id)
        .ok_or(WkError::NotFound)?;
    let status = params.get("status").map(String::as_str);
    let items = recipe
        .jobs
        .iter()
        .filter(|job| match status {
            Some("succeeded") => !job.is_error,
            Some("failed") => job.is_error,
            _ => true,
        })
        .take(MAX_JOBS_LISTED)
        .map(|job| JobJson::new(job, recipe))
        .collect();
    Ok(Json(JobsJson {
        job_succeeded_count: recipe.job_succeeded_count,
        job_failed_count: recipe.job_failed_count,
        job_count: recipe.job_succeeded_count + recipe.job_failed_count,
        items,
    }))
}

/// Starts a recipe: refused if running or the task limit is reached; every connection in its
/// `config` is tested again, and any failure answers `success:false` with `config_errors`.
pub fn start_recipe(
    world: &mut World,
    workspace: &str,
    id: u64,
    now: Timestamp,
    keys: &InputKeys,
) -> Result<Value, WkError> {
    let World { trackvia, workato } = world;
    let task_limit_reached = workato.task_limit_reached;
    let ws = workato.workspace_mut(workspace).map_err(|_| WkError::NotFound)?;
    let recipe = ws.recipe(id).ok_or(WkError::NotFound)?;
    if recipe.running {
        return Err(WkError::BadRequest("Recipe is already running".into()));
    }
    if task_limit_reached {
        return Err(WkError::BadRequest("Task limit reached".into()));
    }
    let mut config_errors = Vec::new();
    for (index, entry) in recipe.config.clone().iter().enumerate() {
        let result = match entry.account_id.and_then(|cid| ws.connection_mut(cid)) {
            Some(connection) => {
                let result = test_connection(trackvia, now, keys, connection);
                connection.record_test(result.clone(), now);
                result
            }
            None if entry.account_id.is_none() => Err("no connection selected".to_owned()),
            None => Err("connection does not exist".to_owned()),
        };
        if let Err(error) = result {
            let row = json!([
                display_name(&entry.provider),
                entry.account_id,
                format!("Connection failed: {error}")
            ]);
            config_errors.push(json!([index + 1, [row]]));
        }
    }
    if !config_errors.is_empty() {
        return Ok(json!({"success": false, "code_errors": [], "config_errors": config_errors}));
    }
    ws.recipe_mut(id).ok_or(WkError::NotFound)?.start(now);
    Ok(json!({"success": true}))
}

/// The application label Workato shows in `config_errors`.
fn display_name(provider: &str) -> String {
    match provider {
        "trackvia" => "TrackVia".to_owned(),
        other => {
            let mut chars = other.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        }
    }
}

fn recipe_matches(ws: &Workspace, recipe: &Recipe, params: &HashMap<String, String>) -> bool {
    let apps = recipe.applications();
    let names = |key: &str| {
        params
            .get(key)
            .map(|v| v.split(',').map(str::trim).collect::<Vec<_>>())
    };
    names("adapter_names_any").is_none_or(|any| any.iter().any(|n| apps.iter().any(|a| a == n)))
        && names("adapter_names_all").is_none_or(|all| all.iter().all(|n| apps.iter().any(|a| a == n)))
        && flag(params.get("running")).is_none_or(|running| recipe.running == running)
        && params
            .get("folder_id")
            .is_none_or(|f| &ws.folder_of(recipe.folder_id).to_string() == f)
        && params
            .get("stop_cause")
            .is_none_or(|c| recipe.stop_cause.as_ref() == Some(c))
}

fn number(params: &HashMap<String, String>, key: &str) -> Option<usize> {
    params.get(key).and_then(|v| v.parse().ok())
}

fn workspace<'a>(world: &'a World, id: &str) -> Result<&'a Workspace, WkError> {
    world.workato.workspace(id).map_err(|_| WkError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names() {
        assert_eq!(display_name("trackvia"), "TrackVia");
        assert_eq!(display_name("salesforce"), "Salesforce");
    }
}
