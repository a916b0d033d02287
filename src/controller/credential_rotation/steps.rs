//! The steps of a rotation: each call does the next one, writing status before every side effect.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::{Api, Resource, ResourceExt};

use super::Run;
use super::phase::*;
use crate::api::credential_rotation::{ConnectionProgress, CredentialRotation, RecipeProgress};
use crate::api::integration_account::RotationStrategy;
use crate::api::{IntegrationAccount, TrackViaAccount, WorkatoConnection, WorkatoWorkspace};
use crate::controller::context::Source;
use crate::controller::integration_account::publish_token;
use crate::controller::secret_ref;
use crate::controller::trackvia_account::{self, admin_credentials};
use crate::controller::workato_connection::{self, Published, dependent, published_credentials, set_pushed};
use crate::controller::workato_workspace;
use crate::controller::{Context, Error, interval, signed};
use crate::external::Classify;
use crate::external::http::trim_message;
use crate::secret::{Sensitive, scrub};
use crate::trackvia::{AuthToken, HttpTrackvia, TrackviaApi, TrackviaError};
use crate::workato::{ConnectionUpdate, HttpWorkato, WorkatoApi, WorkatoError};

/// Default `rotation.newTokenTimeout`.
const DEFAULT_NEW_TOKEN_TIMEOUT: Duration = Duration::from_secs(3600);
/// Default `rotation.revocationGracePeriod`.
const DEFAULT_REVOCATION_GRACE: Duration = Duration::from_secs(24 * 3600);
/// Poll of the token Secret while waiting for a person.
const WAIT_POLL: Duration = Duration::from_secs(2);

/// What every step reads: the account, its TrackVia client, the tokens.
struct Env<'a> {
    ia: &'a IntegrationAccount,
    ns: String,
    account: TrackViaAccount,
    tv: Arc<HttpTrackvia>,
    api_key: Sensitive<String>,
    /// The token Secret now, with its fingerprint.
    token: Option<(AuthToken, String)>,
    /// The published credentials now (the old token until Publishing).
    published: Option<Published>,
}

/// Runs the next step. Returns when to come back.
pub async fn step(run: &mut Run<'_>, ia: &IntegrationAccount) -> Result<Duration, Error> {
    let env = match load(run.ctx, ia).await? {
        Ok(env) => env,
        Err(why) => {
            run.status.plan_summary = Some(why);
            run.save().await?;
            return Ok(Duration::from_secs(30));
        }
    };
    match run.phase().to_owned().as_str() {
        PENDING | QUEUED => pending(run, &env).await,
        STOPPING => stopping(run, &env).await,
        WAITING_FOR_TOKEN => waiting(run, &env).await,
        VALIDATING => validating(run, &env).await,
        SWITCHING => switching(run, &env).await,
        ROLLING_BACK => rolling_back(run, &env).await,
        PUBLISHING => publishing(run, &env).await,
        RESTARTING | ABORTING => restarting(run, &env).await,
        AWAITING_REVOCATION => revocation(run, &env).await,
        other => {
            run.finish("UnknownPhase", false, format!("unknown phase {other}"))
                .await?;
            Ok(Duration::ZERO)
        }
    }
}

async fn load<'a>(ctx: &Context, ia: &'a IntegrationAccount) -> Result<Result<Env<'a>, String>, Error> {
    let ns = ia.namespace().ok_or(Error::Malformed("namespace"))?;
    let name = &ia.spec.account_ref.name;
    let Some(account) = Api::<TrackViaAccount>::namespaced(ctx.client.clone(), &ns)
        .get_opt(name)
        .await
        .map_err(Error::kube("reading the TrackViaAccount"))?
    else {
        return Ok(Err(format!("TrackViaAccount {name} not found in this namespace")));
    };
    let creds = match admin_credentials(ctx, &account).await {
        Ok(c) => c,
        Err(e) => return Ok(Err(format!("TrackViaAccount {name}: {e}"))),
    };
    let tv = trackvia_account::client(ctx, &account, creds.api_key.clone())?;
    let token = secret_ref::read(&ctx.client, &ns, &ia.spec.token_secret_ref)
        .await
        .ok()
        .map(|v| {
            let fp = ctx.fingerprint(v.value.expose());
            (v.value, fp)
        });
    let published = published_credentials(ctx, ia).await?;
    Ok(Ok(Env {
        ia,
        ns,
        account,
        tv,
        api_key: creds.api_key,
        token,
        published,
    }))
}

fn fp_of(ctx: &Context, t: &AuthToken) -> String {
    ctx.fingerprint(t.expose())
}

