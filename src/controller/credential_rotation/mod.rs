//! CredentialRotation: one staged rotation run. Every step, and every connection and recipe it
//! touches, is written to status before the call, and every call is idempotent, so a restarted
//! operator resumes where it was and never stops or starts a recipe twice.
//!
//! `Overlap` (both tokens valid): Validating -> Switching (each connection, paced; any failed test
//! -> RollingBack to the old token -> Failed/RolledBack) -> Publishing -> AwaitingRevocation (probe
//! the old token until TrackVia rejects it) -> Succeeded.
//! `StopAndRestart` (regenerate in place): Stopping (only recipes that were running) ->
//! WaitingForToken -> Validating -> Switching -> Publishing -> Restarting (exactly the recipes
//! stopped) -> Succeeded. No new token before the timeout: Aborting (restart) -> Aborted, if the
//! old token still works; otherwise keep the recipes listed and alert.

pub mod phase;
mod steps;

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};

use self::phase::{is_terminal, *};
use super::{Context, Error, apply_status, event};
use crate::api::IntegrationAccount;
use crate::api::credential_rotation::{CredentialRotation, CredentialRotationStatus};
use crate::conditions::{self, Cond, types};

/// Reconciles one CredentialRotation.
pub async fn reconcile(rot: Arc<CredentialRotation>, ctx: Arc<Context>) -> Result<Action, Error> {
    super::measured(&ctx, "CredentialRotation", reconcile_inner(&rot, &ctx)).await
}

async fn reconcile_inner(rot: &CredentialRotation, ctx: &Context) -> Result<Action, Error> {
    // The cache may lag behind the status this controller wrote a moment ago; a rotation must
    // act on its latest record, or it would repeat a step it already took.
    let ns = rot.namespace().ok_or(Error::Malformed("namespace"))?;
    let Some(latest) = Api::<CredentialRotation>::namespaced(ctx.client.clone(), &ns)
        .get_opt(&rot.name_any())
        .await
        .map_err(Error::kube("reading the CredentialRotation"))?
    else {
        return Ok(Action::await_change());
    };
    let rot = &latest;
    let status = rot.status.clone().unwrap_or_default();
    if status.phase.as_deref().is_some_and(is_terminal) {
        return Ok(Action::await_change());
    }
    let mut run = Run { ctx, rot, status };
    if run.status.phase.is_none() {
        run.status.started_time = Some(ctx.clock.now_time());
        run.enter(PENDING, "rotation accepted").await?;
        return Ok(Action::requeue(Duration::ZERO));
    }
    let ia_name = &rot.spec.integration_account_ref.name;
    let Some(ia) = Api::<IntegrationAccount>::namespaced(ctx.client.clone(), &ns)
        .get_opt(ia_name)
        .await
        .map_err(Error::kube("reading the IntegrationAccount"))?
    else {
        run.finish(
            "IntegrationAccountNotFound",
            false,
            format!("IntegrationAccount {ia_name} not found in this namespace"),
        )
        .await?;
        return Ok(Action::await_change());
    };
    let wait = steps::step(&mut run, &ia).await?;
    Ok(Action::requeue(wait))
}

/// One reconcile of one rotation: the status being built and how to persist it.
pub struct Run<'a> {
    /// Shared context.
    pub ctx: &'a Context,
    /// The rotation.
    pub rot: &'a CredentialRotation,
    /// Its status, persisted by [`Run::save`].
    pub status: CredentialRotationStatus,
}

