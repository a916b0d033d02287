//! WorkatoConnection: refuse crossed environments before any Workato call, adopt or create the
//! connection (intent recorded first), push the published credentials once and read Workato's
//! test, keep the inventory of dependent recipes and their health. Later credential changes go
//! through a CredentialRotation, never as a bare update under running recipes.

mod credentials;
mod fit;
mod observe;
mod plan;
mod recipes;

pub use plan::{auth_failing, stopped_by_workato};

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
use crate::domain::caches::{Caches, Source};
use crate::domain::connection::provider;
use crate::domain::recipes::Listings;
use crate::reconcile::timers::Timers;
use crate::reconcile::{Error, Scoped, announce, apply_status, event, interval};
use crate::secret::Sensitive;
use crate::workato::{Connection, HttpWorkato, NewConnection, WorkatoApi};

/// What the WorkatoConnection reconciler works with.
pub type Ctx = Scoped<Own>;

/// What the WorkatoConnection reconciler alone reads.
pub struct Own {
    /// The other controllers' caches.
    pub caches: Caches,
    /// The connection and recipe listings of each workspace.
    pub listings: Arc<Listings>,
    /// When each WorkatoConnection's periodic checks are next due.
    pub timers: Arc<Timers>,
}

/// Reconciles one WorkatoConnection.
pub async fn reconcile(cached: Arc<WorkatoConnection>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    crate::reconcile::measured(&ctx, "WorkatoConnection", async {
        match crate::reconcile::current(&ctx, &*cached, ctx.own.caches.connections.as_ref()).await? {
            Some(wc) => reconcile_inner(&wc, &ctx).await,
            None => {
                recipes::forget_metrics(&ctx, &cached);
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
    let mut pushed = None;
    let outcome = observe_and_act(wc, ctx, &mut status, &mut conds, &mut pushed).await;
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
        // Honoured by `observe_and_act` (its listings were read fresh) unless it failed.
        recheck_handled: crate::reconcile::recheck::handled(
            outcome
                .is_ok()
                .then(|| crate::reconcile::recheck::pending(wc, Some(&before.common)))
                .flatten(),
            Some(&before.common),
        ),
    };
    // A first push is what makes the connection Ready: the `Ready` Event says so, one Event for
    // one change. A push that leaves it unready (Workato's test failed), or one to a connection
    // that was Ready already (a new token), has its own, published before the status is written
    // (a failed write must not lose it: the push is not made again).
    let ready_now = conditions::turned_ready(&before.common.conditions, &status.common.conditions);
    if let Some(p) = pushed.filter(|_| !ready_now) {
        event(ctx, wc, p.warning, "CredentialsPushed", p.note).await;
    }
    let mut settled = true;
    if status != before {
        settled = apply_status(ctx, wc, &status).await?;
        announce(
            ctx,
            "WorkatoConnection",
            wc,
            &before.common.conditions,
            &status.common.conditions,
        )
        .await;
    }
    let requeue = if settled {
        requeue
    } else {
        requeue.min(crate::reconcile::SETTLE)
    };
    outcome.map(|_| ctx.own.timers.requeue(wc, requeue))
}

/// Observes, takes at most one step, and fills `status` and `conds` (and `pushed`, when it pushed
/// credentials, even if a later step fails). Returns when to look again.
async fn observe_and_act(
    wc: &WorkatoConnection,
    ctx: &Ctx,
    status: &mut WorkatoConnectionStatus,
    conds: &mut Vec<Cond>,
    pushed: &mut Option<credentials::Pushed>,
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
    let recheck = crate::reconcile::recheck::pending(wc, Some(&status.common)).is_some();
    let Some(ws) = workspace(ctx, &refs.workspace, recheck, conds).await? else {
        return Ok(plan::AFTER_UNRESOLVED);
    };
    let Some(connection) = connection(wc, ctx, &ws, status, conds).await? else {
        return Ok(plan::AFTER_UNRESOLVED);
    };
    let id = connection.id;
    match credentials::connector(wc, ctx, &ws, status, conds).await? {
        Some(auth) => {
            let usable = credentials::Usable { connection, auth };
            *pushed = credentials::credentials(wc, ctx, &refs, &ws, usable, status, conds).await?;
        }
        None => {
            // The connector cannot take the credentials: nothing is pushed or taken over.
            plan::record_connection(status, &connection, &refs.secrets());
            conds.push(plan::verified(&connection, status));
        }
    }
    recipes::recipes(wc, ctx, &refs, &ws, id, status, conds).await?;
    Ok(ws.every)
}

/// The workspace's client, uid and check interval.
struct Workspace {
    api: Arc<HttpWorkato>,
    uid: String,
    every: Duration,
    /// A person asked for a recheck: Workato's listings are read now, not from the shared cache.
    fresh: bool,
}

/// The workspace's client, when the workspace is Ready and its token readable.
async fn workspace(
    ctx: &Ctx,
    ws: &WorkatoWorkspace,
    fresh: bool,
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
    match workspace_client(ctx, ws, Source::Cache).await? {
        Ok(WorkspaceClient { api, .. }) => Ok(Some(Workspace {
            api,
            uid: ws.uid().unwrap_or_default(),
            every: interval(
                ws.spec.check_interval.as_deref(),
                ctx.settings.workspace_check_interval,
            ),
            fresh,
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
        .connections(&ws.api, &ws.uid, ws.every, pending || ws.fresh)
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

/// Error policy: log, requeue by error class.
pub fn error_policy(_: Arc<WorkatoConnection>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(error = %err, "WorkatoConnection reconcile failed");
    Action::requeue(err.requeue_after())
}
