//! WorkatoConnection: refuse crossed environments before any Workato call, adopt or create the
//! connection (intent recorded first), push the published credentials once and read Workato's
//! test, keep the inventory of dependent recipes and their health. Later credential changes go
//! through a CredentialRotation, never as a bare update under running recipes.

mod fit;
mod observe;
mod plan;

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use serde_json::Map;

use crate::api::WorkatoWorkspace;
use crate::api::common::CommonStatus;
use crate::api::workato_connection::{WorkatoConnection, WorkatoConnectionStatus};
use crate::conditions::{self, Cond, reasons};
use crate::domain::accounts::{WorkspaceClient, workspace_client};
use crate::domain::caches::Caches;
use crate::domain::connection::{PUSHED_FINGERPRINT_ANNOTATION, connection_input, provider, set_pushed};
use crate::domain::credentials::published_credentials;
use crate::domain::jobs::FailureKind;
use crate::domain::recipes::Listings;
use crate::domain::recipes::dependent;
use crate::domain::rotation;
use crate::metrics::{JobFailureLabels, ObjectLabels};
use crate::reconcile::{Error, Scoped, announce, apply_status, event, interval};
use crate::secret::Sensitive;
use crate::workato::{Connection, ConnectionUpdate, HttpWorkato, NewConnection, Recipe, WorkatoApi};

/// What the WorkatoConnection reconciler works with.
pub type Ctx = Scoped<Own>;

/// What the WorkatoConnection reconciler alone reads.
pub struct Own {
    /// The other controllers' caches.
    pub caches: Caches,
    /// The connection and recipe listings of each workspace.
    pub listings: Arc<Listings>,
}

/// Reconciles one WorkatoConnection.
pub async fn reconcile(cached: Arc<WorkatoConnection>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    crate::reconcile::measured(&ctx, "WorkatoConnection", async {
        match crate::reconcile::latest(&ctx, &*cached).await? {
            Some(wc) => reconcile_inner(&wc, &ctx).await,
            None => {
                forget_metrics(&ctx, &cached);
                Ok(Action::await_change())
            }
        }
    })
    .await
}

