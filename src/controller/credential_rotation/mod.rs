//! CredentialRotation: one staged rotation run, as an explicit state machine.
//!
//! observe (Kubernetes reads, each failure kept as a failure) -> decide (pure, [`machine`]) ->
//! record the decided status (intent) -> run at most one effect ([`effects`]) -> absorb its
//! outcome (pure) -> record -> report (conditions, events, the outcome counters; the per-rotation gauges are read from
//! the cache at each scrape, see `controller::state_metrics`). The machine and its
//! invariants are in `docs/reliability.md`; `machine.rs` has the transition table.

pub mod effects;
pub mod machine;
pub mod observe;
mod report;

pub use report::recipes_left_stopped;

use crate::domain::caches::Caches;
use crate::domain::recipes::Listings;
use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};

use self::effects::Target;
use self::machine::{Effect, Facts, Note, Outcome};
use crate::api::IntegrationAccount;
use crate::api::credential_rotation::{CredentialRotation, CredentialRotationStatus};
use crate::reconcile::{Error, Scoped, apply_status, event};

/// Finalizer on every CredentialRotation the operator works on: deleting a rotation (or its
/// IntegrationAccount) first puts back what it changed and restarts what it stopped (I4).
pub const FINALIZER: &str = "integrations.trackvia-operator.dev/rotation";

/// What the CredentialRotation reconciler works with.
pub type Ctx = Scoped<Own>;

/// What the CredentialRotation reconciler alone reads.
pub struct Own {
    /// The other controllers' caches.
    pub caches: Caches,
    /// The connection and recipe listings of each workspace.
    pub listings: Arc<Listings>,
}

/// Reconciles one CredentialRotation.
pub async fn reconcile(rot: Arc<CredentialRotation>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    crate::reconcile::measured(&ctx, "CredentialRotation", reconcile_inner(&rot, &ctx)).await
}

async fn reconcile_inner(cached: &CredentialRotation, ctx: &Ctx) -> Result<Action, Error> {
    // The cache may lag behind the status this controller wrote a moment ago; a rotation must
    // act on its latest record, or it would repeat a step it already took.
    let Some(rot) = crate::reconcile::latest(ctx, cached).await? else {
        return Ok(Action::await_change());
    };
    // Read from the API server anyway: the registry of our unseen writes is not needed here.
    ctx.written.forget(rot.meta().uid.as_deref());
    let recorded = rot.status.clone().unwrap_or_default();
    if machine::settled(&recorded, rot.meta().deletion_timestamp.is_some()) {
        return Ok(Action::await_change());
    }
    let ns = rot.namespace().ok_or(Error::Malformed("namespace"))?;
    let ia = Api::<IntegrationAccount>::namespaced(ctx.client.clone(), &ns)
        .get_opt(&rot.spec.integration_account_ref.name)
        .await
        .map_err(Error::kube("reading the IntegrationAccount"))?;
    let facts = observe::observe(ctx, &rot, ia.as_ref()).await?;
    let mut step = machine::decide(&recorded, &facts);
    // A recheck asked for is honoured by this decision (its checks were due in it): recorded once.
    step.status.common.recheck_handled = crate::reconcile::recheck::handled(
        crate::reconcile::recheck::pending(&rot, Some(&recorded.common)),
        Some(&recorded.common),
    );
    let mut current = recorded.clone();
    if step.status != current {
        save(ctx, &rot, &recorded, &step.status, &facts).await?;
        current = step.status.clone();
    }
    announce(ctx, &rot, &step.notes).await;
    let Some(effect) = step.effect else {
        return Ok(match (step.wait, current != recorded) {
            (Some(d), _) => Action::requeue(d.max(Duration::from_millis(200))),
            (None, true) => Action::requeue(Duration::ZERO),
            (None, false) => Action::await_change(),
        });
    };
    let target = Target {
        ctx,
        rot: &rot,
        status: &current,
        ia: ia.as_ref(),
    };
    let outcome = effects::run(&target, &effect).await;
    tracing::debug!(rotation = %rot.name_any(), ?effect, outcome = describe(&outcome), "effect ran");
    if effect == Effect::RemoveFinalizer && outcome == Outcome::Done {
        return Ok(Action::await_change());
    }
    let (next, notes) = machine::absorb(&current, &facts, &effect, outcome);
    if next != current {
        save(ctx, &rot, &current, &next, &facts).await?;
    }
    announce(ctx, &rot, &notes).await;
    let backoff = next
        .backoff
        .as_ref()
        .map(|b| b.not_before.0.duration_since(ctx.clock.now()))
        .and_then(|d| Duration::try_from(d).ok());
    Ok(Action::requeue(backoff.unwrap_or(Duration::ZERO)))
}

/// A log line's view of an outcome (messages are scrubbed; no values).
fn describe(o: &Outcome) -> String {
    match o {
        Outcome::Failed { message, .. } => format!("failed: {message}"),
        Outcome::Refused(why) => format!("refused: {why}"),
        Outcome::Kept(Err(why)) => format!("not kept: {why}"),
        other => format!("{:?}", std::mem::discriminant(other)).replace("Discriminant", "outcome"),
    }
}

/// Writes `next` (conditions computed from it) after setting its gauges, counting a finish once.
async fn save(
    ctx: &Ctx,
    rot: &CredentialRotation,
    before: &CredentialRotationStatus,
    next: &CredentialRotationStatus,
    facts: &Facts,
) -> Result<(), Error> {
    let mut status = next.clone();
    let conds = report::conditions(&status, facts);
    status.common.conditions = crate::conditions::merge(
        &before.common.conditions,
        &conds,
        rot.meta().generation,
        &ctx.clock.now_time(),
    );
    status.common.observed_generation = rot.meta().generation;
    apply_status(ctx, rot, &status).await?;
    let finished_now =
        !before.phase.is_some_and(|p| p.is_terminal()) && status.phase.is_some_and(|p| p.is_terminal());
    if finished_now {
        report::finished(ctx, &status);
    }
    Ok(())
}

async fn announce(ctx: &Ctx, rot: &CredentialRotation, notes: &[Note]) {
    for n in notes {
        event(ctx, rot, n.warning, n.reason, n.message.clone()).await;
    }
}

/// Error policy: log, requeue by error class.
pub fn error_policy(_: Arc<CredentialRotation>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(error = %err, "CredentialRotation reconcile failed");
    Action::requeue(err.requeue_after())
}
