//! WorkatoConnection: refuse crossed environments before any Workato call, adopt or create the
//! connection (intent recorded first), push the published credentials once and read Workato's
//! test, keep the inventory of dependent recipes and their health. Later credential changes go
//! through a CredentialRotation, never as a bare update under running recipes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use serde_json::{Map, json};

use super::{Context, Error, announce, apply_status, event, interval, signed};
use crate::api::common::CommonStatus;
use crate::api::credential_rotation::{CredentialRotation, CredentialRotationSpec};
use crate::api::integration_account::RotationStrategy;
use crate::api::workato_connection::{
    AdoptionPolicy, RecipeStatus, WorkatoConnection, WorkatoConnectionStatus,
};
use crate::api::{IntegrationAccount, TrackViaAccount, WorkatoWorkspace};
use crate::conditions::{self, Cond, types};
use crate::controller::context::Source;
use crate::controller::credential_rotation;
use crate::controller::workato_workspace::{self, WorkspaceClient};
use crate::external::http::trim_message;
use crate::secret::{Sensitive, scrub};
use crate::workato::{
    Connection, ConnectionFilter, ConnectionUpdate, HttpWorkato, NewConnection, Recipe, WorkatoApi,
};

pub mod input;

pub use input::{PUSHED_FINGERPRINT_ANNOTATION, Published, connection_input, published_credentials};

/// Stop causes that mean Workato stopped a recipe for the task limit.
pub const QUOTA_STOP_CAUSES: [&str; 2] = ["txn_quota_limit", "action_quota_limit"];

/// Everything the WorkatoConnection needs from the objects it refers to.
struct Refs {
    workspace: WorkatoWorkspace,
    account: TrackViaAccount,
    integration: IntegrationAccount,
}

/// Reconciles one WorkatoConnection.
pub async fn reconcile(cached: Arc<WorkatoConnection>, ctx: Arc<Context>) -> Result<Action, Error> {
    super::measured(&ctx, "WorkatoConnection", async {
        match super::latest(&ctx, &*cached).await? {
            Some(wc) => reconcile_inner(&wc, &ctx).await,
            None => Ok(Action::await_change()),
        }
    })
    .await
}

async fn reconcile_inner(wc: &WorkatoConnection, ctx: &Context) -> Result<Action, Error> {
    let mut status = wc.status.clone().unwrap_or_default();
    let before = status.clone();
    let mut conds: Vec<Cond> = Vec::new();
    let outcome = observe_and_act(wc, ctx, &mut status, &mut conds).await;
    let requeue = match &outcome {
        Ok(d) => *d,
        Err(e) => {
            // A failure mid-way still reports what is known, with a safe message.
            conds.push(Cond::unknown(
                types::VERIFIED,
                "WorkatoUnavailable",
                e.to_string(),
            ));
            e.requeue_after()
        }
    };
    let ready = conditions::ready(
        &conds,
        &[],
        "the connection holds the current credentials, is verified and its recipes are healthy",
    );
    conds.push(ready);
    let generation = wc.meta().generation;
    let merged = conditions::merge(
        &before.common.conditions,
        &conds,
        generation,
        &ctx.clock.now_time(),
    );
    status.common = CommonStatus {
        observed_generation: generation,
        conditions: merged,
    };
    if status != before {
        apply_status(ctx, wc, &status).await?;
        announce(
            ctx,
            "WorkatoConnection",
            wc,
            &before.common.conditions,
            &status.common.conditions,
        )
        .await;
    }
    outcome.map(|_| Action::requeue(requeue))
}

