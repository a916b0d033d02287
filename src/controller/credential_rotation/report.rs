//! What a rotation shows: conditions (computed from its status, so they cannot disagree with it)
//! and its metrics.

use kube::ResourceExt;

use super::machine::{Facts, Revocation, outcome_reason, revocation};
use crate::api::credential_rotation::{
    ConnectionState, CredentialRotation, CredentialRotationStatus, RecipeState, RotationOutcome,
    RotationPhase,
};
use crate::conditions::{Cond, types};
use crate::controller::Context;
use crate::metrics::{ObjectLabels, RotationLabels};

/// Condition type: every recipe the rotation stopped runs again.
pub const RECIPES_RESTARTED: &str = "RecipesRestarted";

/// The conditions of a rotation, `Ready` last.
pub fn conditions(s: &CredentialRotationStatus, f: &Facts) -> Vec<Cond> {
    let phase = s.phase.unwrap_or(RotationPhase::Pending);
    let summary = s.plan_summary.clone().unwrap_or_default();
    let mut conds = Vec::new();
    let finished = phase.is_terminal();
    conds.push(if finished {
        Cond::fail(
            types::ROTATING,
            s.outcome.map_or("Finished", outcome_reason),
            "finished",
        )
    } else {
        Cond::ok(types::ROTATING, phase.to_string(), progress(s))
    });

    let held: Vec<String> = s
        .recipes
        .iter()
        .filter(|r| r.state.is_held())
        .map(|r| format!("{} ({})", r.name.as_deref().unwrap_or("?"), r.id))
        .collect();
    let left_stopped = left_stopped(s);
    if !s.recipes.is_empty() && !f.policy.dry_run {
        conds.push(if held.is_empty() {
            Cond::ok(
                RECIPES_RESTARTED,
                "Running",
                "no recipe the rotation stopped is left stopped",
            )
        } else if left_stopped {
            Cond::fail(
                RECIPES_RESTARTED,
                "RecipesLeftStopped",
                format!(
                    "recipes {} were stopped by this rotation and are not running: start them in Workato once their connection works (or exclude them in their WorkatoConnection), or run a new rotation, which restarts them",
                    held.join(", ")
                ),
            )
        } else {
            Cond::unknown(
                RECIPES_RESTARTED,
                "RecipesStopped",
                format!(
                    "recipes {} are stopped until the rotation restarts them",
                    held.join(", ")
                ),
            )
        });
    }

    if let Some(r) = revocation(s, f.now) {
        let t = types::OLD_TOKEN_REVOKED;
        conds.push(match r {
            Revocation::Revoked => Cond::ok(
                t,
                "Revoked",
                format!(
                    "TrackVia rejects the old token since {}",
                    s.old_token_revoked_time.as_ref().map(|t| t.0.to_string()).unwrap_or_default()
                ),
            ),
            Revocation::Unknown { fingerprint } => Cond::unknown(
                t,
                "OldTokenUnknown",
                format!("the old token {fingerprint} was not kept, so its revocation cannot be confirmed: make sure it is deactivated in TrackVia"),
            ),
            Revocation::Overdue { fingerprint, deadline } => Cond::fail(
                t,
                "RevocationOverdue",
                format!(
                    "the old token {fingerprint} still works past its revocation deadline {deadline}: deactivate it in TrackVia (API Access)"
                ),
            ),
            Revocation::Awaiting { fingerprint, deadline } => Cond::fail(
                t,
                "AwaitingRevocation",
                format!("deactivate the old token {fingerprint} in TrackVia (API Access) by {deadline}"),
            ),
        });
    }

    let refused: Vec<String> = s
        .recipes
        .iter()
        .filter(|r| r.state == RecipeState::StartFailed)
        .map(|r| format!("{} ({})", r.name.as_deref().unwrap_or("?"), r.id))
        .collect();
    let ready = if f.deleting && !refused.is_empty() && finished {
        Cond::fail(
            types::READY,
            "DeletionBlocked",
            format!(
                "deletion waits: Workato refused to start {}; start them in Workato (or exclude them in their WorkatoConnection's spec.recipes.exclude), or remove the finalizer {} to leave them stopped",
                refused.join(", "),
                super::FINALIZER
            ),
        )
    } else if f.deleting && !held.is_empty() {
        Cond::unknown(
            types::READY,
            "Deleting",
            format!("restarting {} before the rotation goes", held.join(", ")),
        )
    } else if finished {
        match s.outcome {
            Some(o) if o.is_success() => Cond::ok(
                types::READY,
                outcome_reason(o),
                if summary.is_empty() {
                    "rotation succeeded".into()
                } else {
                    summary
                },
            ),
            Some(o) => Cond::fail(types::READY, outcome_reason(o), summary),
            None => Cond::fail(types::READY, "Finished", summary),
        }
    } else if phase == RotationPhase::AwaitingApproval {
        Cond::unknown(types::READY, "AwaitingApproval", summary)
    } else if s.token_lost_time.is_some() {
        Cond::fail(types::READY, "TokenLost", summary)
    } else {
        Cond::unknown(types::READY, "Rotating", format!("{phase}: {}", progress(s)))
    };
    conds.push(ready);
    conds
}

