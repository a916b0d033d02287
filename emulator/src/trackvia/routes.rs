//! TrackVia `/openapi/*` route handlers.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};

use super::auth::{Principal, TvAuth};
use super::body::{AppJson, RecordSet, UserRecord, ViewJson, user_structure};
use super::errors::TvError;
use crate::error::StateError;
use crate::seed::UserStatus;
use crate::world::trackvia::{Account, NewUser, User};
use crate::world::{Shared, World};

type Params = Query<HashMap<String, String>>;

/// `GET /openapi/users?start&max` (admin only). `max` defaults to, and is cut to, the run's
/// largest page; `totalCount` counts every listed user. A deactivated user is listed with the
/// run's inactive status, or not at all.
pub async fn list_users(
    State(shared): State<Arc<Shared>>,
    TvAuth(principal): TvAuth,
    Query(params): Params,
) -> Result<Json<RecordSet<UserRecord>>, TvError> {
    let world = shared.world();
    let (account, _) = admin(&world, principal)?;
    let behaviour = &world.trackvia.behaviour;
    let largest = behaviour.max_page_size.max(1);
    let start = int_param(&params, "start")?.unwrap_or(0);
    let max = int_param(&params, "max")?.unwrap_or(largest).clamp(1, largest);
    let listed: Vec<UserRecord> = account
        .users
        .iter()
        .filter_map(|u| match (u.status, &behaviour.inactive_status) {
            (UserStatus::Inactive, None) => None,
            (UserStatus::Inactive, Some(shown)) => Some(UserRecord {
                status: shown.clone(),
                ..UserRecord::from(u)
            }),
            _ => Some(UserRecord::from(u)),
        })
        .collect();
    let total_count = listed.len();
    let data = listed.into_iter().skip(start).take(max).collect();
    Ok(Json(RecordSet {
        structure: user_structure(),
        data,
        total_count,
    }))
}

/// `POST /openapi/users?email&firstName&lastName[&timeZone]` (admin only).
pub async fn create_user(
    State(shared): State<Arc<Shared>>,
    TvAuth(principal): TvAuth,
    Query(params): Params,
) -> Result<Json<RecordSet<UserRecord>>, TvError> {
    let now = shared.clock.now();
    let mut world = shared.world();
    admin(&world, principal)?;
    let new = NewUser {
        email: required(&params, "email")?,
        first_name: required(&params, "firstName")?,
        last_name: required(&params, "lastName")?,
        time_zone: params.get("timeZone").filter(|v| !v.is_empty()).cloned(),
    };
    let account = world
        .trackvia
        .account_mut(principal.account_id)
        .map_err(|_| TvError::InvalidUserKey)?;
    let user = account.create_user(new, now).map_err(|e| match e {
        StateError::NotFound(m) | StateError::Conflict(m) | StateError::Invalid(m) => {
            TvError::InvalidRequest(m)
        }
    })?;
    let data = vec![UserRecord::from(user)];
    Ok(Json(RecordSet {
        structure: user_structure(),
        data,
        total_count: 1,
    }))
}

/// `GET /openapi/apps`: the apps the token's user reaches.
pub async fn list_apps(
    State(shared): State<Arc<Shared>>,
    TvAuth(principal): TvAuth,
) -> Result<Json<Vec<AppJson>>, TvError> {
    let world = shared.world();
    let (account, user) = principal_of(&world, principal)?;
    Ok(Json(
        account
            .apps_reached(user)
            .into_iter()
            .map(AppJson::from)
            .collect(),
    ))
}

/// `GET /openapi/views[?name=]`: the views the token's user reaches (the connector test).
pub async fn list_views(
    State(shared): State<Arc<Shared>>,
    TvAuth(principal): TvAuth,
    Query(params): Params,
) -> Result<Json<Vec<ViewJson>>, TvError> {
    let world = shared.world();
    let (account, user) = principal_of(&world, principal)?;
    let name = params.get("name");
    let views = account
        .views_reached(user)
        .into_iter()
        .filter(|v| name.is_none_or(|n| &v.name == n));
    Ok(Json(views.map(ViewJson::from).collect()))
}

/// `GET /openapi/views/{id}` and `/openapi/views/{id}/records`: an empty record set if the
/// role reaches the view, else the 401 `accessDenied` answer.
pub async fn view_records(
    State(shared): State<Arc<Shared>>,
    TvAuth(principal): TvAuth,
    Path(view): Path<String>,
) -> Result<Json<RecordSet<serde_json::Value>>, TvError> {
    let world = shared.world();
    let (account, user) = principal_of(&world, principal)?;
    let reached = view
        .parse::<u64>()
        .is_ok_and(|id| account.views_reached(user).iter().any(|v| v.id == id));
    if !reached {
        return Err(TvError::ViewDenied(view));
    }
    Ok(Json(RecordSet {
        structure: Vec::new(),
        data: Vec::new(),
        total_count: 0,
    }))
}

/// Unknown route.
pub async fn not_found() -> TvError {
    TvError::NotFound
}

/// Known route, wrong method.
pub async fn method_not_allowed() -> TvError {
    TvError::MethodNotAllowed
}

fn principal_of(world: &World, principal: Principal) -> Result<(&Account, &User), TvError> {
    let account = world
        .trackvia
        .account(principal.account_id)
        .map_err(|_| TvError::InvalidUserKey)?;
    let user = account
        .users
        .iter()
        .find(|u| u.id == principal.user_id)
        .ok_or(TvError::UserDisabled)?;
    Ok((account, user))
}

fn admin(world: &World, principal: Principal) -> Result<(&Account, &User), TvError> {
    let (account, user) = principal_of(world, principal)?;
    if account.is_admin(user) {
        Ok((account, user))
    } else {
        Err(TvError::AccessDenied)
    }
}

fn required(params: &HashMap<String, String>, name: &str) -> Result<String, TvError> {
    params
        .get(name)
        .filter(|v| !v.trim().is_empty())
        .cloned()
        .ok_or_else(|| TvError::InvalidRequest(format!("Required String parameter '{name}' is not present")))
}

fn int_param(params: &HashMap<String, String>, name: &str) -> Result<Option<usize>, TvError> {
    params
        .get(name)
        .map(|value| {
            value.parse::<usize>().map_err(|_| {
                TvError::InvalidRequest(format!(
                    "Failed to convert value of type 'java.lang.String' to required type 'int'; \
                     For input string: \"{value}\""
                ))
            })
        })
        .transpose()
}