/// The bound WorkatoConnections (with a Workato connection id), by name.
async fn bound_connections(ctx: &Context, env: &Env<'_>) -> Result<Vec<WorkatoConnection>, Error> {
    // From the API server: the cache holds no status, and a rotation acts on what it reads.
    let mut bound: Vec<WorkatoConnection> = ctx
        .workato_connections_of(&env.ns, &env.ia.name_any(), Source::ApiServer)
        .await?
        .into_iter()
        .filter(|w| w.status.as_ref().and_then(|s| s.connection_id).is_some())
        .map(Arc::unwrap_or_clone)
        .collect();
    bound.sort_by_key(|w| w.name_any());
    Ok(bound)
}

/// A workspace's client and uid (the key of its listings in the shared caches).
async fn workspace_client(
    ctx: &Context,
    ns: &str,
    name: &str,
) -> Result<Result<(Arc<HttpWorkato>, String), String>, Error> {
    let Some(ws) = Api::<WorkatoWorkspace>::namespaced(ctx.client.clone(), ns)
        .get_opt(name)
        .await
        .map_err(Error::kube("reading the WorkatoWorkspace"))?
    else {
        return Ok(Err(format!(
            "WorkatoWorkspace {name} not found in this namespace"
        )));
    };
    let uid = ws.uid().unwrap_or_default();
    Ok(workato_workspace::client(ctx, &ws)
        .await?
        .map(|c| (c.api, uid))
        .map_err(|e| e.to_string()))
}

async fn other_active(run: &Run<'_>) -> Result<Option<String>, Error> {
    let me = run.rot;
    let all = run
        .ctx
        .credential_rotations_of(
            &me.namespace().unwrap_or_default(),
            &me.spec.integration_account_ref.name,
            Source::ApiServer,
        )
        .await?;
    let key = |r: &CredentialRotation| (r.creation_timestamp(), r.name_any());
    Ok(all
        .iter()
        .filter(|r| r.name_any() != me.name_any())
        .filter(|r| {
            r.status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                .is_none_or(|p| !is_terminal(p) && p != QUEUED)
        })
        .filter(|r| key(r) < key(me))
        .map(|r| r.name_any())
        .next())
}

/// Decides the strategy, records every connection and (StopAndRestart) every running recipe.
async fn pending(run: &mut Run<'_>, env: &Env<'_>) -> Result<Duration, Error> {
    let ctx = run.ctx;
    if let Some(other) = other_active(run).await? {
        run.status.plan_summary = Some(format!(
            "waiting for CredentialRotation {other} of the same IntegrationAccount"
        ));
        if run.phase() != QUEUED {
            run.enter(QUEUED, format!("queued behind {other}")).await?;
        }
        return Ok(Duration::from_secs(5));
    }
    let Some(old) = env.published.clone() else {
        run.finish(
            "NotSetUp",
            false,
            format!(
                "IntegrationAccount {} has published no credentials yet: nothing to rotate",
                env.ia.name_any()
            ),
        )
        .await?;
        return Ok(Duration::ZERO);
    };
    let old_fp = fp_of(ctx, &old.value);
    let strategy = match run
        .rot
        .spec
        .strategy
        .or(env.ia.spec.rotation.as_ref().and_then(|r| r.strategy))
    {
        Some(s) => s,
        None => match env.tv.list_views(&old.value).await {
            Ok(_) => RotationStrategy::Overlap,
            Err(e) if e.is_transient() => return Err(e.into()),
            Err(_) => RotationStrategy::StopAndRestart,
        },
    };
    let wcs = bound_connections(ctx, env).await?;
    let mut connections = Vec::new();
    let mut listed_fresh = std::collections::HashSet::new();
    let mut recipes: Vec<RecipeProgress> = Vec::new();
    for wc in &wcs {
        let id = wc.status.as_ref().and_then(|s| s.connection_id);
        connections.push(ConnectionProgress {
            name: wc.name_any(),
            id,
            workspace: Some(wc.spec.workspace_ref.name.clone()),
            state: CONN_PENDING.to_owned(),
            error: None,
        });
        if strategy == RotationStrategy::StopAndRestart || run.rot.spec.dry_run == Some(true) {
            let (api, ws_uid) = match workspace_client(ctx, &env.ns, &wc.spec.workspace_ref.name).await? {
                Ok(a) => a,
                Err(why) => {
                    run.finish("WorkspaceNotReady", false, why).await?;
                    return Ok(Duration::ZERO);
                }
            };
            let adapter = workato_connection::provider(wc);
            let key = workato_connection::recipes_key(&ws_uid, &adapter);
            // Read each workspace's recipes afresh once per rotation, whatever its connections.
            let fresh = listed_fresh.insert(key.clone());
            let listed = ctx
                .recipes
                .get_or_read(&key, Duration::from_secs(60), fresh, || {
                    api.list_all_recipes(&adapter)
                })
                .await?;
            for r in dependent(wc, id.unwrap_or_default(), &listed) {
                if r.running && !recipes.iter().any(|p| p.id == r.id) {
                    recipes.push(RecipeProgress {
                        id: r.id,
                        name: Some(r.name.clone()),
                        connection: Some(wc.name_any()),
                        state: RECIPE_TO_STOP.to_owned(),
                        error: None,
                    });
                }
            }
        }
    }
    let new_fp = env
        .token
        .as_ref()
        .map(|(_, fp)| fp.clone())
        .filter(|fp| *fp != old_fp);

    if run.rot.spec.dry_run == Some(true) {
        return dry_run(run, env, strategy, &connections, &recipes, new_fp.is_some()).await;
    }

    run.status.strategy = Some(strategy);
    run.status.old_token_fingerprint = Some(old_fp);
    run.status.new_token_fingerprint = new_fp.clone();
    run.status.connections = connections;
    if strategy == RotationStrategy::StopAndRestart {
        run.status.recipes = recipes;
    }
    let summary = format!(
        "{:?}: {} connections, {} running recipes to stop and restart",
        strategy,
        run.status.connections.len(),
        run.status.recipes.len()
    );
    run.status.plan_summary = Some(summary.clone());
    match (strategy, new_fp.is_some()) {
        (RotationStrategy::StopAndRestart, _) => run.enter(STOPPING, summary).await?,
        (RotationStrategy::Overlap, true) => run.enter(VALIDATING, summary).await?,
        (RotationStrategy::Overlap, false) => enter_waiting(run, env, summary).await?,
    }
    Ok(Duration::ZERO)
}