/// Whether the recipes the rotation holds stopped wait for a person: it finished, or lost the
/// token.
fn left_stopped(s: &CredentialRotationStatus) -> bool {
    s.phase.is_some_and(RotationPhase::is_terminal) || s.token_lost_time.is_some()
}

/// One line of progress for people: where each connection and recipe is.
pub fn progress(s: &CredentialRotationStatus) -> String {
    let switched = s
        .connections
        .iter()
        .filter(|c| c.state == ConnectionState::Verified)
        .count();
    let stopped = s.recipes.iter().filter(|r| r.state.is_held()).count();
    let started = s
        .recipes
        .iter()
        .filter(|r| r.state == RecipeState::Started)
        .count();
    let mut out = format!("{switched}/{} connections switched", s.connections.len());
    if !s.recipes.is_empty() {
        out.push_str(&format!(
            ", {stopped} of {} recipes stopped, {started} restarted",
            s.recipes.len()
        ));
    }
    if let Some(p) = &s.plan_summary {
        out.push_str(&format!("; {p}"));
    }
    out
}

fn labels(rot: &CredentialRotation) -> ObjectLabels {
    ObjectLabels {
        namespace: rot.namespace().unwrap_or_default(),
        name: rot.name_any(),
    }
}

/// The value of `trackvia_operator_recipes_left_stopped` for a rotation: the recipes it holds
/// stopped once it can no longer restart them by itself.
pub fn recipes_left_stopped(s: &CredentialRotationStatus) -> usize {
    if left_stopped(s) {
        s.recipes.iter().filter(|r| r.state.is_held()).count()
    } else {
        0
    }
}

/// The rotation's gauges.
pub fn metrics(ctx: &Context, rot: &CredentialRotation, s: &CredentialRotationStatus) {
    let left = recipes_left_stopped(s);
    let l = labels(rot);
    ctx.metrics
        .recipes_left_stopped
        .get_or_create(&l)
        .set(i64::try_from(left).unwrap_or(i64::MAX));
    ctx.metrics
        .rotation_awaiting_approval
        .get_or_create(&l)
        .set(i64::from(s.phase == Some(RotationPhase::AwaitingApproval)));
}

/// Drops the gauges of a rotation that is gone.
pub fn forget(ctx: &Context, rot: &CredentialRotation) {
    let l = labels(rot);
    ctx.metrics.recipes_left_stopped.remove(&l);
    ctx.metrics.rotation_awaiting_approval.remove(&l);
}

/// Counts a finished rotation and its duration.
pub fn finished(ctx: &Context, s: &CredentialRotationStatus) {
    let outcome = s.outcome.unwrap_or(RotationOutcome::Aborted);
    let labels = RotationLabels {
        outcome: outcome_reason(outcome).to_owned(),
    };
    ctx.metrics.rotations.get_or_create(&labels).inc();
    if let (Some(start), Some(end)) = (&s.started_time, &s.finished_time) {
        let secs = end.0.duration_since(start.0).as_secs_f64();
        ctx.metrics
            .rotation_duration
            .get_or_create(&labels)
            .observe(secs.max(0.0));
    }
}