/// Observes, takes at most one step, and fills `status` and `conds`. Returns when to look again.
async fn observe_and_act(
    wc: &WorkatoConnection,
    ctx: &Context,
    status: &mut WorkatoConnectionStatus,
    conds: &mut Vec<Cond>,
) -> Result<Duration, Error> {
    let Some(refs) = references(wc, ctx, conds).await? else {
        return Ok(Duration::from_secs(60));
    };

    // The environment guard comes before any call to Workato.
    if let Err(msg) = environment_guard(&refs.workspace, &refs.account) {
        if conditions::find(&status.common.conditions, types::ENVIRONMENT_MATCHED)
            .is_none_or(|c| c.reason != "EnvironmentMismatch")
        {
            event(ctx, wc, true, "EnvironmentMismatch", msg.clone()).await;
        }
        conds.push(Cond::fail(types::ENVIRONMENT_MATCHED, "EnvironmentMismatch", msg));
        return Ok(Duration::from_secs(600));
    }
    conds.push(Cond::ok(
        types::ENVIRONMENT_MATCHED,
        "Matched",
        format!(
            "workspace and TrackVia account are both {}",
            refs.account.spec.environment
        ),
    ));

    let ws_ready = conditions::find(
        refs.workspace
            .status
            .as_ref()
            .map(|s| &s.common.conditions[..])
            .unwrap_or(&[]),
        types::READY,
    )
    .is_some_and(|c| c.status == "True");
    if !ws_ready {
        conds.push(Cond::unknown(
            types::CONNECTION_FOUND,
            "WorkspaceNotReady",
            format!("WorkatoWorkspace {} is not Ready", refs.workspace.name_any()),
        ));
        return Ok(Duration::from_secs(30));
    }
    let WorkspaceClient { api, .. } = match workato_workspace::client(ctx, &refs.workspace).await? {
        Ok(c) => c,
        Err(e) => {
            conds.push(Cond::unknown(
                types::CONNECTION_FOUND,
                "WorkspaceNotReady",
                e.to_string(),
            ));
            return Ok(Duration::from_secs(30));
        }
    };
    let ws_uid = refs.workspace.uid().unwrap_or_default();
    let every = interval(
        refs.workspace.spec.check_interval.as_deref(),
        ctx.settings.workspace_check_interval,
    );

    // The connection.
    let Some(connection) = resolve(wc, ctx, &api, &ws_uid, every, status, conds).await? else {
        return Ok(Duration::from_secs(30));
    };
    status.connection_id = Some(connection.id);

    // The credentials.
    let published = published_credentials(ctx, &refs.integration).await?;
    let pushed = wc.annotations().get(PUSHED_FINGERPRINT_ANNOTATION).cloned();
    let mut current = connection.clone();
    match (&published, &pushed) {
        (None, _) => conds.push(Cond::unknown(
            types::CREDENTIALS_CURRENT,
            "CredentialsNotPublished",
            format!(
                "IntegrationAccount {} has not published its credentials yet",
                refs.integration.name_any()
            ),
        )),
        (Some(_), None) if connection.is_authorized() => {
            // I9: a live connection (Workato's last test passed) holds credentials someone else
            // put there, and recipes may run on it: never overwritten by a plain update.
            conds.push(take_over(wc, ctx, &refs.integration, connection.id).await?);
        }
        (Some(p), None) => {
            // First setup of a connection nothing works on yet (never tested, or failing): push,
            // and let Workato test. `wc` was read at the start of this reconcile (not taken from
            // the cache), so a push of ours is already on it.
            let fp = ctx.fingerprint(p.value.expose());
            let input = connection_input(wc, &refs.account, p);
            let update = ConnectionUpdate {
                input: Some(input),
                ..Default::default()
            };
            current = api.update_connection(connection.id, &update).await?;
            ctx.connections.forget(&ws_uid);
            mark_pushed(ctx, wc, &fp).await?;
            event(
                ctx,
                wc,
                !current.is_authorized(),
                "CredentialsPushed",
                format!(
                    "pushed credentials {fp} to connection {}; Workato's test: {}",
                    connection.id,
                    current.authorization_status.as_deref().unwrap_or("none")
                ),
            )
            .await;
            status.token_fingerprint = Some(fp);
            status.last_tested_time = Some(ctx.clock.now_time());
            conds.push(Cond::ok(
                types::CREDENTIALS_CURRENT,
                "Current",
                "the connection holds the published credentials",
            ));
        }
        (Some(p), Some(pushed)) => {
            let fp = ctx.fingerprint(p.value.expose());
            status.token_fingerprint = Some(pushed.clone());
            if *pushed == fp {
                conds.push(Cond::ok(
                    types::CREDENTIALS_CURRENT,
                    "Current",
                    "the connection holds the published credentials",
                ));
            } else {
                conds.push(Cond::unknown(
                    types::CREDENTIALS_CURRENT,
                    "RotationPending",
                    format!("the connection holds {pushed}, the published credentials are {fp}: a CredentialRotation brings them together"),
                ));
            }
        }
    }
    let secrets: Vec<&str> = published.iter().map(|p| p.value.expose().as_str()).collect();
    status.authorization_status = current.authorization_status.clone();
    status.authorization_error = current
        .authorization_error
        .as_deref()
        .map(|e| trim_message(&scrub(e, &secrets), 300));
    status.connection_lost_time = current
        .connection_lost_at
        .as_deref()
        .and_then(|t| t.parse().ok())
        .map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time);
    status.connection_lost_reason = current
        .connection_lost_reason
        .as_deref()
        .map(|e| trim_message(&scrub(e, &secrets), 300));
    conds.push(verified_condition(
        &current,
        status.authorization_error.as_deref(),
    ));

    // The recipes.
    let adapter = provider(wc);
    let recipes = ctx
        .recipes
        .get_or_read(&recipes_key(&ws_uid, &adapter), every, false, || {
            api.list_all_recipes(&adapter)
        })
        .await?;
    let mine = dependent(wc, connection.id, &recipes);
    let held = held_by_rotations(wc, ctx).await?;
    let inventory: Vec<RecipeStatus> = mine
        .iter()
        .map(|r| RecipeStatus {
            id: r.id,
            name: Some(r.name.clone()),
            running: r.running,
            stop_cause: r.stop_cause.clone(),
            held_by: held.get(&r.id).filter(|_| !r.running).map(|h| h.rotation.clone()),
        })
        .collect();
    // The listing is shared and re-read once per interval: the refresh time moves when the
    // inventory changes or an interval has passed, so a reconcile that learns nothing writes
    // nothing (and does not wake itself up again through its own status).
    let now = ctx.clock.now_time();
    let stale = status
        .recipes_refreshed_time
        .as_ref()
        .is_none_or(|t| now.0.duration_since(t.0) >= signed(every));
    if stale || status.recipes != inventory {
        status.recipes_refreshed_time = Some(now);
    }
    status.recipes = inventory;
    status.recipe_count = Some(i32::try_from(mine.len()).unwrap_or(i32::MAX));
    conds.push(recipes_condition(&mine, &held));
    if wc
        .spec
        .recipes
        .as_ref()
        .and_then(|r| r.restart_after_task_limit)
        .unwrap_or(false)
    {
        restart_after_task_limit(wc, ctx, &api, &ws_uid, &mine).await;
    }
    Ok(every)
}