async fn dry_run(
    run: &mut Run<'_>,
    env: &Env<'_>,
    strategy: RotationStrategy,
    connections: &[ConnectionProgress],
    recipes: &[RecipeProgress],
    has_new_token: bool,
) -> Result<Duration, Error> {
    let mut problems = Vec::new();
    if has_new_token {
        if let Some((token, _)) = &env.token
            && let Err(e) = env.tv.list_views(token).await
        {
            problems.push(format!("the new token is not valid: {e}"));
        }
    } else {
        problems.push("no new token in the token Secret yet (a person must create one)".to_owned());
    }
    let connection_secs = connections.len() as u64;
    let recipe_calls = if strategy == RotationStrategy::StopAndRestart {
        2 * recipes.len() as u64
    } else {
        0
    };
    // Workato's budget: connection updates at 1/s; recipe calls 60 per minute, so calls beyond the
    // first 60 wait for the next minutes.
    let estimate = connection_secs + recipe_calls.saturating_sub(60).div_ceil(60) * 60;
    let summary = format!(
        "dry run, {:?}: would update {} connections ({}), {} recipe stop/start calls ({}); request budget estimate {} s; {}",
        strategy,
        connections.len(),
        connections
            .iter()
            .map(|c| format!("{}#{}", c.name, c.id.unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(", "),
        recipe_calls,
        recipes
            .iter()
            .map(|r| r.id.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        estimate,
        if problems.is_empty() {
            "no problem found".to_owned()
        } else {
            problems.join("; ")
        }
    );
    run.status.strategy = Some(strategy);
    run.status.connections = connections.to_vec();
    run.status.recipes = recipes.to_vec();
    run.status.plan_summary = Some(summary.clone());
    let ok = problems.is_empty();
    run.finish(if ok { "DryRunPassed" } else { "DryRunFailed" }, ok, summary)
        .await?;
    Ok(Duration::ZERO)
}

/// Stops the next recipe. A recipe found in `Stopping` was in flight when the operator stopped:
/// it is read first, so it is never stopped twice.
async fn stopping(run: &mut Run<'_>, env: &Env<'_>) -> Result<Duration, Error> {
    let Some(i) = run
        .status
        .recipes
        .iter()
        .position(|r| r.state == RECIPE_TO_STOP || r.state == RECIPE_STOPPING)
    else {
        let note = format!("{} recipes stopped", run.status.recipes.len());
        if new_token_ready(run, env) {
            run.enter(VALIDATING, note).await?;
        } else {
            enter_waiting(run, env, note).await?;
        }
        return Ok(Duration::ZERO);
    };
    if let Some(wait) = hold_stops(run, env).await? {
        return Ok(wait);
    }
    let api = recipe_client(run, env, i).await?;
    let id = run.status.recipes[i].id;
    let already = before_recipe_call(run, &api, i, RECIPE_STOPPING, false).await?;
    if !already {
        match api.ensure_stopped(id).await {
            Ok(()) => {}
            Err(WorkatoError::NotFound { .. }) => {
                run.status.recipes[i].error = Some("recipe not found".into())
            }
            Err(e) => return Err(e.into()),
        }
    }
    run.status.recipes[i].state = RECIPE_STOPPED.to_owned();
    run.save().await?;
    Ok(Duration::ZERO)
}

/// How long the first stop waits at most for the recipe budget (see [`hold_stops`]).
const MAX_STOP_HOLD: Duration = Duration::from_secs(120);

/// Before the first stop: when a workspace's recipe budget (60 calls per minute) cannot take all
/// of its stops back to back right now, hold them until it can. Each stop is answered by a start
/// one budget window later at the earliest, so stopping early only lengthens the downtime of the
/// recipes stopped first; held, every recipe is down for about one window plus the switch. The
/// recipes keep running meanwhile (the old token still works until the person regenerates it).
/// Bounded by [`MAX_STOP_HOLD`] after entering Stopping, in case others keep spending the budget.
async fn hold_stops(run: &mut Run<'_>, env: &Env<'_>) -> Result<Option<Duration>, Error> {
    if run.status.recipes.iter().any(|r| r.state != RECIPE_TO_STOP) {
        return Ok(None);
    }
    let since = run
        .status
        .phase_time
        .as_ref()
        .and_then(|t| Duration::try_from(run.ctx.clock.now_time().0.duration_since(t.0)).ok())
        .unwrap_or_default();
    if since >= MAX_STOP_HOLD {
        return Ok(None);
    }
    let mut per_workspace: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for i in 0..run.status.recipes.len() {
        per_workspace.entry(recipe_workspace(run, i)).or_insert((i, 0)).1 += 1;
    }
    let mut wait = Duration::ZERO;
    for (first, n) in per_workspace.into_values() {
        let api = recipe_client(run, env, first).await?;
        wait = wait.max(api.budget().recipe_burst_free_in(n));
    }
    let wait = wait.min(MAX_STOP_HOLD.saturating_sub(since));
    if wait.is_zero() {
        return Ok(None);
    }
    let note = format!(
        "holding the {} recipe stops {} s until Workato's recipe budget (60 calls per minute) takes them back to back, so that no recipe is stopped longer than the limits require",
        run.status.recipes.len(),
        wait.as_secs_f64().ceil()
    );
    if run.status.plan_summary.as_deref() != Some(&note) {
        run.status.plan_summary = Some(note);
        run.save().await?;
    }
    Ok(Some(wait))
}

/// Before stopping or starting recipe `i`: records `in_flight` in status first. A recipe already
/// `in_flight` was mid-call when the operator stopped; it is read, and when it already is as
/// wanted (`running == want_running`) the call is skipped (returns true), so no recipe is ever
/// stopped or started twice.
async fn before_recipe_call(
    run: &mut Run<'_>,
    api: &HttpWorkato,
    i: usize,
    in_flight: &str,
    want_running: bool,
) -> Result<bool, Error> {
    if run.status.recipes[i].state == in_flight {
        let id = run.status.recipes[i].id;
        return Ok(matches!(api.get_recipe(id).await, Ok(r) if r.running == want_running));
    }
    run.status.recipes[i].state = in_flight.to_owned();
    run.save().await?;
    Ok(false)
}

fn new_token_ready(run: &mut Run<'_>, env: &Env<'_>) -> bool {
    let old = run.status.old_token_fingerprint.clone();
    let rejected = run
        .status
        .new_token_fingerprint
        .clone()
        .filter(|_| run.phase() == WAITING_FOR_TOKEN);
    match &env.token {
        Some((_, fp)) if Some(fp) != old.as_ref() && Some(fp) != rejected.as_ref() => {
            run.status.new_token_fingerprint = Some(fp.clone());
            true
        }
        _ => false,
    }
}

/// The WorkatoWorkspace of recipe `i` (through the connection it was recorded with).
fn recipe_workspace(run: &Run<'_>, i: usize) -> String {
    let conn = run.status.recipes[i].connection.as_deref().unwrap_or_default();
    run.status
        .connections
        .iter()
        .find(|c| c.name == conn)
        .and_then(|c| c.workspace.clone())
        .unwrap_or_default()
}

async fn recipe_client(run: &Run<'_>, env: &Env<'_>, i: usize) -> Result<Arc<HttpWorkato>, Error> {
    let ws = recipe_workspace(run, i);
    match workspace_client(run.ctx, &env.ns, &ws).await? {
        Ok((api, _)) => Ok(api),
        Err(why) => Err(Error::Workato(WorkatoError::Transport {
            op: "workspace",
            failure: crate::external::http::TransportFailure::Connect,
            message: why,
        })),
    }
}

/// What the person must do while the rotation waits for the new token.
fn waiting_message(run: &Run<'_>, env: &Env<'_>) -> String {
    let user = format!("{} Integration", env.ia.spec.system);
    let r = &env.ia.spec.token_secret_ref;
    if run.status.strategy == Some(RotationStrategy::Overlap) {
        format!(
            "in TrackVia, API Access: create a new token for {user} (keep the old one active) and put it in key {} of Secret {}",
            r.key, r.name
        )
    } else {
        format!(
            "in TrackVia, API Access: regenerate the token of {user} and put it in key {} of Secret {}; its recipes are stopped until then",
            r.key, r.name
        )
    }
}

/// Enters WaitingForToken with the instructions already in status, so whoever reads the phase
/// reads what to do.
async fn enter_waiting(run: &mut Run<'_>, env: &Env<'_>, note: impl Into<String>) -> Result<(), Error> {
    let note = note.into();
    let todo = waiting_message(run, env);
    run.status.plan_summary = Some(if note.is_empty() {
        todo
    } else {
        format!("{note}: {todo}")
    });
    run.enter(WAITING_FOR_TOKEN, note).await
}

/// Waits for the person to put the new token in place, telling them exactly what to do.
async fn waiting(run: &mut Run<'_>, env: &Env<'_>) -> Result<Duration, Error> {
    if new_token_ready(run, env) {
        run.enter(VALIDATING, "a new token is in the token Secret")
            .await?;
        return Ok(Duration::ZERO);
    }
    let ctx = run.ctx;
    let todo = waiting_message(run, env);
    let timeout = interval(
        env.ia
            .spec
            .rotation
            .as_ref()
            .and_then(|x| x.new_token_timeout.as_deref()),
        DEFAULT_NEW_TOKEN_TIMEOUT,
    );
    let since = run
        .status
        .phase_time
        .clone()
        .map(|t| t.0)
        .unwrap_or_else(|| ctx.clock.now());
    let expired = since
        .checked_add(signed(timeout))
        .is_ok_and(|deadline| deadline <= ctx.clock.now());
    if !expired {
        if !run
            .status
            .plan_summary
            .as_deref()
            .unwrap_or_default()
            .ends_with(todo.as_str())
        {
            run.status.plan_summary = Some(todo);
            run.save().await?;
        }
        return Ok(WAIT_POLL);
    }
    if run.status.strategy == Some(RotationStrategy::Overlap) {
        run.finish(
            ABORTED,
            false,
            format!("no new token within {timeout:?}; nothing was changed"),
        )
        .await?;
        return Ok(Duration::ZERO);
    }
    let old_works = match &env.published {
        Some(old) => env.tv.list_views(&old.value).await.is_ok(),
        None => false,
    };
    if old_works {
        run.enter(
            ABORTING,
            format!(
                "no new token within {timeout:?}; the old token still works: restarting the stopped recipes"
            ),
        )
        .await?;
        return Ok(Duration::ZERO);
    }
    let stopped: Vec<String> = run
        .status
        .recipes
        .iter()
        .filter(|r| r.state == RECIPE_STOPPED)
        .map(|r| r.id.to_string())
        .collect();
    let alert = format!(
        "TokenLost: no new token within {timeout:?} and the old token no longer works; recipes {} stay stopped until {todo}",
        stopped.join(", ")
    );
    if run.status.plan_summary.as_deref() != Some(alert.as_str()) {
        run.status.plan_summary = Some(alert.clone());
        run.save().await?;
        crate::controller::event(ctx, run.rot, true, "TokenLost", alert).await;
    }
    Ok(Duration::from_secs(30))
}

/// Validates the new token against TrackVia (and the scope the integration needs).
async fn validating(run: &mut Run<'_>, env: &Env<'_>) -> Result<Duration, Error> {
    let Some((token, fp)) = env.token.clone() else {
        enter_waiting(run, env, "the token Secret is gone").await?;
        return Ok(Duration::ZERO);
    };
    run.status.new_token_fingerprint = Some(fp);
    let verdict = match env.tv.reach(&token).await {
        Ok(reach) => {
            missing_access(env.ia, &reach).map_or(Ok(()), |m| Err(format!("the new token cannot reach {m}")))
        }
        Err(e) if e.is_transient() => return Err(e.into()),
        Err(e) => Err(e.to_string()),
    };
    match verdict {
        Ok(()) => run.enter(SWITCHING, "the new token is valid").await?,
        Err(why) if run.status.strategy == Some(RotationStrategy::Overlap) => {
            run.finish("NewTokenInvalid", false, format!("{why}; nothing was changed"))
                .await?
        }
        Err(why) => {
            // The old token is gone (regenerated in place): wait for a valid one.
            enter_waiting(run, env, format!("{why}; put a valid token")).await?;
        }
    }
    Ok(Duration::ZERO)
}

fn missing_access(ia: &IntegrationAccount, reach: &crate::trackvia::Reach) -> Option<String> {
    let access = ia.spec.access.as_ref()?;
    let mut missing: Vec<String> = access
        .apps
        .iter()
        .flatten()
        .filter(|a| !reach.apps.iter().any(|x| &x.name == *a))
        .map(|a| format!("app:{a}"))
        .collect();
    missing.extend(
        access
            .views
            .iter()
            .flatten()
            .filter(|w| {
                !reach
                    .views
                    .iter()
                    .any(|v| v.name == w.name && w.app.as_ref().is_none_or(|a| v.app.as_ref() == Some(a)))
            })
            .map(|w| format!("view:{}", w.name)),
    );
    (!missing.is_empty()).then(|| missing.join(", "))
}

/// Puts `token` on connection `i` and reads Workato's test. `Ok(Err(reason))`: the test failed.
async fn push(
    run: &Run<'_>,
    env: &Env<'_>,
    i: usize,
    token: &AuthToken,
) -> Result<Result<(), String>, Error> {
    let c = &run.status.connections[i];
    let Some(wc) = Api::<WorkatoConnection>::namespaced(run.ctx.client.clone(), &env.ns)
        .get_opt(&c.name)
        .await
        .map_err(Error::kube("reading the WorkatoConnection"))?
    else {
        return Ok(Err(format!("WorkatoConnection {} was deleted", c.name)));
    };
    let (api, ws_uid) = match workspace_client(run.ctx, &env.ns, &wc.spec.workspace_ref.name).await? {
        Ok(a) => a,
        Err(why) => return Ok(Err(why)),
    };
    let input = workato_connection::input::input_for(&wc, &env.account, &env.api_key, token);
    let update = ConnectionUpdate {
        input: Some(input),
        ..Default::default()
    };
    let id = c.id.unwrap_or_default();
    let result = match api.update_connection(id, &update).await {
        Ok(conn) if conn.is_authorized() => Ok(()),
        Ok(conn) => Err(format!(
            "Workato's test failed: {}",
            trim_message(
                &scrub(
                    conn.authorization_error.as_deref().unwrap_or("no reason given"),
                    &[token.expose()]
                ),
                200
            )
        )),
        Err(e) if e.is_transient() => return Err(e.into()),
        Err(e) => Err(e.to_string()),
    };
    run.ctx.connections.forget(&ws_uid);
    if result.is_ok() {
        set_pushed(run.ctx, &env.ns, &c.name, &run.ctx.fingerprint(token.expose())).await?;
    }
    Ok(result)
}

/// Switches the next connection to the new token.
async fn switching(run: &mut Run<'_>, env: &Env<'_>) -> Result<Duration, Error> {
    let Some((token, fp)) = env.token.clone() else {
        enter_waiting(run, env, "the token Secret is gone").await?;
        return Ok(Duration::ZERO);
    };
    if run.status.new_token_fingerprint.as_deref() != Some(fp.as_str()) {
        // The token changed again mid-rotation: validate the newest one first.
        run.enter(VALIDATING, "the token Secret changed during the rotation")
            .await?;
        return Ok(Duration::ZERO);
    }
    let Some(i) = run
        .status
        .connections
        .iter()
        .position(|c| c.state == CONN_PENDING || c.state == CONN_UPDATING)
    else {
        run.enter(
            PUBLISHING,
            "every connection holds the new token and passed Workato's test",
        )
        .await?;
        return Ok(Duration::ZERO);
    };
    run.status.connections[i].state = CONN_UPDATING.to_owned();
    run.save().await?;
    match push(run, env, i, &token).await? {
        Ok(()) => {
            run.status.connections[i].state = CONN_VERIFIED.to_owned();
            run.status.connections[i].error = None;
            run.save().await?;
        }
        Err(why) => {
            let name = run.status.connections[i].name.clone();
            run.status.connections[i].state = CONN_FAILED.to_owned();
            run.status.connections[i].error = Some(why.clone());
            if run.status.strategy == Some(RotationStrategy::Overlap) {
                run.status.plan_summary = Some(format!("connection {name}: {why}"));
                run.enter(
                    ROLLING_BACK,
                    format!("connection {name} failed; putting the old token back"),
                )
                .await?;
            } else {
                let stopped: Vec<String> = run
                    .status
                    .recipes
                    .iter()
                    .filter(|r| r.state == RECIPE_STOPPED)
                    .map(|r| r.id.to_string())
                    .collect();
                run.finish(
                    "ConnectionTestFailed",
                    false,
                    format!(
                        "connection {name}: {why}; recipes {} stay stopped until the connection works",
                        stopped.join(", ")
                    ),
                )
                .await?;
            }
        }
    }
    Ok(Duration::ZERO)
}

/// Puts the old token back on the next connection that has (or may have) the new one.
async fn rolling_back(run: &mut Run<'_>, env: &Env<'_>) -> Result<Duration, Error> {
    let touched = [CONN_VERIFIED, CONN_FAILED, CONN_UPDATING, CONN_ROLLING_BACK];
    let Some(i) = run
        .status
        .connections
        .iter()
        .position(|c| touched.contains(&c.state.as_str()))
    else {
        let why = run.status.plan_summary.clone().unwrap_or_default();
        run.finish(
            "RolledBack",
            false,
            format!("{why}; every switched connection is back on the old token"),
        )
        .await?;
        return Ok(Duration::ZERO);
    };
    let Some(old) = env.published.clone() else {
        run.finish(
            "RollbackImpossible",
            false,
            "the old credentials are no longer published",
        )
        .await?;
        return Ok(Duration::ZERO);
    };
    run.status.connections[i].state = CONN_ROLLING_BACK.to_owned();
    run.save().await?;
    let outcome = push(run, env, i, &old.value).await?;
    run.status.connections[i].state = CONN_ROLLED_BACK.to_owned();
    if let Err(why) = outcome {
        run.status.connections[i].error = Some(format!("rollback: {why}"));
    }
    run.save().await?;
    Ok(Duration::ZERO)
}

/// Publishes the new credentials (Overlap: after keeping the old token aside for revocation).
async fn publishing(run: &mut Run<'_>, env: &Env<'_>) -> Result<Duration, Error> {
    let ctx = run.ctx;
    let Some((token, _)) = env.token.clone() else {
        enter_waiting(run, env, "the token Secret is gone").await?;
        return Ok(Duration::ZERO);
    };
    let overlap = run.status.strategy == Some(RotationStrategy::Overlap);
    if overlap
        && run.status.old_token_secret.is_none()
        && let Some(old) = &env.published
    {
        let name = keep_old_token(run, &env.ns, &old.value).await?;
        run.status.old_token_secret = Some(name);
        run.save().await?;
    }
    publish_token(ctx, env.ia, &env.account, &env.api_key, &token).await?;
    if overlap {
        let grace = interval(
            env.ia
                .spec
                .rotation
                .as_ref()
                .and_then(|r| r.revocation_grace_period.as_deref()),
            DEFAULT_REVOCATION_GRACE,
        );
        run.status.revocation_deadline = ctx.clock.now().checked_add(signed(grace)).ok().map(Time);
        let msg = format!(
            "new credentials published; deactivate the old token {} in TrackVia (API Access) by {}",
            run.status.old_token_fingerprint.as_deref().unwrap_or("?"),
            run.status
                .revocation_deadline
                .as_ref()
                .map(|d| d.0.to_string())
                .unwrap_or_default()
        );
        run.status.plan_summary = Some(msg.clone());
        run.enter(AWAITING_REVOCATION, msg).await?;
    } else {
        run.enter(
            RESTARTING,
            "new credentials published; restarting the stopped recipes",
        )
        .await?;
    }
    Ok(Duration::ZERO)
}

/// Keeps the old token in a Secret owned by the rotation, so its revocation can be probed.
async fn keep_old_token(run: &Run<'_>, ns: &str, old: &AuthToken) -> Result<String, Error> {
    let name = format!("{}-old-token", run.rot.name_any());
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            owner_references: run.rot.controller_owner_ref(&()).map(|o| vec![o]),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_owned(),
                "trackvia-operator".to_owned(),
            )])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "token".to_owned(),
            ByteString(old.expose().as_bytes().to_vec()),
        )])),
        ..Default::default()
    };
    match Api::<Secret>::namespaced(run.ctx.client.clone(), ns)
        .create(&PostParams::default(), &secret)
        .await
    {
        Ok(_) => Ok(name),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(name),
        Err(e) => Err(Error::Kube {
            op: "keeping the old token",
            source: e,
        }),
    }
}

