//! The recipes step of the WorkatoConnection reconciler: the inventory of dependent recipes,
//! their recent jobs (TrackVia authentication failures), their health, and the restart of those
//! Workato stopped at the task limit.

use kube::ResourceExt;

use super::{Ctx, Workspace, observe, plan};
use crate::api::workato_connection::{WorkatoConnection, WorkatoConnectionStatus};
use crate::conditions::Cond;
use crate::domain::connection::provider;
use crate::domain::jobs::FailureKind;
use crate::domain::recipes::dependent;
use crate::metrics::JobFailureLabels;
use crate::reconcile::{Error, event};
use crate::workato::{Recipe, WorkatoApi};

/// The inventory of dependent recipes and their health; restarts those Workato stopped at the
/// task limit when the spec opts in.
pub(super) async fn recipes(
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
        .recipes(&ws.api, &ws.uid, &adapter, ws.every, ws.fresh)
        .await?;
    let mine = dependent(wc, connection_id, &all);
    let held = observe::held_by_rotations(wc, ctx).await?;
    let every = if ws.fresh {
        std::time::Duration::ZERO
    } else {
        ws.every
    };
    plan::record_inventory(status, &mine, &held, ctx.clock.now_time(), every);
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
    let due = ws.fresh || plan::jobs_due(status, &now, ctx.settings.recipe_jobs_interval);
    let to_read = if due {
        plan::jobs_to_read(mine, &status.recipe_jobs)
    } else {
        Vec::new()
    };
    let mut reads = Vec::new();
    let (mut auth, mut other) = (0, 0);
    if !to_read.is_empty() {
        let secrets = refs.secrets();
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
    Ok(())
}

/// Drops the per-object series of a WorkatoConnection that is gone.
pub(super) fn forget_metrics(ctx: &Ctx, wc: &WorkatoConnection) {
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