/// Reads the workspace, the IntegrationAccount and its TrackViaAccount; reports what is missing.
async fn references(
    wc: &WorkatoConnection,
    ctx: &Context,
    conds: &mut Vec<Cond>,
) -> Result<Option<Refs>, Error> {
    let ns = wc.namespace().ok_or(Error::Malformed("namespace"))?;
    let ws_name = &wc.spec.workspace_ref.name;
    let ia_name = &wc.spec.integration_account_ref.name;
    let workspace = Api::<WorkatoWorkspace>::namespaced(ctx.client.clone(), &ns)
        .get_opt(ws_name)
        .await
        .map_err(Error::kube("reading the WorkatoWorkspace"))?;
    let integration = Api::<IntegrationAccount>::namespaced(ctx.client.clone(), &ns)
        .get_opt(ia_name)
        .await
        .map_err(Error::kube("reading the IntegrationAccount"))?;
    let account = match &integration {
        Some(i) => Api::<TrackViaAccount>::namespaced(ctx.client.clone(), &ns)
            .get_opt(&i.spec.account_ref.name)
            .await
            .map_err(Error::kube("reading the TrackViaAccount"))?,
        None => None,
    };
    let missing = |what: &str, name: &str| {
        Cond::unknown(
            types::ENVIRONMENT_MATCHED,
            "ReferenceNotFound",
            format!("{what} {name} not found in this namespace"),
        )
    };
    match (workspace, integration, account) {
        (None, ..) => conds.push(missing("WorkatoWorkspace", ws_name)),
        (_, None, _) => conds.push(missing("IntegrationAccount", ia_name)),
        (_, Some(i), None) => conds.push(missing("TrackViaAccount", &i.spec.account_ref.name)),
        (Some(workspace), Some(integration), Some(account)) => {
            return Ok(Some(Refs {
                workspace,
                account,
                integration,
            }));
        }
    }
    Ok(None)
}