async fn reconcile_inner(wc: &WorkatoConnection, ctx: &Ctx) -> Result<Action, Error> {
    let mut status = wc.status.clone().unwrap_or_default();
    let before = status.clone();
    let mut conds: Vec<Cond> = Vec::new();
    let outcome = observe_and_act(wc, ctx, &mut status, &mut conds).await;
    let requeue = match &outcome {
        Ok(d) => *d,
        Err(e) => {
            // A failure mid-way still reports what is known, with a safe message.
            conds.push(Cond::unknown(
                reasons::Verified::WorkatoUnavailable,
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
    ctx: &Ctx,
    status: &mut WorkatoConnectionStatus,
    conds: &mut Vec<Cond>,
) -> Result<Duration, Error> {
    let refs = match observe::references(wc, ctx).await? {
        Ok(refs) => refs,
        Err(missing) => {
            conds.push(missing);
            return Ok(plan::AFTER_MISSING);
        }
    };
    // The environment guard comes before any call to Workato.
    match plan::environment(&refs.workspace, &refs.account) {
        Ok(matched) => conds.push(matched),
        Err(msg) => {
            if plan::mismatch_is_news(status) {
                event(ctx, wc, true, "EnvironmentMismatch", msg.clone()).await;
            }
            conds.push(Cond::false_(
                reasons::EnvironmentMatched::EnvironmentMismatch,
                msg,
            ));
            return Ok(plan::AFTER_MISMATCH);
        }
    }
    let Some(ws) = workspace(ctx, &refs.workspace, conds).await? else {
        return Ok(plan::AFTER_UNRESOLVED);
    };
    let Some(connection) = connection(wc, ctx, &ws, status, conds).await? else {
        return Ok(plan::AFTER_UNRESOLVED);
    };
    let id = connection.id;
    match connector(wc, ctx, &ws, status, conds).await? {
        Some(auth) => credentials(wc, ctx, &refs, &ws, Usable { connection, auth }, status, conds).await?,
        None => {
            // The connector cannot take the credentials: nothing is pushed or taken over.
            plan::record_connection(status, &connection, &[]);
            conds.push(plan::verified(&connection, status));
        }
    }
    recipes(wc, ctx, &refs, &ws, id, status, conds).await?;
    Ok(ws.every)
}

/// The workspace's client, uid and check interval.
struct Workspace {
    api: Arc<HttpWorkato>,
    uid: String,
    every: Duration,
}

/// The workspace's client, when the workspace is Ready and its token readable.
async fn workspace(
    ctx: &Ctx,
    ws: &WorkatoWorkspace,
    conds: &mut Vec<Cond>,
) -> Result<Option<Workspace>, Error> {
    let not_ready = |message: String| Cond::unknown(reasons::ConnectionFound::WorkspaceNotReady, message);
    if !plan::workspace_ready(ws) {
        conds.push(not_ready(format!(
            "WorkatoWorkspace {} is not Ready",
            ws.name_any()
        )));
        return Ok(None);
    }
    match workspace_client(ctx, ws).await? {
        Ok(WorkspaceClient { api, .. }) => Ok(Some(Workspace {
            api,
            uid: ws.uid().unwrap_or_default(),
            every: interval(
                ws.spec.check_interval.as_deref(),
                ctx.settings.workspace_check_interval,
            ),
        })),
        Err(e) => {
            conds.push(not_ready(e.to_string()));
            Ok(None)
        }
    }
}

/// Finds the connection, creating it when the spec's name is not there (intent recorded first:
/// a restarted operator finds it by name instead of creating another).
async fn connection(
    wc: &WorkatoConnection,
    ctx: &Ctx,
    ws: &Workspace,
    status: &mut WorkatoConnectionStatus,
    conds: &mut Vec<Cond>,
) -> Result<Option<Connection>, Error> {
    let pending = status.create_requested_time.is_some() && status.connection_id.is_none();
    let list = ctx
        .own
        .listings
        .connections(&ws.api, &ws.uid, ws.every, pending)
        .await?;
    match plan::resolve(wc, status.connection_id, &list) {
        plan::Resolution::Found(c, found) => {
            conds.push(found);
            Ok(Some(c))
        }
        plan::Resolution::Unresolved(why) => {
            conds.push(why);
            Ok(None)
        }
        plan::Resolution::Create { name } => {
            status.create_requested_time = Some(ctx.clock.now_time());
            apply_status(ctx, wc, &*status).await?;
            let new = NewConnection {
                name: name.clone(),
                provider: provider(wc),
                folder_id: wc.spec.folder_id,
                input: Sensitive::new(Map::new()),
                shell: true,
            };
            let created = ws.api.create_connection(&new).await?;
            ctx.own.listings.forget_connections(&ws.uid);
            let note = format!("created connection {} ({name:?})", created.id);
            event(ctx, wc, false, "ConnectionCreated", note).await;
            conds.push(plan::created(created.id, &name));
            Ok(Some(created))
        }
    }
}

/// Reads what Workato says of the connector (cached per workspace and provider) and checks it
/// against the configured keys: `Some(auth type to send)` when it fits, `None` when it refuses.
async fn connector(
    wc: &WorkatoConnection,
    ctx: &Ctx,
    ws: &Workspace,
    status: &mut WorkatoConnectionStatus,
    conds: &mut Vec<Cond>,
) -> Result<Option<Option<(String, String)>>, Error> {
    let c = ctx
        .own
        .listings
        .connector(&ws.api, &ws.uid, &provider(wc), ws.every)
        .await?;
    match fit::fit(wc, &c) {
        Ok(f) => {
            let auth = f
                .status
                .auth_type
                .as_deref()
                .and_then(|t| t.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()));
            status.connector = Some(f.status);
            conds.push(f.cond);
            Ok(Some(auth))
        }
        Err(refused) => {
            conds.push(refused);
            Ok(None)
        }
    }
}

/// A connection whose connector can take the credentials, and the authentication type to send.
struct Usable {
    connection: Connection,
    auth: Option<(String, String)>,
}

/// Pushes the published credentials to a connection nothing works on yet, hands a live one over
/// to a takeover rotation, or reports where the credentials stand; then records Workato's view.
async fn credentials(
    wc: &WorkatoConnection,
    ctx: &Ctx,
    refs: &observe::Refs,
    ws: &Workspace,
    usable: Usable,
    status: &mut WorkatoConnectionStatus,
    conds: &mut Vec<Cond>,
) -> Result<(), Error> {
    let Usable { connection, auth } = usable;
    let published = published_credentials(ctx, &refs.integration).await?;
    let fingerprint = published.as_ref().map(|p| ctx.fingerprint(p.value.expose()));
    let pushed = wc
        .annotations()
        .get(PUSHED_FINGERPRINT_ANNOTATION)
        .map(String::as_str);
    let ia_name = refs.integration.name_any();
    let mut current = connection;
    let mut dedicated = pushed.is_some();
    let published_fp = published.as_ref().zip(fingerprint.as_deref());
    match plan::credentials(published_fp, pushed, current.is_authorized(), &ia_name) {
        plan::Credentials::Report(cond, held) => {
            if held.is_some() {
                status.token_fingerprint = held;
            }
            conds.push(cond);
        }
        plan::Credentials::TakeOver => conds.push(take_over(wc, ctx, current.id).await?),
        plan::Credentials::Push {
            published: p,
            fingerprint,
        } => {
            // `wc` was read at the start of this reconcile (not taken from the cache), so a push
            // of ours is already on it.
            let update = ConnectionUpdate {
                input: Some(connection_input(wc, &refs.account, p, auth)),
                ..Default::default()
            };
            let id = current.id;
            current = ws.api.update_connection(id, &update).await?;
            ctx.own.listings.forget_connections(&ws.uid);
            set_pushed(
                ctx,
                &wc.namespace().unwrap_or_default(),
                &wc.name_any(),
                &fingerprint,
            )
            .await?;
            let test = current.authorization_status.as_deref().unwrap_or("none");
            let note = format!("pushed credentials {fingerprint} to connection {id}; Workato's test: {test}");
            event(ctx, wc, !current.is_authorized(), "CredentialsPushed", note).await;
            status.token_fingerprint = Some(fingerprint);
            status.last_tested_time = Some(ctx.clock.now_time());
            conds.push(plan::current());
            dedicated = true;
        }
    }
    conds.push(fit::dedicated(wc, current.id, dedicated, current.is_authorized()));
    let secrets: Vec<&str> = published.iter().map(|p| p.value.expose().as_str()).collect();
    plan::record_connection(status, &current, &secrets);
    conds.push(plan::verified(&current, status));
    Ok(())
}

/// Starts the takeover rotation when the plan says so; returns `CredentialsCurrent`.
async fn take_over(wc: &WorkatoConnection, ctx: &Ctx, id: i64) -> Result<Cond, Error> {
    let name = plan::takeover_name(wc);
    let existing = if plan::takes_over(wc) {
        observe::takeover(wc, ctx, &name).await?
    } else {
        None
    };
    match plan::take_over(wc, id, existing.as_ref().map(Option::as_ref)) {
        plan::TakeOver::Report(cond) => Ok(cond),
        plan::TakeOver::Start { name, spec, cond } => {
            if rotation::start(ctx, wc, &name, "take-over", spec).await? {
                let note = format!("created CredentialRotation {name} to take live connection {id} over");
                event(ctx, wc, false, "TakingOver", note).await;
            }
            Ok(cond)
        }
    }
}

/// The inventory of dependent recipes and their health; restarts those Workato stopped at the
/// task limit when the spec opts in.
async fn recipes(
    wc: &WorkatoConnection,
    ctx: &Ctx,
    refs: &observe::Refs,
    ws: &Workspace,
    connection_id: i64,
    status: &mut WorkatoConnectionStatus,
    conds: &mut Vec<Cond>,
) -> Result<(), Error> {
    let adapter = provider(wc);
    let all = ctx
        .own
        .listings
        .recipes(&ws.api, &ws.uid, &adapter, ws.every, false)
        .await?;
    let mine = dependent(wc, connection_id, &all);
    let held = observe::held_by_rotations(wc, ctx).await?;
    plan::record_inventory(status, &mine, &held, ctx.clock.now_time(), ws.every);
    recent_jobs(wc, ctx, refs, ws, &mine, status).await?;
    conds.push(plan::recipes(&mine, &held, &status.recipe_jobs));
    restart_after_task_limit(wc, ctx, ws, &plan::to_restart(wc, &mine)).await;
    Ok(())
}

/// Reads the recent jobs of the dependent recipes whose job counters moved, when due (at most
/// once per `--recipe-jobs-interval`, at most 20 calls, each through the
/// workspace's jobs budget); counts new failures by kind and records TrackVia authentication
/// failures in status. A jobs call that fails is logged and tried again at the next check: the
/// rest of the reconcile does not depend on it.
async fn recent_jobs(
    wc: &WorkatoConnection,
    ctx: &Ctx,
    refs: &observe::Refs,
    ws: &Workspace,
    mine: &[&Recipe],
    status: &mut WorkatoConnectionStatus,
) -> Result<(), Error> {
    let now = ctx.clock.now_time();
    let due = plan::jobs_due(status, &now, ctx.settings.recipe_jobs_interval);
    let to_read = if due {
        plan::jobs_to_read(mine, &status.recipe_jobs)
    } else {
        Vec::new()
    };
    let mut reads = Vec::new();
    let (mut auth, mut other) = (0, 0);
    if !to_read.is_empty() {
        let published = published_credentials(ctx, &refs.integration).await?;
        let secrets: Vec<&str> = published
            .iter()
            .flat_map(|p| [p.value.expose().as_str(), p.api_key.expose().as_str()])
            .collect();
        let adapter = provider(wc);
        for &id in &to_read {
            let Some(recipe) = mine.iter().find(|r| r.id == id) else {
                continue;
            };
            match ws.api.list_jobs(id).await {
                Ok(page) => {
                    let prev = status.recipe_jobs.iter().find(|e| e.id == id);
                    let read = plan::read_jobs(recipe, prev, &page, &now, &adapter, &secrets);
                    auth += read.auth;
                    other += read.other;
                    reads.push(read.entry);
                }
                Err(e) => {
                    tracing::warn!(recipe = id, error = %e, "could not read the recipe's jobs; trying again at the next check");
                }
            }
        }
    }
    let checked = !to_read.is_empty();
    plan::record_jobs(status, mine, reads, checked, &now);
    let labels = |kind: FailureKind| JobFailureLabels {
        namespace: wc.namespace().unwrap_or_default(),
        name: wc.name_any(),
        kind: kind.label().to_owned(),
    };
    for (kind, n) in [(FailureKind::Auth, auth), (FailureKind::Other, other)] {
        // Created at zero too, so the series exists before the first failure.
        ctx.metrics
            .recipe_job_failures
            .get_or_create(&labels(kind))
            .inc_by(n);
    }
    let failing = plan::auth_failures(mine, &status.recipe_jobs).len();
    ctx.metrics
        .recipes_auth_failing
        .get_or_create(&object_labels(wc))
        .set(i64::try_from(failing).unwrap_or(i64::MAX));
    Ok(())
}

fn object_labels(wc: &WorkatoConnection) -> ObjectLabels {
    ObjectLabels {
        namespace: wc.namespace().unwrap_or_default(),
        name: wc.name_any(),
    }
}

/// Drops the per-object series of a WorkatoConnection that is gone.
fn forget_metrics(ctx: &Ctx, wc: &WorkatoConnection) {
    ctx.metrics.recipes_auth_failing.remove(&object_labels(wc));
    for kind in [FailureKind::Auth, FailureKind::Other] {
        ctx.metrics.recipe_job_failures.remove(&JobFailureLabels {
            namespace: wc.namespace().unwrap_or_default(),
            name: wc.name_any(),
            kind: kind.label().to_owned(),
        });
    }
}

/// Restarts recipes Workato stopped for the task limit, once the limit is lifted (a start that
/// succeeds is the only way to know). At most one try per recipe per listing.
async fn restart_after_task_limit(wc: &WorkatoConnection, ctx: &Ctx, ws: &Workspace, recipes: &[&Recipe]) {
    for r in recipes {
        match ws.api.start_recipe(r.id).await {
            Ok(()) => {
                ctx.own.listings.forget_recipes(&ws.uid, &provider(wc));
                let note = format!("restarted recipe {} ({}) after the task limit", r.name, r.id);
                event(ctx, wc, false, "RecipeRestarted", note).await;
            }
            Err(e) => {
                tracing::info!(recipe = r.id, error = %e, "task limit still in force");
                break;
            }
        }
    }
}

/// Error policy: log, requeue by error class.
pub fn error_policy(_: Arc<WorkatoConnection>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(error = %err, "WorkatoConnection reconcile failed");
    Action::requeue(err.requeue_after())
}
