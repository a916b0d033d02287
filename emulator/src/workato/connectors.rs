//! Workato's connector metadata: `GET /api/integrations?applications=…` (standard connectors)
//! and `GET /api/custom_connectors`, `GET /api/custom_connectors/{id}/code` (docs.workato.com,
//! workato-api/api-connectors; the Platform CLI's OpenAPI models `PlatformConnector`,
//! `CustomConnector`, `CustomConnectorCodeResponse`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};

use super::auth::WkScope;
use super::errors::WkError;
use super::probe::TRACKVIA_PROVIDER;
use super::request::IdParam;
use crate::world::Shared;

/// The standard connectors the emulator describes, as Workato publishes them: TrackVia's is
/// `oauth: true` (its only published authentication type), with no triggers or actions listed
/// here (the emulator does not run them).
fn standard(name: &str) -> Option<Value> {
    let (title, categories, oauth) = match name {
        TRACKVIA_PROVIDER => ("TrackVia", vec!["Database"], true),
        "http" => ("HTTP", vec!["Developer tools"], false),
        _ => return None,
    };
    Some(json!({
        "name": name,
        "title": title,
        "categories": categories,
        "oauth": oauth,
        "deprecated": false,
        "secondary": false,
        "triggers": [],
        "actions": [],
    }))
}

/// `GET /api/integrations?applications=a,b`: the named standard connectors; unknown names are
/// left out. `applications` is required.
pub async fn integrations(
    WkScope(_): WkScope,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, WkError> {
    let Some(apps) = params.get("applications") else {
        return Err(WkError::BadRequest("applications is required".into()));
    };
    let items: Vec<Value> = apps.split(',').map(str::trim).filter_map(standard).collect();
    Ok(Json(json!({ "items": items })))
}

/// `GET /api/custom_connectors`: `{"result": [...]}` with each connector's versions.
pub async fn custom_list(
    State(shared): State<Arc<Shared>>,
    WkScope(scope): WkScope,
) -> Result<Json<Value>, WkError> {
    let world = shared.world();
    let ws = world
        .workato
        .workspace(&scope.workspace)
        .map_err(|_| WkError::NotFound)?;
    let result: Vec<Value> = ws
        .custom_connectors
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "name": c.name,
                "title": c.title,
                "latest_released_version": 1,
                "latest_released_version_note": "",
                "released_versions": [{
                    "version": 1,
                    "version_note": "",
                    "created_at": "2026-01-01T00:00:00.000Z",
                    "released_at": "2026-01-01T00:00:00.000Z",
                }],
                "static_webhook_url": null,
            })
        })
        .collect();
    Ok(Json(json!({ "result": result })))
}

/// `GET /api/custom_connectors/{id}/code`: `{"data": {"code": "..."}}` (the latest version).
pub async fn custom_code(
    State(shared): State<Arc<Shared>>,
    WkScope(scope): WkScope,
    Path(param): Path<IdParam>,
) -> Result<Json<Value>, WkError> {
    let id = param.id()?;
    let world = shared.world();
    let ws = world
        .workato
        .workspace(&scope.workspace)
        .map_err(|_| WkError::NotFound)?;
    let c = ws
        .custom_connectors
        .iter()
        .find(|c| c.id == id)
        .ok_or(WkError::NotFound)?;
    Ok(Json(json!({ "data": { "code": c.code } })))
}