/// The environment guard (I7), for every push of credentials, the rotation's included: a
/// workspace receives only credentials of an account in its own environment.
pub fn environment_guard(workspace: &WorkatoWorkspace, account: &TrackViaAccount) -> Result<(), String> {
    if workspace.spec.environment == account.spec.environment {
        return Ok(());
    }
    Err(format!(
        "WorkatoWorkspace {} is {} but TrackViaAccount {} is {}: credentials never cross environments, nothing is pushed",
        workspace.name_any(),
        workspace.spec.environment,
        account.name_any(),
        account.spec.environment
    ))
}

/// Cache key of a workspace's recipe listing for one adapter.
pub fn recipes_key(ws_uid: &str, adapter: &str) -> String {
    format!("{ws_uid}|{adapter}")
}

/// The connector of the connection (default `trackvia`).
pub fn provider(wc: &WorkatoConnection) -> String {
    wc.spec.provider.clone().unwrap_or_else(|| "trackvia".to_owned())
}

/// Finds the connection: the one recorded in status, the spec's id, or the spec's name (creating
/// it when absent, with the intent recorded before the call).
async fn resolve(
    wc: &WorkatoConnection,
    ctx: &Context,
    api: &HttpWorkato,
    ws_uid: &str,
    every: Duration,
    status: &mut WorkatoConnectionStatus,
    conds: &mut Vec<Cond>,
) -> Result<Option<Connection>, Error> {
    let t = types::CONNECTION_FOUND;
    let pending = status.create_requested_time.is_some() && status.connection_id.is_none();
    let all = ConnectionFilter::default();
    let list = ctx
        .connections
        .get_or_read(ws_uid, every, pending, || api.list_connections(&all))
        .await?;
    let wanted_id = status.connection_id.or(wc.spec.connection.id);
    let wanted = provider(wc);
    let other_provider = |c: &Connection| c.provider.as_deref().is_some_and(|p| p != wanted);
    if let Some(id) = wanted_id {
        return Ok(match list.iter().find(|c| c.id == id) {
            // I9: a connection of another connector is never written.
            Some(c) if other_provider(c) => {
                conds.push(Cond::fail(
                    t,
                    "ProviderMismatch",
                    format!(
                        "connection {id} ({}) is a {} connection, not {wanted}: it is never written; check spec.connection.id or spec.provider",
                        c.name,
                        c.provider.as_deref().unwrap_or("?")
                    ),
                ));
                None
            }
            Some(c) => {
                conds.push(Cond::ok(t, "Found", format!("connection {id} ({})", c.name)));
                Some(c.clone())
            }
            None => {
                conds.push(Cond::fail(
                    t,
                    "ConnectionNotFound",
                    format!("connection {id} does not exist in the workspace"),
                ));
                None
            }
        });
    }
    let Some(name) = wc.spec.connection.name.clone() else {
        conds.push(Cond::fail(
            t,
            "NoSelector",
            "spec.connection names neither an id nor a name",
        ));
        return Ok(None);
    };
    let named: Vec<&Connection> = list.iter().filter(|c| c.name == name).collect();
    let matches: Vec<&Connection> = named.iter().copied().filter(|c| !other_provider(c)).collect();
    if matches.is_empty() && !named.is_empty() {
        // Same name, another connector: neither adopted nor shadowed by a second connection of
        // the same name.
        let others: Vec<String> = named
            .iter()
            .map(|c| format!("{} ({})", c.id, c.provider.as_deref().unwrap_or("?")))
            .collect();
        conds.push(Cond::fail(
            t,
            "ProviderMismatch",
            format!(
                "the connections named {name:?} belong to other connectors ({}): none is {wanted}, none is written; choose another spec.connection.name or set spec.connection.id",
                others.join(", ")
            ),
        ));
        return Ok(None);
    }
    match matches.as_slice() {
        [one] => {
            conds.push(Cond::ok(
                t,
                "Adopted",
                format!("found connection {} by name {name:?}", one.id),
            ));
            Ok(Some((*one).clone()))
        }
        [] => {
            // Intent first: a restarted operator finds the connection by name instead of creating another.
            status.create_requested_time = Some(ctx.clock.now_time());
            apply_status(ctx, wc, &*status).await?;
            let new = NewConnection {
                name: name.clone(),
                provider: provider(wc),
                folder_id: wc.spec.folder_id,
                input: Sensitive::new(Map::new()),
                shell: true,
            };
            let created = api.create_connection(&new).await?;
            ctx.connections.forget(ws_uid);
            event(
                ctx,
                wc,
                false,
                "ConnectionCreated",
                format!("created connection {} ({name:?})", created.id),
            )
            .await;
            conds.push(Cond::ok(
                t,
                "Created",
                format!("created connection {} ({name:?})", created.id),
            ));
            Ok(Some(created))
        }
        many => {
            let ids: Vec<String> = many.iter().map(|c| c.id.to_string()).collect();
            conds.push(Cond::fail(
                t,
                "AmbiguousName",
                format!(
                    "{} connections are named {name:?} (ids {}): set spec.connection.id",
                    many.len(),
                    ids.join(", ")
                ),
            ));
            Ok(None)
        }
    }
}