impl Run<'_> {
    /// The current phase.
    pub fn phase(&self) -> &str {
        self.status.phase.as_deref().unwrap_or(PENDING)
    }

    /// Writes the status now (before the next side effect).
    pub async fn save(&mut self) -> Result<(), Error> {
        let conds = self.conditions();
        let generation = self.rot.meta().generation;
        let previous = self
            .rot
            .status
            .as_ref()
            .map(|s| s.common.conditions.clone())
            .unwrap_or_default();
        let current = if self.status.common.conditions.is_empty() {
            previous
        } else {
            self.status.common.conditions.clone()
        };
        self.status.common.conditions =
            conditions::merge(&current, &conds, generation, &self.ctx.clock.now_time());
        self.status.common.observed_generation = generation;
        apply_status(self.ctx, self.rot, &self.status).await
    }

    /// Moves to `phase`, persists, and announces it.
    pub async fn enter(&mut self, phase: &str, note: impl Into<String>) -> Result<(), Error> {
        let note = note.into();
        self.status.phase = Some(phase.to_owned());
        self.status.phase_time = Some(self.ctx.clock.now_time());
        self.save().await?;
        event(self.ctx, self.rot, false, phase, note).await;
        Ok(())
    }

    /// Ends the rotation with `outcome`.
    pub async fn finish(
        &mut self,
        outcome: &str,
        success: bool,
        note: impl Into<String>,
    ) -> Result<(), Error> {
        let note = note.into();
        let phase = if success {
            SUCCEEDED
        } else if outcome == ABORTED {
            ABORTED
        } else {
            FAILED
        };
        self.status.outcome = Some(outcome.to_owned());
        self.status.finished_time = Some(self.ctx.clock.now_time());
        self.status.phase = Some(phase.to_owned());
        self.status.phase_time = Some(self.ctx.clock.now_time());
        self.status.plan_summary = Some(note.clone());
        self.save().await?;
        event(self.ctx, self.rot, !success, outcome, note).await;
        let labels = crate::metrics::RotationLabels {
            outcome: outcome.to_owned(),
        };
        self.ctx.metrics.rotations.get_or_create(&labels).inc();
        if let (Some(start), Some(end)) = (&self.status.started_time, &self.status.finished_time) {
            let secs = end.0.duration_since(start.0).as_secs_f64();
            self.ctx
                .metrics
                .rotation_duration
                .get_or_create(&labels)
                .observe(secs.max(0.0));
        }
        Ok(())
    }

    /// `Rotating`, `OldTokenRevoked` and `Ready` from the phase and outcome.
    fn conditions(&self) -> Vec<Cond> {
        let phase = self.phase().to_owned();
        let summary = self.status.plan_summary.clone().unwrap_or_default();
        let mut conds = Vec::new();
        let (rotating, ready) = match (phase.as_str(), self.status.outcome.as_deref()) {
            (SUCCEEDED, Some(o)) => (
                Cond::fail(types::ROTATING, o.to_owned(), "finished"),
                Cond::ok(
                    types::READY,
                    o.to_owned(),
                    if summary.is_empty() {
                        "rotation succeeded".into()
                    } else {
                        summary
                    },
                ),
            ),
            (FAILED | ABORTED, Some(o)) => (
                Cond::fail(types::ROTATING, o.to_owned(), "finished"),
                Cond::fail(types::READY, o.to_owned(), summary),
            ),
            (p, _) => {
                let detail = progress(&self.status);
                (
                    Cond::ok(types::ROTATING, p.to_owned(), detail.clone()),
                    Cond::unknown(types::READY, "Rotating", format!("{p}: {detail}")),
                )
            }
        };
        conds.push(rotating);
        if self.status.old_token_secret.is_some() || self.status.old_token_revoked_time.is_some() {
            conds.push(match &self.status.old_token_revoked_time {
                Some(t) => Cond::ok(
                    types::OLD_TOKEN_REVOKED,
                    "Revoked",
                    format!("TrackVia rejects the old token since {}", t.0),
                ),
                None => Cond::fail(
                    types::OLD_TOKEN_REVOKED,
                    "AwaitingRevocation",
                    format!(
                        "deactivate the old token {} in TrackVia (API Access) by {}",
                        self.status.old_token_fingerprint.as_deref().unwrap_or("?"),
                        self.status
                            .revocation_deadline
                            .as_ref()
                            .map(|d| d.0.to_string())
                            .unwrap_or_default()
                    ),
                ),
            });
        }
        conds.push(ready);
        conds
    }
}

/// One line of progress for people: where each connection and recipe is.
fn progress(s: &CredentialRotationStatus) -> String {
    let count = |states: &[&str], items: &mut dyn Iterator<Item = &str>| {
        items.filter(|st| states.contains(st)).count()
    };
    let conns = s.connections.len();
    let switched = count(
        &[CONN_VERIFIED],
        &mut s.connections.iter().map(|c| c.state.as_str()),
    );
    let recipes = s.recipes.len();
    let stopped = count(
        &[RECIPE_STOPPED, RECIPE_STARTING],
        &mut s.recipes.iter().map(|r| r.state.as_str()),
    );
    let started = count(&[RECIPE_STARTED], &mut s.recipes.iter().map(|r| r.state.as_str()));
    let mut out = format!("{switched}/{conns} connections switched");
    if recipes > 0 {
        out.push_str(&format!(
            ", {stopped} of {recipes} recipes stopped, {started} restarted"
        ));
    }
    if let Some(p) = &s.plan_summary {
        out.push_str(&format!("; {p}"));
    }
    out
}

/// Error policy: log, requeue by error class.
pub fn error_policy(_: Arc<CredentialRotation>, err: &Error, _: Arc<Context>) -> Action {
    tracing::warn!(error = %err, "CredentialRotation reconcile failed");
    Action::requeue(err.requeue_after())
}
