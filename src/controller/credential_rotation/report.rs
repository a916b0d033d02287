//! What a rotation shows: conditions (computed from its status, so they cannot disagree with it)
//! and its metrics.

use super::Ctx;

use super::machine::Facts;
use crate::api::credential_rotation::{
    ConnectionState, CredentialRotationStatus, RecipeState, RotationOutcome, RotationPhase,
};
use crate::conditions::{Cond, Reason, reasons};
use crate::domain::rotation::{Revocation, revocation};
use crate::metrics::RotationLabels;

/// The conditions of a rotation, `Ready` last.
pub fn conditions(s: &CredentialRotationStatus, f: &Facts) -> Vec<Cond> {
    let phase = s.phase.unwrap_or(RotationPhase::Pending);
    let summary = s.plan_summary.clone().unwrap_or_default();
    let mut conds = Vec::new();
    let finished = phase.is_terminal();
    conds.push(if finished {
        let reason = s.outcome.and_then(|o| reasons::Rotating::parse(o.as_str()));
        Cond::false_(reason.unwrap_or(reasons::Rotating::Finished), "finished")
    } else {
        let reason = reasons::Rotating::parse(phase.as_str()).unwrap_or(reasons::Rotating::Pending);
        Cond::true_(reason, progress(s))
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
            Cond::true_(reasons::RecipesRestarted::Running,
                "no recipe the rotation stopped is left stopped",
            )
        } else if left_stopped {
            Cond::false_(reasons::RecipesRestarted::RecipesLeftStopped,
                format!(
                    "recipes {} were stopped by this rotation and are not running: start them in Workato once their connection works (or exclude them in their WorkatoConnection), or run a new rotation, which restarts them",
                    held.join(", ")
                ),
            )
        } else {
            Cond::unknown(reasons::RecipesRestarted::RecipesStopped,
                format!(
                    "recipes {} are stopped until the rotation restarts them",
                    held.join(", ")
                ),
            )
        });
    }

    if let Some(r) = revocation(s, f.now) {
        conds.push(match r {
            Revocation::Revoked => Cond::true_(reasons::OldTokenRevoked::Revoked,
                format!(
                    "TrackVia rejects the old token since {}",
                    s.old_token_revoked_time.as_ref().map(|t| t.0.to_string()).unwrap_or_default()
                ),
            ),
            Revocation::Unknown { fingerprint } => Cond::unknown(reasons::OldTokenRevoked::OldTokenUnknown,
                format!("the old token {fingerprint} was not kept, so its revocation cannot be confirmed: make sure it is deactivated in TrackVia"),
            ),
            Revocation::Overdue { fingerprint, deadline } => Cond::false_(reasons::OldTokenRevoked::RevocationOverdue,
                format!(
                    "the old token {fingerprint} still works past its revocation deadline {deadline}: deactivate it in TrackVia (API Access)"
                ),
            ),
            Revocation::Awaiting { fingerprint, deadline } => Cond::false_(reasons::OldTokenRevoked::AwaitingRevocation,
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
        Cond::false_(
            reasons::Ready::DeletionBlocked,
            format!(
                "deletion waits: Workato refused to start {}; start them in Workato (or exclude them in their WorkatoConnection's spec.recipes.exclude), or remove the finalizer {} to leave them stopped",
                refused.join(", "),
                super::FINALIZER
            ),
        )
    } else if f.deleting && !held.is_empty() {
        Cond::unknown(
            reasons::Ready::Deleting,
            format!("restarting {} before the rotation goes", held.join(", ")),
        )
    } else if finished {
        match s.outcome {
            Some(o) if o.is_success() => Cond::true_(
                outcome_reason(o),
                if summary.is_empty() {
                    "rotation succeeded".into()
                } else {
                    summary
                },
            ),
            Some(o) => Cond::false_(outcome_reason(o), summary),
            None => Cond::false_(reasons::Ready::Finished, summary),
        }
    } else if phase == RotationPhase::AwaitingApproval {
        Cond::unknown(reasons::Ready::AwaitingApproval, summary)
    } else if s.token_lost_time.is_some() {
        Cond::false_(reasons::Ready::TokenLost, summary)
    } else {
        Cond::unknown(reasons::Ready::Rotating, format!("{phase}: {}", progress(s)))
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

/// The value of `trackvia_operator_recipes_left_stopped` for a rotation: the recipes it holds
/// stopped once it can no longer restart them by itself.
pub fn recipes_left_stopped(s: &CredentialRotationStatus) -> usize {
    if left_stopped(s) {
        s.recipes.iter().filter(|r| r.state.is_held()).count()
    } else {
        0
    }
}

/// Counts a finished rotation and its duration.
pub fn finished(ctx: &Ctx, s: &CredentialRotationStatus) {
    let outcome = s.outcome.unwrap_or(RotationOutcome::Aborted);
    let labels = RotationLabels {
        outcome: outcome.as_str().to_owned(),
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

/// The `Ready` reason of a finished rotation: its outcome.
fn outcome_reason(o: RotationOutcome) -> reasons::Ready {
    reasons::Ready::parse(o.as_str()).unwrap_or(reasons::Ready::Finished)
}