async fn mark_pushed(ctx: &Context, wc: &WorkatoConnection, fingerprint: &str) -> Result<(), Error> {
    set_pushed(
        ctx,
        &wc.namespace().unwrap_or_default(),
        &wc.name_any(),
        fingerprint,
    )
    .await
}

/// Records on a WorkatoConnection which token its Workato connection last received.
pub async fn set_pushed(ctx: &Context, namespace: &str, name: &str, fingerprint: &str) -> Result<(), Error> {
    let api: Api<WorkatoConnection> = Api::namespaced(ctx.client.clone(), namespace);
    let patch = json!({ "metadata": { "annotations": { PUSHED_FINGERPRINT_ANNOTATION: fingerprint } } });
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(Error::kube("recording the pushed credentials"))?;
    Ok(())
}

fn verified_condition(c: &Connection, error: Option<&str>) -> Cond {
    let t = types::VERIFIED;
    match c.authorization_status.as_deref() {
        Some("success") => Cond::ok(
            t,
            "Authorized",
            format!(
                "Workato's test passed{}",
                c.authorized_at
                    .as_deref()
                    .map(|a| format!(" at {a}"))
                    .unwrap_or_default()
            ),
        ),
        Some(other) => Cond::fail(
            t,
            "AuthorizationFailed",
            format!("Workato's test: {other}: {}", error.unwrap_or("no reason given")),
        ),
        None => Cond::unknown(t, "NotTested", "the connection has not been tested"),
    }
}

/// The recipes that depend on the connection: those whose config names it, plus `include`,
/// minus `exclude`.
pub fn dependent<'a>(wc: &WorkatoConnection, connection_id: i64, recipes: &'a [Recipe]) -> Vec<&'a Recipe> {
    let sel = wc.spec.recipes.clone().unwrap_or_default();
    let include = sel.include.unwrap_or_default();
    let exclude = sel.exclude.unwrap_or_default();
    recipes
        .iter()
        .filter(|r| (r.uses_connection(connection_id) || include.contains(&r.id)) && !exclude.contains(&r.id))
        .collect()
}

