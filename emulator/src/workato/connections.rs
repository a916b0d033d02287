//! Workato Connections API handlers.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::auth::WkScope;
use super::body::ConnectionJson;
use super::errors::WkError;
use super::probe::test_connection;
use super::request::{IdParam, json_body, lenient_id};
use crate::world::workato::{Connection, NewConnection, Workspace};
use crate::world::{Shared, World};

/// Body of `POST /api/connections` and `PUT /api/connections/{id}`.
#[derive(Debug, Default, Deserialize)]
pub struct ConnectionBody {
    name: Option<String>,
    provider: Option<String>,
    description: Option<String>,
    #[serde(default, deserialize_with = "lenient_id")]
    folder_id: Option<u64>,
    #[serde(default, deserialize_with = "lenient_id")]
    parent_id: Option<u64>,
    external_id: Option<String>,
    shell_connection: Option<bool>,
    input: Option<Map<String, Value>>,
}

impl ConnectionBody {
    /// Whether the connection is tested: `shell_connection: false`, or input given without
    /// `shell_connection`.
    fn tests(&self) -> bool {
        match self.shell_connection {
            Some(shell) => !shell,
            None => self.input.is_some(),
        }
    }
}

/// `GET /api/connections[?folder_id&parent_id&external_id&provider]`.
pub async fn list(
    State(shared): State<Arc<Shared>>,
    WkScope(scope): WkScope,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<ConnectionJson>>, WkError> {
    let world = shared.world();
    let ws = world
        .workato
        .workspace(&scope.workspace)
        .map_err(|_| WkError::NotFound)?;
    let matches = |c: &&Connection| {
        let id_matches = |key: &str, value: Option<u64>| {
            params
                .get(key)
                .is_none_or(|want| value.is_some_and(|v| &v.to_string() == want))
        };
        id_matches("folder_id", Some(ws.folder_of(c.folder_id)))
            && id_matches("parent_id", c.parent_id)
            && params
                .get("external_id")
                .is_none_or(|want| c.external_id.as_ref() == Some(want))
            && params.get("provider").is_none_or(|want| &c.provider == want)
    };
    Ok(Json(
        ws.connections
            .iter()
            .filter(matches)
            .map(|c| ConnectionJson::new(c, ws))
            .collect(),
    ))
}

/// `POST /api/connections`.
pub async fn create(
    State(shared): State<Arc<Shared>>,
    WkScope(scope): WkScope,
    body: Bytes,
) -> Result<Json<ConnectionJson>, WkError> {
    let body: ConnectionBody = json_body(&body)?;
    crate::world::ledger::record_input(body.input.as_ref());
    validate_new(&body)?;
    let now = shared.clock.now();
    let mut world = shared.world();
    let id = world.workato.next_connection_id();
    let tests = body.tests();
    let new = NewConnection {
        name: body.name.unwrap_or_default(),
        provider: body.provider.unwrap_or_default(),
        description: body.description,
        folder_id: body.folder_id,
        parent_id: body.parent_id,
        external_id: body.external_id,
        input: body.input.unwrap_or_default(),
    };
    let mut connection = Connection::new(id, new, now);
    if tests {
        let result = test_connection(
            &world.trackvia,
            now,
            &shared.config.trackvia_input_keys,
            &connection,
        );
        connection.record_test(result, now);
    }
    let ws = workspace_mut(&mut world, &scope.workspace)?;
    let json = ConnectionJson::new(&connection, ws);
    ws.connections.push(connection);
    Ok(Json(json))
}

/// `PUT /api/connections/{id}`: updates the given fields, merges `input`, tests if asked.
pub async fn update(
    State(shared): State<Arc<Shared>>,
    WkScope(scope): WkScope,
    Path(param): Path<IdParam>,
    body: Bytes,
) -> Result<Json<ConnectionJson>, WkError> {
    let id = param.id()?;
    let body: ConnectionBody = json_body(&body)?;
    crate::world::ledger::record_input(body.input.as_ref());
    let now = shared.clock.now();
    let mut guard = shared.world();
    let World { trackvia, workato } = &mut *guard;
    let ws = workato
        .workspace_mut(&scope.workspace)
        .map_err(|_| WkError::NotFound)?;
    let connection = ws.connection_mut(id).ok_or(WkError::NotFound)?;
    let tests = body.tests();
    apply_update(connection, body);
    connection.updated_at = now;
    if tests {
        let result = test_connection(trackvia, now, &shared.config.trackvia_input_keys, connection);
        connection.record_test(result, now);
    }
    let connection = ws.connection(id).ok_or(WkError::NotFound)?;
    Ok(Json(ConnectionJson::new(connection, ws)))
}

/// `POST /api/connections/{id}/disconnect`.
pub async fn disconnect(
    State(shared): State<Arc<Shared>>,
    WkScope(scope): WkScope,
    Path(param): Path<IdParam>,
) -> Result<Json<Value>, WkError> {
    let id = param.id()?;
    let now = shared.clock.now();
    let mut world = shared.world();
    let ws = workspace_mut(&mut world, &scope.workspace)?;
    ws.connection_mut(id).ok_or(WkError::NotFound)?.disconnect(now);
    Ok(Json(json!({"success": true})))
}

/// `DELETE /api/connections/{id}`.
pub async fn delete(
    State(shared): State<Arc<Shared>>,
    WkScope(scope): WkScope,
    Path(param): Path<IdParam>,
) -> Result<Json<Value>, WkError> {
    let id = param.id()?;
    let mut world = shared.world();
    let ws = workspace_mut(&mut world, &scope.workspace)?;
    ws.connection(id).ok_or(WkError::NotFound)?;
    ws.connections.retain(|c| c.id != id);
    Ok(Json(json!({"success": true})))
}

fn validate_new(body: &ConnectionBody) -> Result<(), WkError> {
    let mut errors = std::collections::BTreeMap::new();
    for (field, value) in [("name", &body.name), ("provider", &body.provider)] {
        if value.as_deref().is_none_or(|v| v.trim().is_empty()) {
            errors.insert(field.to_owned(), vec!["can't be blank".to_owned()]);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(WkError::Validation(errors))
    }
}

fn apply_update(connection: &mut Connection, body: ConnectionBody) {
    if let Some(name) = body.name.filter(|n| !n.trim().is_empty()) {
        connection.name = name;
    }
    if let Some(provider) = body.provider.filter(|p| !p.trim().is_empty()) {
        connection.provider = provider;
    }
    if body.description.is_some() {
        connection.description = body.description;
    }
    if body.folder_id.is_some() {
        connection.folder_id = body.folder_id;
    }
    if body.parent_id.is_some() {
        connection.parent_id = body.parent_id;
    }
    if body.external_id.is_some() {
        connection.external_id = body.external_id;
    }
    if let Some(input) = body.input {
        connection.input.extend(input);
    }
}

fn workspace_mut<'a>(world: &'a mut World, id: &str) -> Result<&'a mut Workspace, WkError> {
    world.workato.workspace_mut(id).map_err(|_| WkError::NotFound)
}