/// Starts the next recipe this rotation stopped. A recipe found in `Starting` is read first, so
/// it is never started twice.
async fn restarting(run: &mut Run<'_>, env: &Env<'_>) -> Result<Duration, Error> {
    let Some(i) = run
        .status
        .recipes
        .iter()
        .position(|r| r.state == RECIPE_STOPPED || r.state == RECIPE_STARTING)
    else {
        let failed: Vec<String> = run
            .status
            .recipes
            .iter()
            .filter(|r| r.state == RECIPE_START_FAILED)
            .map(|r| r.id.to_string())
            .collect();
        let restarted = run
            .status
            .recipes
            .iter()
            .filter(|r| r.state == RECIPE_STARTED)
            .count();
        let note = if failed.is_empty() {
            format!("{restarted} recipes restarted")
        } else {
            format!(
                "{restarted} recipes restarted; Workato refused to start {} (see status.recipes)",
                failed.join(", ")
            )
        };
        if run.phase() == ABORTING {
            run.finish(ABORTED, false, format!("no new token in time; {note}"))
                .await?;
        } else {
            run.finish(
                SUCCEEDED,
                true,
                format!("{} connections switched; {note}", run.status.connections.len()),
            )
            .await?;
        }
        return Ok(Duration::ZERO);
    };
    let api = recipe_client(run, env, i).await?;
    let id = run.status.recipes[i].id;
    let already = before_recipe_call(run, &api, i, RECIPE_STARTING, true).await?;
    let result = if already {
        Ok(())
    } else {
        api.ensure_started(id).await
    };
    match result {
        Ok(()) => run.status.recipes[i].state = RECIPE_STARTED.to_owned(),
        Err(WorkatoError::StartFailed { errors, .. }) => {
            run.status.recipes[i].state = RECIPE_START_FAILED.to_owned();
            run.status.recipes[i].error = Some(trim_message(&errors.join("; "), 300));
            let name = run.status.recipes[i].name.clone().unwrap_or_default();
            crate::controller::event(
                run.ctx,
                run.rot,
                true,
                "RecipeStartFailed",
                format!("recipe {name} ({id}) did not start: {}", errors.join("; ")),
            )
            .await;
        }
        Err(e) if e.is_transient() => return Err(e.into()),
        Err(e) => {
            run.status.recipes[i].state = RECIPE_START_FAILED.to_owned();
            run.status.recipes[i].error = Some(trim_message(&e.to_string(), 300));
        }
    }
    run.save().await?;
    Ok(Duration::ZERO)
}