fn recipes_condition(recipes: &[&Recipe], held: &BTreeMap<i64, Held>) -> Cond {
    let t = types::RECIPES_HEALTHY;
    let stopped_by = |causes: &[&str]| -> Vec<String> {
        recipes
            .iter()
            .filter(|r| !r.running && r.stop_cause.as_deref().is_some_and(|c| causes.contains(&c)))
            .map(|r| format!("{} ({})", r.name, r.id))
            .collect()
    };
    // I1: recipes a rotation stopped and did not see run again are never silent.
    // While a rotation runs, its record is the truth (the listing may predate its stop); once it
    // is finished, a recipe the listing shows running again is resolved.
    let by_rotation = |left: bool| -> Vec<String> {
        recipes
            .iter()
            .filter(|r| !(left && r.running))
            .filter_map(|r| {
                let h = held.get(&r.id).filter(|h| h.left == left)?;
                Some(format!(
                    "{} ({}) by CredentialRotation {}",
                    r.name, r.id, h.rotation
                ))
            })
            .collect()
    };
    let left = by_rotation(true);
    if !left.is_empty() {
        return Cond::fail(
            t,
            "LeftStoppedByRotation",
            format!(
                "recipes stopped and not restarted: {}; start them in Workato once the connection works (or exclude them in spec.recipes.exclude), or run a new rotation, which restarts them",
                left.join(", ")
            ),
        );
    }
    let rotating = by_rotation(false);
    if !rotating.is_empty() {
        return Cond::unknown(
            t,
            "StoppedForRotation",
            format!(
                "recipes stopped until the rotation restarts them: {}",
                rotating.join(", ")
            ),
        );
    }
    let auth = stopped_by(&["trigger_errors_limit"]);
    let quota = stopped_by(&QUOTA_STOP_CAUSES);
    if !auth.is_empty() {
        Cond::fail(
            t,
            "StoppedByErrors",
            format!(
                "Workato stopped {} after repeated trigger errors (authentication errors stop a recipe after 60): fix the connection's credentials, then start them",
                auth.join(", ")
            ),
        )
    } else if !quota.is_empty() {
        Cond::fail(
            t,
            "TaskLimitReached",
            format!(
                "Workato stopped {} at the task limit: ask TrackVia to raise or reset it, then start them (or set spec.recipes.restartAfterTaskLimit)",
                quota.join(", ")
            ),
        )
    } else {
        Cond::ok(
            t,
            "Healthy",
            format!("{} dependent recipes, none stopped by Workato", recipes.len()),
        )
    }
}

/// A recipe a rotation stopped and has not seen run again.
struct Held {
    /// The rotation.
    rotation: String,
    /// The rotation cannot restart it by itself any more (it finished, or lost the token): a
    /// person must act.
    left: bool,
}

/// The recipes of this connection that the account's rotations hold stopped (from the
/// rotations' cache: status only, no side effect rests on it).
async fn held_by_rotations(wc: &WorkatoConnection, ctx: &Context) -> Result<BTreeMap<i64, Held>, Error> {
    let ns = wc.namespace().unwrap_or_default();
    let me = wc.name_any();
    let mut held = BTreeMap::new();
    for r in ctx
        .credential_rotations_of(&ns, &wc.spec.integration_account_ref.name, Source::Cache)
        .await?
    {
        let Some(s) = r.status.as_ref() else { continue };
        let left = s.phase.is_some_and(|p| p.is_terminal()) || s.token_lost_time.is_some();
        for x in s.recipes.iter().filter(|x| x.state.is_held()) {
            if x.connection.as_deref() == Some(me.as_str()) {
                held.insert(
                    x.id,
                    Held {
                        rotation: r.name_any(),
                        left,
                    },
                );
            }
        }
    }
    Ok(held)
}

