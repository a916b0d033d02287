//! Control API: the TrackVia UI steps a person does (verify, API-user flag, role, activation,
//! auth tokens, roles), and the run's choice of TrackVia's undocumented behaviour.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use super::body::{parse_body, require_body};
use super::error::ControlError;
use crate::seed::{RoleSeed, UserRef};
use crate::world::Shared;
use crate::world::behaviour::TrackviaBehaviour;
use crate::world::trackvia::{Account, NewToken, Role, Token, User};

/// `{account}/users/{user}` path parameters.
#[derive(Debug, Deserialize)]
pub struct UserPath {
    account: u64,
    user: String,
}

/// `{account}/tokens/{id}` path parameters.
#[derive(Debug, Deserialize)]
pub struct TokenPath {
    account: u64,
    id: u64,
}

/// `{account}/roles/{role}` path parameters.
#[derive(Debug, Deserialize)]
pub struct RolePath {
    account: u64,
    role: String,
}

fn with_account<T>(
    shared: &Shared,
    account: u64,
    change: impl FnOnce(&mut Account, Timestamp) -> Result<T, crate::error::StateError>,
) -> Result<T, ControlError> {
    let now = shared.clock.now();
    let mut world = shared.world();
    Ok(change(world.trackvia.account_mut(account)?, now)?)
}

fn user_json(user: &User) -> Json<Value> {
    Json(json!(user))
}

/// `POST .../users/{user}/verify`: the invitation was accepted (Unverified -> Active).
pub async fn verify(
    State(shared): State<Arc<Shared>>,
    Path(p): Path<UserPath>,
) -> Result<Json<Value>, ControlError> {
    let user = UserRef::Email(p.user);
    with_account(&shared, p.account, |a, now| {
        a.verify_user(&user, now).map(user_json)
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Enabled {
    enabled: bool,
}

/// `POST .../users/{user}/api-user` `{"enabled":true}` (409 while Unverified).
pub async fn api_user(
    State(shared): State<Arc<Shared>>,
    Path(p): Path<UserPath>,
    body: Bytes,
) -> Result<Json<Value>, ControlError> {
    let Enabled { enabled } = require_body(&body)?;
    let user = UserRef::Email(p.user);
    with_account(&shared, p.account, |a, now| {
        a.set_api_user(&user, enabled, now).map(user_json)
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    role: Option<String>,
}

/// `POST .../users/{user}/role` `{"role":"<name>"}` (404 unknown role; null removes it).
pub async fn role(
    State(shared): State<Arc<Shared>>,
    Path(p): Path<UserPath>,
    body: Bytes,
) -> Result<Json<Value>, ControlError> {
    let RoleBody { role } = require_body(&body)?;
    let user = UserRef::Email(p.user);
    with_account(&shared, p.account, |a, now| {
        a.set_role(&user, role.as_deref(), now).map(user_json)
    })
}

/// `POST .../users/{user}/deactivate`.
pub async fn deactivate(
    State(shared): State<Arc<Shared>>,
    Path(p): Path<UserPath>,
) -> Result<Json<Value>, ControlError> {
    let user = UserRef::Email(p.user);
    with_account(&shared, p.account, |a, now| {
        a.set_active(&user, false, now).map(user_json)
    })
}

/// `POST .../users/{user}/activate` (409 while Unverified).
pub async fn activate(
    State(shared): State<Arc<Shared>>,
    Path(p): Path<UserPath>,
) -> Result<Json<Value>, ControlError> {
    let user = UserRef::Email(p.user);
    with_account(&shared, p.account, |a, now| {
        a.set_active(&user, true, now).map(user_json)
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TokenBody {
    user: UserRef,
    #[serde(default)]
    name: String,
    #[serde(default)]
    expires_at: Option<Timestamp>,
    #[serde(default)]
    value: Option<String>,
}

/// `POST .../tokens` `{"user","name","expiresAt"[,"value"]}` -> 201 `{"id","token"}`.
pub async fn create_token(
    State(shared): State<Arc<Shared>>,
    Path(account): Path<u64>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ControlError> {
    let body: TokenBody = require_body(&body)?;
    let new = NewToken {
        user: body.user,
        name: body.name,
        expires_at: body.expires_at,
        value: body.value,
    };
    let token = with_account(&shared, account, |a, _| {
        a.create_token(new).map(|t| json!({"id": t.id, "token": t.value}))
    })?;
    crate::world::ledger::record(token["token"].as_str());
    Ok((StatusCode::CREATED, Json(token)))
}

/// `POST .../tokens/{id}/deactivate`.
pub async fn deactivate_token(
    State(shared): State<Arc<Shared>>,
    Path(p): Path<TokenPath>,
) -> Result<Json<Value>, ControlError> {
    with_account(&shared, p.account, |a, _| {
        a.deactivate_token(p.id).map(|t: &Token| Json(json!(t)))
    })
}

/// `DELETE .../tokens/{id}`.
pub async fn delete_token(
    State(shared): State<Arc<Shared>>,
    Path(p): Path<TokenPath>,
) -> Result<Json<Value>, ControlError> {
    with_account(&shared, p.account, |a, _| a.delete_token(p.id))?;
    Ok(Json(json!({"id": p.id, "deleted": true})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleDefinition {
    #[serde(default)]
    apps: Vec<String>,
    #[serde(default)]
    views: Vec<String>,
    #[serde(default)]
    admin: bool,
}

/// `POST .../roles/{role}` `{"apps":[...],"views":[...],"admin":false}`: create or replace.
pub async fn upsert_role(
    State(shared): State<Arc<Shared>>,
    Path(p): Path<RolePath>,
    body: Bytes,
) -> Result<Json<Value>, ControlError> {
    let def: RoleDefinition = parse_body(&body)?;
    let seed = RoleSeed {
        name: p.role,
        admin: def.admin,
        apps: def.apps,
        views: def.views,
    };
    with_account(&shared, p.account, |a, _| {
        a.upsert_role(&seed).map(|r: &Role| Json(json!(r)))
    })
}

/// `GET /_emulator/trackvia/behaviour`: the undocumented behaviour in force.
pub async fn behaviour(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!(shared.world().trackvia.behaviour))
}

/// `POST /_emulator/trackvia/behaviour` `{"invalidKey":"trackvia"|"gateway",
/// "inactiveStatus":"Inactive"|null,"maxPageSize":1000}`: replaces it (omitted fields take
/// their defaults).
pub async fn set_behaviour(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<Json<Value>, ControlError> {
    let wanted: TrackviaBehaviour = require_body(&body)?;
    wanted.validate().map_err(ControlError::bad_request)?;
    let mut world = shared.world();
    world.trackvia.behaviour = wanted;
    Ok(Json(json!(world.trackvia.behaviour)))
}