/// Probes the old token until TrackVia rejects it.
async fn revocation(run: &mut Run<'_>, env: &Env<'_>) -> Result<Duration, Error> {
    let ctx = run.ctx;
    let Some(name) = run.status.old_token_secret.clone() else {
        run.finish(
            SUCCEEDED,
            true,
            "switched and published (no old token kept to probe)",
        )
        .await?;
        return Ok(Duration::ZERO);
    };
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &env.ns);
    let old = secrets
        .get_opt(&name)
        .await
        .map_err(Error::kube("reading the old token"))?
        .and_then(|s| {
            s.data?
                .get("token")
                .and_then(|b| String::from_utf8(b.0.clone()).ok())
        })
        .map(Sensitive::new);
    let revoked = match &old {
        None => true,
        Some(token) => match env.tv.list_views(token).await {
            Ok(_) => false,
            Err(e @ TrackviaError::Unauthorized { .. }) => {
                tracing::info!(reason = e.label(), "old token rejected");
                true
            }
            Err(e) if e.is_transient() => return Err(e.into()),
            Err(_) => false,
        },
    };
    if !revoked {
        let overdue = run
            .status
            .revocation_deadline
            .as_ref()
            .is_some_and(|d| d.0 <= ctx.clock.now());
        if overdue && run.status.outcome.is_none() {
            run.status.outcome = Some("RevocationOverdue".into());
            run.save().await?;
            crate::controller::event(ctx, run.rot, true, "RevocationOverdue", "the old token still works past its revocation deadline: deactivate it in TrackVia (API Access)".into()).await;
        }
        return Ok(ctx.settings.revocation_probe_interval);
    }
    run.status.old_token_revoked_time = Some(ctx.clock.now_time());
    run.status.outcome = None;
    run.save().await?;
    if let Err(e) = secrets.delete(&name, &DeleteParams::default()).await {
        tracing::warn!(error = %e, "could not delete the old token Secret");
    }
    run.finish(
        SUCCEEDED,
        true,
        format!(
            "{} connections switched; the old token is revoked",
            run.status.connections.len()
        ),
    )
    .await?;
    Ok(Duration::ZERO)
}