/// A live connection is taken over only on opt-in (`spec.adoption: StopAndRestart`), through a
/// CredentialRotation that stops its running recipes, pushes, tests and restarts them.
async fn take_over(
    wc: &WorkatoConnection,
    ctx: &Context,
    ia: &IntegrationAccount,
    id: i64,
) -> Result<Cond, Error> {
    let t = types::CREDENTIALS_CURRENT;
    if wc.spec.adoption != Some(AdoptionPolicy::StopAndRestart) {
        return Ok(Cond::fail(
            t,
            "AdoptionPending",
            format!(
                "connection {id} is live (Workato's last test passed) with credentials the operator did not put there, and it is left untouched; to hand it over, set spec.adoption: StopAndRestart (its running recipes stop while the credentials change and are tested)"
            ),
        ));
    }
    // The rotation reads the connection id from this object's status: wait until it is there.
    if wc.status.as_ref().and_then(|s| s.connection_id) != Some(id) {
        return Ok(Cond::unknown(
            t,
            "TakingOver",
            format!("taking connection {id} over"),
        ));
    }
    let ns = wc.namespace().unwrap_or_default();
    let uid: String = wc.uid().unwrap_or_default().chars().take(8).collect();
    let name = format!(
        "{}-takeover-{uid}",
        wc.name_any().chars().take(200).collect::<String>()
    );
    let api: Api<CredentialRotation> = Api::namespaced(ctx.client.clone(), &ns);
    let existing = api
        .get_opt(&name)
        .await
        .map_err(Error::kube("reading the takeover CredentialRotation"))?;
    if let Some(r) = existing {
        let st = r.status.unwrap_or_default();
        return Ok(match (st.phase, st.outcome) {
            (Some(p), Some(o)) if p.is_terminal() && !o.is_success() => Cond::fail(
                t,
                "TakeOverFailed",
                format!(
                    "CredentialRotation {name} could not take connection {id} over ({o}): {}; fix the cause, then delete {name} to try again",
                    st.plan_summary.unwrap_or_default()
                ),
            ),
            _ => Cond::unknown(
                t,
                "TakingOver",
                format!("CredentialRotation {name} takes connection {id} over (stop, update, test, restart)"),
            ),
        });
    }
    let spec = CredentialRotationSpec {
        integration_account_ref: crate::api::LocalRef { name: ia.name_any() },
        strategy: Some(RotationStrategy::StopAndRestart),
        reason: Some(format!(
            "take over live connection {id} (spec.adoption: StopAndRestart)"
        )),
        dry_run: None,
        take_over: Some(crate::api::LocalRef { name: wc.name_any() }),
    };
    if credential_rotation::start(ctx, wc, &name, "take-over", spec).await? {
        event(
            ctx,
            wc,
            false,
            "TakingOver",
            format!("created CredentialRotation {name} to take live connection {id} over"),
        )
        .await;
    }
    Ok(Cond::unknown(
        t,
        "TakingOver",
        format!("CredentialRotation {name} takes connection {id} over (stop, update, test, restart)"),
    ))
}

/// Restarts recipes Workato stopped for the task limit, once the limit is lifted (a start that
/// succeeds is the only way to know). At most one try per recipe per listing.
async fn restart_after_task_limit(
    wc: &WorkatoConnection,
    ctx: &Context,
    api: &HttpWorkato,
    ws_uid: &str,
    recipes: &[&Recipe],
) {
    for r in recipes.iter().filter(|r| {
        !r.running
            && r.stop_cause
                .as_deref()
                .is_some_and(|c| QUOTA_STOP_CAUSES.contains(&c))
    }) {
        match api.start_recipe(r.id).await {
            Ok(()) => {
                ctx.recipes.forget(&recipes_key(ws_uid, &provider(wc)));
                event(
                    ctx,
                    wc,
                    false,
                    "RecipeRestarted",
                    format!("restarted recipe {} ({}) after the task limit", r.name, r.id),
                )
                .await;
            }
            Err(e) => {
                tracing::info!(recipe = r.id, error = %e, "task limit still in force");
                break;
            }
        }
    }
}

/// Error policy: log, requeue by error class.
pub fn error_policy(_: Arc<WorkatoConnection>, err: &Error, _: Arc<Context>) -> Action {
    tracing::warn!(error = %err, "WorkatoConnection reconcile failed");
    Action::requeue(err.requeue_after())
}
