//! The rotation as a state machine, with no I/O: [`decide`] takes the status and the facts just
//! observed and returns the next status and at most one effect; [`absorb`] takes the result of
//! that effect and returns the status after it. The executor (`effects.rs`) records the status
//! `decide` returns before it runs the effect (intent first), so a restarted operator finds every
//! call it may have made in status and resolves it (a recipe in `Stopping` is read before it is
//! stopped again) instead of repeating or forgetting it.
//!
//! The transitions, in the order `decide` checks them:
//!
//! | phase | facts | next | effect |
//! |---|---|---|---|
//! | (none) | | Pending | |
//! | any unfinished | no finalizer, not deleted | same | AddFinalizer |
//! | any unfinished | `backoff.notBefore` ahead | same (wait) | |
//! | any unfinished | a read failed (token, published Secret, connections) | same (wait) | |
//! | before any change | rotation or account deleted | Aborted `Cancelled` | |
//! | after a change, before publishing | rotation or account deleted | close `Cancelled` | |
//! | before any change | account missing | Failed `IntegrationAccountNotFound` | |
//! | Pending, Queued | an earlier rotation unfinished | Queued | |
//! | Pending | nothing published | Failed `NotSetUp` | |
//! | Pending | no strategy (spec, account) | Pending | ProbePublished (accepted: Overlap, rejected: StopAndRestart) |
//! | Pending | StopAndRestart or dry run, recipes not listed | Pending | ListRecipes |
//! | Pending | dry run | Succeeded/Failed `DryRun*` | Validate |
//! | Pending | scheduled StopAndRestart, not approved | AwaitingApproval | |
//! | Pending | StopAndRestart / takeOver | Stopping | |
//! | Pending | Overlap, new token | Validating | |
//! | Pending | Overlap, no new token | WaitingForToken | |
//! | AwaitingApproval | approved | Stopping | |
//! | AwaitingApproval | deadline passed | Aborted `ApprovalExpired` | |
//! | Stopping | a stop in flight | Stopping | ReadRecipe |
//! | Stopping | a recipe to stop | Stopping | StopRecipe (recipe `Stopping` first) |
//! | Stopping | Workato refuses a stop | close `RecipeStopFailed` | |
//! | Stopping | all stopped | Switching (takeOver) / Validating / WaitingForToken | |
//! | WaitingForToken | a new token | Validating | |
//! | WaitingForToken | timeout, Overlap | close `Aborted` | |
//! | WaitingForToken | timeout, StopAndRestart | close `Aborted` if TrackVia accepts the old token, else wait (`TokenLost` alert) | ProbePublished |
//! | Validating | token gone / rejected again | WaitingForToken | |
//! | Validating | the published token is back | close `Aborted` | |
//! | Validating | | Switching, or close `NewTokenInvalid` (Overlap) / WaitingForToken | Validate |
//! | Switching | token changed | Validating | |
//! | Switching | Overlap, old token not confirmed since validation | Switching | ProbePublished (rejected: back to Pending as StopAndRestart) |
//! | Switching | a connection not on the new token | Switching | Push new (connection `Updating` first) |
//! | Switching | a test failed or a push refused | close `RolledBack` (`ConnectionTestFailed` for takeOver) | |
//! | Switching | every connection verified | Publishing (Restarting for takeOver) | |
//! | Publishing | token changed | Validating | |
//! | Publishing | Overlap, old token not kept | Publishing | KeepOldToken |
//! | Publishing | | Restarting / AwaitingRevocation / Succeeded | Publish |
//! | Restarting | a start in flight | Restarting | ReadRecipe |
//! | Restarting | a recipe stopped | Restarting | StartRecipe (recipe `Starting` first) |
//! | Restarting | all restarted | AwaitingRevocation / Succeeded / Failed `RecipeStartFailed` | |
//! | AwaitingRevocation | probe due | AwaitingRevocation | ProbeOldToken |
//! | AwaitingRevocation | revoked | Succeeded | DeleteOldTokenSecret |
//! | AwaitingRevocation | grace period over | Succeeded (`OldTokenRevoked=False` warning) | |
//! | closing | a connection not on the published token | RollingBack | Push published |
//! | closing | recipes stopped, connection known to work | Aborting | StartRecipe |
//! | closing | recipes stopped, untested connection | same | ProbePublished |
//! | closing | nothing left | Failed/Aborted with the outcome (`RollbackFailed` if any rollback failed) | |
//! | finished | recipes still held, not deleted | same | CheckRecipes every `checkEvery` |
//! | finished | old token kept and not revoked | same | ProbeOldToken every `checkEvery` |
//! | finished | deleted, recipes held | same | StartRecipe / CheckRecipes |
//! | finished | deleted, nothing held | same | RemoveFinalizer |

use crate::domain::rotation::{Revocation, Trigger, revocation};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::credential_rotation::{
    Backoff, ConnectionProgress, ConnectionState, CredentialRotationStatus, RecipeProgress, RecipeState,
    RotationOutcome, RotationPhase,
};
use crate::api::integration_account::RotationStrategy;

/// How long the first stop waits at most for the recipe budget (see [`Facts::stop_hold`]).
pub const MAX_STOP_HOLD: Duration = Duration::from_secs(120);
/// First wait after a failed vendor call; doubles with every failure in a row.
pub const BACKOFF_BASE: Duration = Duration::from_secs(5);
/// Longest wait between two attempts of a failing vendor call.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// How often a rotation waiting for a person re-reads the token Secret (besides the watch).
pub const WAIT_POLL: Duration = Duration::from_secs(30);
/// How often a queued rotation looks at the one ahead of it (besides the watch).
pub const QUEUE_POLL: Duration = Duration::from_secs(5);

/// A Kubernetes read: what it returned, or that it failed. A failed read is not a fact (I5):
/// the machine waits instead of taking it as "missing".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Read<T> {
    /// The read succeeded.
    Ok(T),
    /// The read failed (API server unavailable, 5xx, timeout, forbidden): the message.
    Failed(String),
}

impl<T> Read<T> {
    fn ok(&self) -> Option<&T> {
        match self {
            Read::Ok(t) => Some(t),
            Read::Failed(_) => None,
        }
    }
}

/// The rotation's policy, from its spec and its IntegrationAccount's `spec.rotation`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The strategy forced by the rotation's or the account's spec.
    pub strategy: Option<RotationStrategy>,
    /// `dryRun`.
    pub dry_run: bool,
    /// `takeOver`: the WorkatoConnection to put the published credentials on.
    pub take_over: Option<String>,
    /// `rotation.newTokenTimeout`.
    pub new_token_timeout: Duration,
    /// `rotation.revocationGracePeriod`.
    pub revocation_grace: Duration,
    /// How often the old token is probed while awaiting revocation.
    pub probe_every: Duration,
    /// How often a finished rotation checks what it left open (recipes left stopped, an old token
    /// still active).
    pub check_every: Duration,
    /// The integration user, for people (`Salesforce Integration`).
    pub user: String,
    /// Where the token goes, for people (`key token of Secret sf-token`).
    pub token_secret: String,
    /// The IntegrationAccount's name, for people.
    pub account: String,
}

/// A WorkatoConnection bound to the account (it holds one of its tokens).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bound {
    /// Its name.
    pub name: String,
    /// The Workato connection id.
    pub id: i64,
    /// Its WorkatoWorkspace.
    pub workspace: String,
    /// Fingerprint of the token it last received (none: never received one of ours).
    pub holds: Option<String>,
}

/// A recipe an earlier, finished rotation left stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stranded {
    /// The rotation that left it.
    pub rotation: String,
    /// The recipe as that rotation recorded it.
    pub recipe: RecipeProgress,
}

/// A recipe in a listing: id, name, running, and the connections it uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// Recipe id.
    pub id: i64,
    /// Recipe name.
    pub name: String,
    /// Whether it runs.
    pub running: bool,
    /// The connection (WorkatoConnection name) it depends on.
    pub connection: String,
}

/// Everything observed in one reconcile, as plain data (fingerprints, never values).
#[derive(Clone, Debug)]
pub struct Facts {
    /// Now.
    pub now: Timestamp,
    /// The operator's finalizer is on the rotation.
    pub finalizer: bool,
    /// The rotation or its IntegrationAccount is being deleted.
    pub deleting: bool,
    /// The IntegrationAccount exists.
    pub account_exists: bool,
    /// Policy.
    pub policy: Policy,
    /// Who started it.
    pub trigger: Trigger,
    /// A person approved it (annotation).
    pub approved: bool,
    /// A scheduled rotation's approval deadline (the end of its maintenance window).
    pub approval_deadline: Timestamp,
    /// An earlier unfinished rotation of the same account.
    pub ahead: Option<String>,
    /// Fingerprint of the token in the token Secret (`None`: Secret or key missing).
    pub token: Read<Option<String>>,
    /// Fingerprint of the published token (`None`: nothing published by the operator).
    pub published: Read<Option<String>>,
    /// The bound WorkatoConnections (read while planning only).
    pub bound: Read<Vec<Bound>>,
    /// Recipes earlier finished rotations of the account left stopped.
    pub stranded: Vec<Stranded>,
    /// Recipes of this rotation a later rotation has taken over, with its name.
    pub taken_over: BTreeMap<i64, String>,
    /// Recipe ids a WorkatoConnection excludes (`spec.recipes.exclude`): never started.
    pub excluded: BTreeSet<i64>,
    /// How long to hold the first stop so the workspace's recipe budget takes every stop and
    /// start back to back (zero: no hold).
    pub stop_hold: Duration,
    /// A person asked for a recheck (the `integrations.trackvia-operator.dev/recheck`
    /// annotation): the periodic checks (the old token's revocation probe, the held recipes'
    /// check) are due now.
    pub recheck: bool,
}

/// One external side effect (or vendor read). The executor runs it and reports an [`Outcome`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Add the operator's finalizer to the rotation.
    AddFinalizer,
    /// Remove it (the rotation may go).
    RemoveFinalizer,
    /// Ask TrackVia whether it accepts the published token: [`Outcome::Verdict`].
    ProbePublished,
    /// List the recipes of the rotation's connections: [`Outcome::Listed`].
    ListRecipes,
    /// Read recipe `i` (a call in flight when the operator stopped): [`Outcome::Running`].
    ReadRecipe(usize),
    /// Stop recipe `i`: `Done`, `NotFound`.
    StopRecipe(usize),
    /// Start recipe `i`: `Done`, `Refused` (Workato's errors), `NotFound`.
    StartRecipe(usize),
    /// Validate the token with this fingerprint and its reach: `Verdict`, `Superseded`.
    Validate(String),
    /// Put the token with this fingerprint on connection `index` and read Workato's test:
    /// `Pushed`, `Refused`, `Gone`, `Superseded`.
    Push {
        /// The connection.
        index: usize,
        /// The token (the new one, or the published one when putting it back).
        fingerprint: String,
    },
    /// Keep the old (published) token in a Secret owned by the rotation: `Kept`.
    KeepOldToken,
    /// Publish the token with this fingerprint: `Done`, `Superseded`.
    Publish(String),
    /// Ask TrackVia whether it still accepts the old token: `Verdict` (`Missing`: its Secret is gone).
    ProbeOldToken,
    /// Delete the rotation's own old-token Secret: `Done`.
    DeleteOldTokenSecret,
    /// Which recipes the rotation holds run now: `Running`.
    CheckRecipes,
}

impl Effect {
    /// Whether the effect calls a vendor (counted against I10's bound).
    pub fn calls_vendor(&self) -> bool {
        !matches!(
            self,
            Self::AddFinalizer
                | Self::RemoveFinalizer
                | Self::KeepOldToken
                | Self::Publish(_)
                | Self::DeleteOldTokenSecret
        )
    }
}

/// TrackVia's answer about a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted (and, for `Validate`, reaches what `spec.access` lists).
    Accepted,
    /// Rejected: TrackVia refuses it, or it cannot reach what the integration needs.
    Rejected(String),
    /// `ProbeOldToken`: the kept old-token Secret is gone, so nothing can be probed.
    Missing,
}

/// What running an [`Effect`] gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Done,
    /// Failed in a way that may pass (5xx, 429, timeout, an unexpected answer): back off.
    Failed {
        /// For people; never a credential.
        message: String,
        /// The vendor's Retry-After.
        retry_after: Option<Duration>,
    },
    /// The token Secret (or the published Secret) changed before the call: nothing was done.
    Superseded,
    /// A token verdict.
    Verdict(Verdict),
    /// The recipes of the rotation's connections.
    Listed(Vec<Listed>),
    /// Recipe id -> running.
    Running(BTreeMap<i64, bool>),
    /// `Push`: the update went through; Workato's test result.
    Pushed {
        /// The test passed.
        authorized: bool,
        /// Workato's `authorization_error`, scrubbed and trimmed.
        error: Option<String>,
    },
    /// Refused for good (environment guard, provider, Workato 4xx, `success: false`): why.
    Refused(String),
    /// The recipe does not exist in Workato any more.
    NotFound,
    /// `Push`: the WorkatoConnection was deleted.
    Gone,
    /// `KeepOldToken`: the Secret's name, or why it could not be kept.
    Kept(Result<String, String>),
}

/// An event for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// A Warning (something a person must look at).
    pub warning: bool,
    /// PascalCase reason.
    pub reason: &'static str,
    /// The message.
    pub message: String,
}

/// What [`decide`] returns.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// The status to record before the effect.
    pub status: CredentialRotationStatus,
    /// The effect to run, if any.
    pub effect: Option<Effect>,
    /// With no effect: when to look again (`None`: only when something changes).
    pub wait: Option<Duration>,
    /// Events.
    pub notes: Vec<Note>,
}

/// Whether a rotation has nothing left to do or check: finished, not being deleted, holding no
/// recipe stopped and no old token to probe. A reconcile of such a rotation reads nothing more.
pub fn settled(status: &CredentialRotationStatus, deleting: bool) -> bool {
    status.phase.is_some_and(RotationPhase::is_terminal)
        && !deleting
        && !status.recipes.iter().any(|r| r.state.is_held())
        && status.old_token_secret.is_none()
}

/// Decides the next step.
pub fn decide(status: &CredentialRotationStatus, facts: &Facts) -> Step {
    let mut m = Machine::new(status, facts);
    m.decide();
    Step {
        status: m.s,
        effect: m.effect,
        wait: m.wait,
        notes: m.notes,
    }
}

/// The status after `effect` gave `outcome`, and the events to publish.
pub fn absorb(
    status: &CredentialRotationStatus,
    facts: &Facts,
    effect: &Effect,
    outcome: Outcome,
) -> (CredentialRotationStatus, Vec<Note>) {
    let mut m = Machine::new(status, facts);
    m.absorb(effect, outcome);
    (m.s, m.notes)
}

struct Machine<'a> {
    s: CredentialRotationStatus,
    f: &'a Facts,
    effect: Option<Effect>,
    wait: Option<Duration>,
    notes: Vec<Note>,
}

fn ts(t: Timestamp) -> Time {
    Time(t)
}

fn plus(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_add(crate::reconcile::signed(d))
        .unwrap_or(Timestamp::MAX)
}

fn until(now: Timestamp, then: Timestamp) -> Duration {
    Duration::try_from(then.duration_since(now)).unwrap_or(Duration::ZERO)
}

/// The wait after `attempts` failures in a row.
pub fn backoff_delay(attempts: i32) -> Duration {
    let n = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0);
    crate::external::retry::doubling(BACKOFF_BASE, BACKOFF_MAX, n)
}

fn ids(recipes: &[&RecipeProgress]) -> String {
    recipes
        .iter()
        .map(|r| match &r.name {
            Some(n) => format!("{n} ({})", r.id),
            None => r.id.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl<'a> Machine<'a> {
    fn new(status: &CredentialRotationStatus, facts: &'a Facts) -> Self {
        Machine {
            s: status.clone(),
            f: facts,
            effect: None,
            wait: None,
            notes: Vec::new(),
        }
    }

    fn now(&self) -> Timestamp {
        self.f.now
    }

    fn strategy(&self) -> Option<RotationStrategy> {
        self.s.strategy
    }

    fn take_over(&self) -> bool {
        self.f.policy.take_over.is_some()
    }

    /// Moves to `phase` (a no-op when already there), with `note` as the summary and event.
    fn enter(&mut self, phase: RotationPhase, note: impl Into<String>) {
        if self.s.phase == Some(phase) {
            return;
        }
        let note = note.into();
        self.s.phase = Some(phase);
        self.s.phase_time = Some(ts(self.now()));
        self.notes.push(Note {
            warning: false,
            reason: phase_reason(phase),
            message: note.clone(),
        });
        if !note.is_empty() {
            self.s.plan_summary = Some(note);
        }
    }

    fn say(&mut self, summary: impl Into<String>) {
        self.s.plan_summary = Some(summary.into());
    }

    fn warn(&mut self, reason: &'static str, message: String) {
        self.notes.push(Note {
            warning: true,
            reason,
            message,
        });
    }

    fn wait(&mut self, d: Duration) {
        self.wait = Some(self.wait.map_or(d, |w| w.min(d)));
    }

    fn run(&mut self, e: Effect) {
        self.effect = Some(e);
    }

    /// Ends the rotation with `outcome`.
    fn finish(&mut self, outcome: RotationOutcome, summary: impl Into<String>) {
        let mut summary = summary.into();
        if !self.f.policy.dry_run {
            for r in &mut self.s.recipes {
                if r.state == RecipeState::ToStop {
                    r.state = RecipeState::Released;
                    r.error = Some("never stopped: the rotation ended first".into());
                }
            }
        }
        let held = self.held_recipes();
        if !held.is_empty() {
            let left = ids(&held);
            summary = format!(
                "{summary}; recipes {left} stay stopped: start them in Workato once their connection works, or run a new rotation, which restarts them"
            );
            self.warn(
                "RecipesLeftStopped",
                format!("recipes {left} stopped by this rotation are not running"),
            );
        }
        let phase = match outcome {
            RotationOutcome::Succeeded | RotationOutcome::DryRunPassed => RotationPhase::Succeeded,
            RotationOutcome::Aborted | RotationOutcome::ApprovalExpired | RotationOutcome::Cancelled => {
                RotationPhase::Aborted
            }
            _ => RotationPhase::Failed,
        };
        self.s.outcome = Some(outcome);
        self.s.closing_outcome = None;
        self.s.finished_time = Some(ts(self.now()));
        self.s.phase = Some(phase);
        self.s.phase_time = Some(ts(self.now()));
        self.s.backoff = None;
        self.s.plan_summary = Some(summary.clone());
        self.notes.push(Note {
            warning: !outcome.is_success(),
            reason: outcome.as_str(),
            message: summary,
        });
    }

    /// Ends the rotation `Succeeded`: "<n> connections switched", then `rest`.
    fn succeed(&mut self, rest: impl std::fmt::Display) {
        let n = self.s.connections.len();
        self.finish(
            RotationOutcome::Succeeded,
            format!("{n} connections switched{rest}"),
        );
    }

    /// Decides that the rotation ends with `outcome`, after putting things back.
    fn close(&mut self, outcome: RotationOutcome, why: impl Into<String>) {
        self.s.closing_outcome = Some(outcome);
        self.say(why);
        self.wind_down(outcome);
    }

    /// Recipes stopped by the operator and not running again yet.
    fn held_recipes(&self) -> Vec<&RecipeProgress> {
        self.s.recipes.iter().filter(|r| r.state.is_held()).collect()
    }

    /// Whether the rotation changed anything outside itself yet: a connection that may hold
    /// another token than the published one, a recipe it stopped.
    fn touched(&self) -> bool {
        let published = self.published().flatten();
        self.s.connections.iter().any(|c| match c.state {
            ConnectionState::Released => false,
            ConnectionState::Updating | ConnectionState::RollingBack | ConnectionState::RollbackFailed => {
                true
            }
            _ => c.token_fingerprint != published,
        }) || self
            .s
            .recipes
            .iter()
            .any(|r| r.state.is_held() && r.inherited_from.is_none())
    }

    fn token(&self) -> Option<Option<String>> {
        self.f.token.ok().cloned()
    }

    fn published(&self) -> Option<Option<String>> {
        self.f.published.ok().cloned()
    }

    /// A token in the Secret that the rotation has not seen rejected and that is not the old one.
    fn new_token(&self) -> Option<String> {
        self.token().flatten().filter(|fp| {
            Some(fp) != self.s.old_token_fingerprint.as_ref()
                && Some(fp) != self.s.rejected_token_fingerprint.as_ref()
        })
    }

    fn decide(&mut self) {
        let Some(phase) = self.s.phase else {
            self.s.started_time = Some(ts(self.now()));
            self.enter(RotationPhase::Pending, "rotation accepted");
            return;
        };
        if phase.is_terminal() {
            return self.after_end();
        }
        if !self.f.finalizer {
            if !self.f.deleting {
                self.run(Effect::AddFinalizer);
            }
            return;
        }
        if let Some(b) = &self.s.backoff
            && b.not_before.0 > self.now()
        {
            let d = until(self.now(), b.not_before.0);
            return self.wait(d);
        }
        // I5: a failed read is never taken as "missing": wait for a read that succeeds.
        let reads = [
            match &self.f.token {
                Read::Failed(e) => Some(format!("reading the token Secret: {e}")),
                Read::Ok(_) => None,
            },
            match &self.f.published {
                Read::Failed(e) => Some(format!("reading the credentials Secret: {e}")),
                Read::Ok(_) => None,
            },
        ];
        if let Some(why) = reads.into_iter().flatten().next() {
            self.say(format!("{phase}: waiting for the Kubernetes API ({why})"));
            return self.wait(Duration::from_secs(10));
        }
        if self.f.deleting && self.s.closing_outcome.is_none() {
            return self.cancel(phase);
        }
        if !self.f.account_exists && self.s.closing_outcome.is_none() {
            let why = format!(
                "IntegrationAccount {} not found in this namespace",
                self.f.policy.account
            );
            return self.close_or_finish(RotationOutcome::IntegrationAccountNotFound, &why);
        }
        if let Some(outcome) = self.s.closing_outcome {
            return self.wind_down(outcome);
        }
        match phase {
            RotationPhase::Pending | RotationPhase::Queued => self.pending(),
            RotationPhase::AwaitingApproval => self.awaiting_approval(),
            RotationPhase::Stopping => self.stopping(),
            RotationPhase::WaitingForToken => self.waiting(),
            RotationPhase::Validating => self.validating(),
            RotationPhase::Switching => self.switching(),
            RotationPhase::Publishing => self.publishing(),
            RotationPhase::Restarting => self.restarting(),
            RotationPhase::AwaitingRevocation => self.awaiting_revocation(),
            // Reached only with a closing outcome (handled above); one without is closed now.
            RotationPhase::RollingBack | RotationPhase::Aborting => {
                self.close(RotationOutcome::Aborted, "the rotation is ending")
            }
            RotationPhase::Succeeded | RotationPhase::Failed | RotationPhase::Aborted => {}
        }
    }

    /// Ends at once when nothing changed yet, else puts things back first.
    fn close_or_finish(&mut self, outcome: RotationOutcome, why: &str) {
        if self.touched() {
            self.close(outcome, why.to_owned());
        } else {
            self.finish(outcome, format!("{why}; nothing was changed"));
        }
    }

    /// The rotation or its account is being deleted.
    fn cancel(&mut self, phase: RotationPhase) {
        let published_new = self.s.new_token_fingerprint.is_some()
            && self.published().flatten() == self.s.new_token_fingerprint;
        match phase {
            // Published already: the forward path is what puts things in order.
            RotationPhase::Restarting if published_new || self.take_over() => self.restarting(),
            RotationPhase::AwaitingRevocation => self.succeed(
                " and the new token published; deleted before the old token's revocation was confirmed",
            ),
            RotationPhase::Publishing if published_new => self.publishing(),
            _ => self.close_or_finish(
                RotationOutcome::Cancelled,
                "the CredentialRotation is being deleted",
            ),
        }
    }

    fn pending(&mut self) {
        if self.s.strategy.is_none() {
            if let Some(other) = self.f.ahead.clone() {
                self.enter(RotationPhase::Queued, format!("queued behind {other}"));
                self.say(format!(
                    "waiting for CredentialRotation {other} of the same IntegrationAccount"
                ));
                return self.wait(QUEUE_POLL);
            }
            self.enter(
                RotationPhase::Pending,
                "deciding the strategy and what the rotation touches",
            );
            let Some(published) = self.published().flatten() else {
                return self.finish(
                    RotationOutcome::NotSetUp,
                    "the IntegrationAccount has published no credentials yet: nothing to rotate",
                );
            };
            let strategy = if self.take_over() {
                RotationStrategy::StopAndRestart
            } else if let Some(s) = self.f.policy.strategy {
                s
            } else {
                match self.s.published_token_works {
                    None => {
                        self.say("asking TrackVia whether the published token still works (it decides the strategy)");
                        return self.run(Effect::ProbePublished);
                    }
                    Some(true) => RotationStrategy::Overlap,
                    Some(false) => RotationStrategy::StopAndRestart,
                }
            };
            let Some(bound) = self.f.bound.ok().cloned() else {
                return self.wait(Duration::from_secs(10));
            };
            let bound: Vec<Bound> = match &self.f.policy.take_over {
                Some(wc) => bound.into_iter().filter(|b| &b.name == wc).collect(),
                None => bound.into_iter().filter(|b| b.holds.is_some()).collect(),
            };
            if let Some(wc) = &self.f.policy.take_over
                && bound.is_empty()
            {
                return self.finish(
                    RotationOutcome::WorkspaceNotReady,
                    format!("WorkatoConnection {wc} has no Workato connection yet: nothing to take over"),
                );
            }
            self.s.strategy = Some(strategy);
            self.s.connections = bound
                .iter()
                .map(|b| ConnectionProgress {
                    name: b.name.clone(),
                    id: Some(b.id),
                    workspace: Some(b.workspace.clone()),
                    state: ConnectionState::Pending,
                    token_fingerprint: b.holds.clone(),
                    authorized: None,
                    error: None,
                })
                .collect();
            let names: BTreeSet<&str> = bound.iter().map(|b| b.name.as_str()).collect();
            for st in &self.f.stranded {
                let conn = st.recipe.connection.as_deref().unwrap_or_default();
                if names.contains(conn)
                    && !self.f.excluded.contains(&st.recipe.id)
                    && !self.s.recipes.iter().any(|r| r.id == st.recipe.id)
                {
                    self.s.recipes.push(RecipeProgress {
                        state: RecipeState::Stopped,
                        inherited_from: Some(st.rotation.clone()),
                        error: None,
                        ..st.recipe.clone()
                    });
                }
            }
            if self.take_over() {
                self.s.old_token_fingerprint = None;
                self.s.new_token_fingerprint = Some(published);
            } else {
                self.s.old_token_fingerprint = Some(published);
                self.s.new_token_fingerprint = self.new_token();
            }
            self.say(format!(
                "{strategy:?}: {} connections; listing their recipes",
                self.s.connections.len()
            ));
            return;
        }
        let strategy = self.strategy().unwrap_or(RotationStrategy::Overlap);
        let needs_inventory = strategy == RotationStrategy::StopAndRestart || self.f.policy.dry_run;
        if needs_inventory && self.s.inventory_time.is_none() {
            if self.s.connections.is_empty() {
                self.s.inventory_time = Some(ts(self.now()));
                return;
            }
            return self.run(Effect::ListRecipes);
        }
        if self.f.policy.dry_run {
            return match self.s.new_token_fingerprint.clone() {
                Some(fp) => self.run(Effect::Validate(fp)),
                None => self.dry_run_report(Some(
                    "no new token in the token Secret yet (a person must create one)".to_owned(),
                )),
            };
        }
        if self.s.planned_time.is_none() {
            self.s.planned_time = Some(ts(self.now()));
            let to_stop = self
                .s
                .recipes
                .iter()
                .filter(|r| r.state == RecipeState::ToStop)
                .count();
            self.say(format!(
                "{strategy:?}: {} connections, {to_stop} running recipes to stop and restart{}",
                self.s.connections.len(),
                match self.s.recipes.len() - to_stop {
                    0 => String::new(),
                    n => format!(", {n} left stopped by an earlier rotation to restart"),
                }
            ));
        }
        let summary = self.s.plan_summary.clone().unwrap_or_default();
        match strategy {
            RotationStrategy::StopAndRestart if self.f.trigger == Trigger::Scheduled && !self.f.approved => {
                self.s.approval_deadline = Some(ts(self.f.approval_deadline));
                self.enter(RotationPhase::AwaitingApproval, summary);
                self.awaiting_approval();
            }
            RotationStrategy::StopAndRestart => {
                if self.f.approved {
                    self.s.approved_time = Some(ts(self.now()));
                }
                self.enter(RotationPhase::Stopping, summary);
            }
            RotationStrategy::Overlap if self.s.new_token_fingerprint.is_some() => {
                self.enter(RotationPhase::Validating, summary)
            }
            RotationStrategy::Overlap => self.enter_waiting(&summary),
        }
    }

    fn dry_run_report(&mut self, problem: Option<String>) {
        let strategy = self.strategy().unwrap_or(RotationStrategy::Overlap);
        let recipe_calls = if strategy == RotationStrategy::StopAndRestart {
            2 * self.s.recipes.len() as u64
        } else {
            0
        };
        // Workato's budget: connection updates at 1/s; recipe calls 60 per minute, so calls beyond
        // the first 60 wait for the next minutes.
        let estimate = self.s.connections.len() as u64 + recipe_calls.saturating_sub(60).div_ceil(60) * 60;
        let summary = format!(
            "dry run, {strategy:?}: would update {} connections ({}), {recipe_calls} recipe stop/start calls ({}); request budget estimate {estimate} s; {}",
            self.s.connections.len(),
            self.s
                .connections
                .iter()
                .map(|c| format!("{}#{}", c.name, c.id.unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(", "),
            self.s
                .recipes
                .iter()
                .map(|r| r.id.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            problem.as_deref().unwrap_or("no problem found")
        );
        let outcome = if problem.is_none() {
            RotationOutcome::DryRunPassed
        } else {
            RotationOutcome::DryRunFailed
        };
        // A dry run holds nothing: its recipe list is a report.
        self.finish(outcome, summary);
    }

    fn awaiting_approval(&mut self) {
        if self.f.approved {
            self.s.approved_time = Some(ts(self.now()));
            return self.enter(
                RotationPhase::Stopping,
                "approved: stopping the dependent recipes",
            );
        }
        let deadline = self
            .s
            .approval_deadline
            .as_ref()
            .map_or(self.f.approval_deadline, |t| t.0);
        if deadline <= self.now() {
            return self.close_or_finish(
                RotationOutcome::ApprovalExpired,
                &format!("nobody approved the scheduled StopAndRestart by {deadline}; no recipe was stopped"),
            );
        }
        self.say(format!(
            "a scheduled StopAndRestart stops {} recipes while a person regenerates the token: approve it when ready (kubectl trackvia approve <rotation>, or annotate it {}=true) by {deadline}",
            self.s
                .recipes
                .iter()
                .filter(|r| r.state == RecipeState::ToStop)
                .count(),
            crate::domain::rotation::APPROVED_ANNOTATION
        ));
        self.wait(until(self.now(), deadline));
    }

    fn stopping(&mut self) {
        if let Some(i) = self
            .s
            .recipes
            .iter()
            .position(|r| r.state == RecipeState::Stopping)
        {
            return self.run(Effect::ReadRecipe(i));
        }
        let Some(i) = self.s.recipes.iter().position(|r| r.state == RecipeState::ToStop) else {
            let n = self.held_recipes().len();
            let note = format!("{n} recipes stopped");
            if self.take_over() {
                return self.enter(
                    RotationPhase::Switching,
                    format!("{note}; putting the published credentials on the connection"),
                );
            }
            return match self.new_token() {
                Some(fp) => {
                    self.s.new_token_fingerprint = Some(fp);
                    self.enter(RotationPhase::Validating, note)
                }
                None => self.enter_waiting(&note),
            };
        };
        let untouched = self
            .s
            .recipes
            .iter()
            .all(|r| !r.state.is_held() || r.inherited_from.is_some());
        let since = self
            .s
            .phase_time
            .as_ref()
            .map_or(Duration::ZERO, |t| until(t.0, self.now()));
        if untouched && !self.f.stop_hold.is_zero() && since < MAX_STOP_HOLD {
            let hold = self.f.stop_hold.min(MAX_STOP_HOLD.saturating_sub(since));
            self.say(format!(
                "holding the recipe stops {} s until Workato's recipe budget (60 calls per minute) takes them back to back, so that no recipe is stopped longer than the limits require",
                hold.as_secs_f64().ceil()
            ));
            return self.wait(hold);
        }
        self.s.recipes[i].state = RecipeState::Stopping;
        self.run(Effect::StopRecipe(i));
    }

    fn waiting_message(&self) -> String {
        let (user, key) = (&self.f.policy.user, &self.f.policy.token_secret);
        match self.strategy() {
            Some(RotationStrategy::StopAndRestart) => format!(
                "in TrackVia, API Access: regenerate the token of {user} and put it in {key}; its recipes are stopped until then"
            ),
            _ => format!(
                "in TrackVia, API Access: create a new token for {user} (keep the old one active) and put it in {key}"
            ),
        }
    }

    fn enter_waiting(&mut self, note: &str) {
        let todo = self.waiting_message();
        self.enter(RotationPhase::WaitingForToken, note.to_owned());
        self.say(if note.is_empty() {
            todo
        } else {
            format!("{note}: {todo}")
        });
    }

    fn waiting(&mut self) {
        if let Some(fp) = self.new_token() {
            self.s.new_token_fingerprint = Some(fp);
            return self.enter(RotationPhase::Validating, "a new token is in the token Secret");
        }
        let since = self.s.phase_time.as_ref().map_or(self.now(), |t| t.0);
        let deadline = plus(since, self.f.policy.new_token_timeout);
        if self.now() < deadline {
            return self.wait(until(self.now(), deadline).min(WAIT_POLL));
        }
        let timeout = self.f.policy.new_token_timeout;
        if self.strategy() != Some(RotationStrategy::StopAndRestart) {
            return self.close_or_finish(
                RotationOutcome::Aborted,
                &format!("no new token within {timeout:?}"),
            );
        }
        if self.s.token_lost_time.is_some() {
            return self.wait(WAIT_POLL);
        }
        let probed = self.s.last_checked_time.as_ref().is_some_and(|t| t.0 >= deadline);
        match self.s.published_token_works {
            Some(true) if probed => self.close(
                RotationOutcome::Aborted,
                format!("no new token within {timeout:?}; the old token still works: restarting the stopped recipes"),
            ),
            Some(false) if probed => {
                self.s.token_lost_time = Some(ts(self.now()));
                let held = ids(&self.held_recipes());
                let alert = format!(
                    "no new token within {timeout:?} and TrackVia rejects the old token: recipes {held} stay stopped until {}",
                    self.waiting_message()
                );
                self.say(alert.clone());
                self.warn("TokenLost", alert);
                self.wait(WAIT_POLL);
            }
            _ => self.run(Effect::ProbePublished),
        }
    }

    fn validating(&mut self) {
        let token = self.token().flatten();
        match token {
            None => self.enter_waiting("the token Secret is gone"),
            Some(fp) if Some(&fp) == self.s.old_token_fingerprint.as_ref() => self.close_or_finish(
                RotationOutcome::Aborted,
                "the token Secret holds the published token again",
            ),
            Some(fp) if Some(&fp) == self.s.rejected_token_fingerprint.as_ref() => {
                self.enter_waiting("TrackVia refused this token")
            }
            Some(fp) => {
                self.s.new_token_fingerprint = Some(fp.clone());
                self.run(Effect::Validate(fp));
            }
        }
    }

    /// The token this rotation puts on the connections now, or a transition away.
    fn switch_target(&mut self) -> Option<String> {
        if self.take_over() {
            let published = self.published().flatten();
            if published.is_some() && published != self.s.new_token_fingerprint {
                self.s.new_token_fingerprint = published;
            }
            return self.s.new_token_fingerprint.clone();
        }
        match self.token().flatten() {
            None => {
                self.enter_waiting("the token Secret is gone");
                None
            }
            Some(fp) if Some(&fp) == self.s.old_token_fingerprint.as_ref() => {
                self.close_or_finish(
                    RotationOutcome::Aborted,
                    "the token Secret holds the published token again",
                );
                None
            }
            Some(fp) if Some(&fp) != self.s.new_token_fingerprint.as_ref() => {
                self.enter(
                    RotationPhase::Validating,
                    "the token Secret changed during the rotation: validating the newest token",
                );
                None
            }
            Some(fp) => Some(fp),
        }
    }

    fn switching(&mut self) {
        let Some(target) = self.switch_target() else {
            return;
        };
        if self.strategy() == Some(RotationStrategy::Overlap) && !self.overlap_confirmed(&target) {
            return;
        }
        let next = self.s.connections.iter().position(|c| match c.state {
            ConnectionState::Updating | ConnectionState::Pending => true,
            ConnectionState::Verified => c.token_fingerprint.as_deref() != Some(target.as_str()),
            _ => false,
        });
        let Some(i) = next else {
            if self.take_over() {
                return self.enter(
                    RotationPhase::Restarting,
                    "the connection holds the published credentials and passed Workato's test; restarting its recipes",
                );
            }
            return self.enter(
                RotationPhase::Publishing,
                "every connection holds the new token and passed Workato's test",
            );
        };
        // A second attempt after one that may have reached Workato (a crash, a lost answer):
        // what the connection holds is unknown until an update is answered.
        if self.s.connections[i].state == ConnectionState::Updating {
            self.s.connections[i].token_fingerprint = None;
        }
        self.s.connections[i].state = ConnectionState::Updating;
        self.run(Effect::Push {
            index: i,
            fingerprint: target,
        });
    }

    /// An Overlap switch changes credentials under running recipes; it starts only once TrackVia
    /// accepted the old token after the new one was validated (I9). When it rejects the old token,
    /// the rotation stops the dependent recipes first: it becomes a StopAndRestart.
    fn overlap_confirmed(&mut self, target: &str) -> bool {
        let started =
            self.s.connections.iter().any(|c| {
                c.token_fingerprint.as_deref() == Some(target) && c.state != ConnectionState::Pending
            });
        if started {
            return true;
        }
        let since = self.s.phase_time.as_ref().map(|t| t.0);
        let fresh = self
            .s
            .last_checked_time
            .as_ref()
            .is_some_and(|t| since.is_none_or(|s| t.0 >= s));
        match (self.s.published_token_works, fresh) {
            (Some(true), true) => true,
            (Some(false), true) => {
                self.s.strategy = Some(RotationStrategy::StopAndRestart);
                self.s.inventory_time = None;
                self.s.planned_time = None;
                self.s.phase = Some(RotationPhase::Pending);
                self.s.phase_time = Some(ts(self.now()));
                let note = "TrackVia rejects the old token, so the new one cannot switch in while recipes run: the rotation stops them first (StopAndRestart)".to_owned();
                self.warn("OverlapLost", note.clone());
                self.say(note);
                false
            }
            _ => {
                self.run(Effect::ProbePublished);
                false
            }
        }
    }

    fn publishing(&mut self) {
        if self.take_over() {
            return self.enter(RotationPhase::Restarting, "");
        }
        let Some(target) = self.switch_target() else {
            return;
        };
        let overlap = self.strategy() == Some(RotationStrategy::Overlap);
        if overlap && self.s.revocation_deadline.is_none() {
            return self.run(Effect::KeepOldToken);
        }
        if self.published().flatten().as_deref() != Some(target.as_str()) {
            return self.run(Effect::Publish(target));
        }
        self.after_publish();
    }

    fn after_publish(&mut self) {
        let overlap = self.strategy() == Some(RotationStrategy::Overlap);
        if self.held_recipes().is_empty() && overlap {
            return self.await_revocation();
        }
        self.enter(
            RotationPhase::Restarting,
            "new credentials published; restarting the stopped recipes",
        );
    }

    fn await_revocation(&mut self) {
        if self.s.old_token_secret.is_none() {
            return self.succeed(" and the new token published (the old token could not be kept, so its revocation is not checked)");
        }
        let deadline = self
            .s
            .revocation_deadline
            .as_ref()
            .map(|d| d.0.to_string())
            .unwrap_or_default();
        self.enter(
            RotationPhase::AwaitingRevocation,
            format!(
                "new credentials published; deactivate the old token {} in TrackVia (API Access) by {deadline}",
                self.s.old_token_fingerprint.as_deref().unwrap_or("?")
            ),
        );
    }

    /// Restarts the next recipe that can be restarted; `false` when none is left.
    fn restart_next(&mut self, closing: bool) -> bool {
        // A start or stop in flight when the operator stopped: read the recipe first.
        if let Some(i) = self
            .s
            .recipes
            .iter()
            .position(|r| matches!(r.state, RecipeState::Starting | RecipeState::Stopping))
        {
            self.run(Effect::ReadRecipe(i));
            return true;
        }
        for i in 0..self.s.recipes.len() {
            let r = &self.s.recipes[i];
            if r.state == RecipeState::ToStop {
                self.s.recipes[i].state = RecipeState::Released;
                self.s.recipes[i].error = Some("never stopped: the rotation ended first".into());
                continue;
            }
            if r.state != RecipeState::Stopped {
                continue;
            }
            if self.f.excluded.contains(&r.id) {
                self.s.recipes[i].state = RecipeState::Released;
                self.s.recipes[i].error =
                    Some("excluded by its WorkatoConnection (spec.recipes.exclude)".into());
                continue;
            }
            if closing {
                match self.restartable(i) {
                    Some(true) => {}
                    Some(false) => continue,
                    None => {
                        self.say("asking TrackVia whether the published token works before restarting the stopped recipes");
                        self.run(Effect::ProbePublished);
                        return true;
                    }
                }
            }
            self.s.recipes[i].state = RecipeState::Starting;
            self.run(Effect::StartRecipe(i));
            return true;
        }
        false
    }

    /// Whether recipe `i` can run again after a failed rotation: its connection passed Workato's
    /// last test, or (untested by this rotation) TrackVia accepts the published token it holds.
    fn restartable(&self, i: usize) -> Option<bool> {
        let conn = self.s.recipes[i].connection.as_deref().unwrap_or_default();
        let c = self.s.connections.iter().find(|c| c.name == conn);
        match c.and_then(|c| c.authorized) {
            Some(a) => Some(a),
            None => self.s.published_token_works,
        }
    }

    fn restarting(&mut self) {
        if self.restart_next(false) {
            return;
        }
        let failed: Vec<&RecipeProgress> = self
            .s
            .recipes
            .iter()
            .filter(|r| r.state == RecipeState::StartFailed)
            .collect();
        let restarted = self
            .s
            .recipes
            .iter()
            .filter(|r| r.state == RecipeState::Started)
            .count();
        if !failed.is_empty() {
            let list = ids(&failed);
            return self.finish(
                RotationOutcome::RecipeStartFailed,
                format!(
                    "the token was rotated and published; {restarted} recipes restarted, but Workato refused to start {list} (see status.recipes)"
                ),
            );
        }
        if self.take_over() {
            return self.finish(
                RotationOutcome::Succeeded,
                format!("the connection holds the published credentials; {restarted} recipes restarted"),
            );
        }
        if self.strategy() == Some(RotationStrategy::Overlap) {
            return self.await_revocation();
        }
        self.succeed(format!("; {restarted} recipes restarted"));
    }

    fn awaiting_revocation(&mut self) {
        let deadline = self.s.revocation_deadline.as_ref().map_or(self.now(), |d| d.0);
        if self.s.old_token_secret.is_none() && self.s.old_token_revoked_time.is_none() {
            return self.succeed(" and the new token published; the old token's revocation cannot be confirmed (its Secret is gone)");
        }
        if self.s.old_token_revoked_time.is_some() {
            if self.s.old_token_secret.is_some() {
                return self.run(Effect::DeleteOldTokenSecret);
            }
            return self.succeed("; the old token is revoked");
        }
        let next = self
            .s
            .last_checked_time
            .as_ref()
            .map_or(self.now(), |t| plus(t.0, self.f.policy.probe_every));
        if next <= self.now() || self.f.recheck {
            return self.run(Effect::ProbeOldToken);
        }
        if deadline <= self.now() {
            let fp = self.s.old_token_fingerprint.clone().unwrap_or_default();
            let message = format!(
                "the old token {fp} is still active past its revocation deadline {deadline}: deactivate it in TrackVia (API Access)"
            );
            self.warn("RevocationOverdue", message.clone());
            return self.succeed(format!(" and the new token published; {message}"));
        }
        self.wait(until(self.now(), next).min(until(self.now(), deadline)));
    }

    /// Puts things back before ending with `outcome`: every connection on the published token,
    /// every stopped recipe whose connection works running again.
    fn wind_down(&mut self, outcome: RotationOutcome) {
        let target = self.published().flatten();
        // Every connection that may hold another token than the published one goes back to it
        // (I3), whatever its state says it was doing.
        let back = self.s.connections.iter().position(|c| match c.state {
            ConnectionState::Released | ConnectionState::RollbackFailed => false,
            ConnectionState::RollingBack | ConnectionState::Updating => true,
            _ => c.token_fingerprint != target,
        });
        if let Some(i) = back {
            let Some(target) = target else {
                self.s.connections[i].state = ConnectionState::RollbackFailed;
                self.s.connections[i].error = Some("no published token to put back".into());
                return;
            };
            let why = self.s.plan_summary.clone().unwrap_or_default();
            self.enter(
                RotationPhase::RollingBack,
                format!("{why}; putting the published token back"),
            );
            self.say(why);
            if self.s.connections[i].state == ConnectionState::RollingBack {
                self.s.connections[i].token_fingerprint = None;
            }
            self.s.connections[i].state = ConnectionState::RollingBack;
            return self.run(Effect::Push {
                index: i,
                fingerprint: target,
            });
        }
        if self.restart_next(true) {
            if matches!(
                self.effect,
                Some(Effect::StartRecipe(_)) | Some(Effect::ReadRecipe(_))
            ) {
                let note = self.s.plan_summary.clone().unwrap_or_default();
                self.enter(RotationPhase::Aborting, note);
            }
            return;
        }
        let why = self.s.plan_summary.clone().unwrap_or_default();
        let failed: Vec<String> = self
            .s
            .connections
            .iter()
            .filter(|c| c.state == ConnectionState::RollbackFailed)
            .map(|c| format!("{} ({})", c.name, c.error.as_deref().unwrap_or("?")))
            .collect();
        if !failed.is_empty() {
            return self.finish(
                RotationOutcome::RollbackFailed,
                format!(
                    "{why}; putting the published token back failed on {}: they may still hold the new token",
                    failed.join(", ")
                ),
            );
        }
        let rolled = self
            .s
            .connections
            .iter()
            .filter(|c| c.state == ConnectionState::RolledBack)
            .count();
        let summary = if rolled > 0 {
            format!("{why}; every connection changed is back on the published token")
        } else {
            why
        };
        self.finish(outcome, summary);
    }

    /// A finished rotation: hands over, checks and (when deleted) restarts what it left open.
    fn after_end(&mut self) {
        for r in &mut self.s.recipes {
            if !r.state.is_held() {
                continue;
            }
            if let Some(other) = self.f.taken_over.get(&r.id) {
                r.state = RecipeState::Released;
                r.error = Some(format!("taken over by CredentialRotation {other}"));
            } else if self.f.excluded.contains(&r.id) {
                r.state = RecipeState::Released;
                r.error = Some("excluded by its WorkatoConnection (spec.recipes.exclude)".into());
            }
        }
        let due = self.f.recheck
            || self
                .s
                .last_checked_time
                .as_ref()
                .is_none_or(|t| plus(t.0, self.f.policy.check_every) <= self.now());
        if let Some(b) = &self.s.backoff
            && b.not_before.0 > self.now()
        {
            let d = until(self.now(), b.not_before.0);
            return self.wait(d);
        }
        let held = !self.held_recipes().is_empty();
        if self.f.deleting {
            if held {
                if self.restart_next(false) {
                    return;
                }
                // Only recipes Workato refused to start are left: wait for a person (the Ready
                // condition says what to do; the outcome's summary stays as it was).
                if due {
                    return self.run(Effect::CheckRecipes);
                }
                return self.wait(self.f.policy.check_every);
            }
            if self.f.finalizer {
                self.run(Effect::RemoveFinalizer);
            }
            return;
        }
        let revocation_open = matches!(
            revocation(&self.s, self.now()),
            Some(Revocation::Awaiting { .. } | Revocation::Overdue { .. })
        );
        // Revoked, or kept by a rotation that ended before it published (the old token is still
        // the published one): the kept copy has no use left.
        if self.s.old_token_secret.is_some() && !revocation_open {
            return self.run(Effect::DeleteOldTokenSecret);
        }
        if !held && !revocation_open {
            return;
        }
        if !due {
            let next = self
                .s
                .last_checked_time
                .as_ref()
                .map_or(self.now(), |t| plus(t.0, self.f.policy.check_every));
            return self.wait(until(self.now(), next));
        }
        if held {
            self.run(Effect::CheckRecipes)
        } else {
            self.run(Effect::ProbeOldToken)
        }
    }

    fn absorb(&mut self, effect: &Effect, outcome: Outcome) {
        let now = ts(self.now());
        if let Outcome::Failed { message, retry_after } = &outcome {
            let attempts = self.s.backoff.as_ref().map_or(0, |b| b.attempts) + 1;
            let delay = backoff_delay(attempts).max(retry_after.unwrap_or_default());
            self.s.backoff = Some(Backoff {
                attempts,
                not_before: ts(plus(self.now(), delay)),
                last_error: Some(crate::external::http::trim_message(message, 300)),
            });
            return;
        }
        match (effect, &self.s.backoff) {
            // Reading a recipe only resolves an earlier call: the failures in a row continue (the
            // call after it waits no longer, but a new failure backs off from where it was).
            (Effect::ReadRecipe(_), Some(b)) => {
                self.s.backoff = Some(Backoff {
                    not_before: now.clone(),
                    ..b.clone()
                })
            }
            _ => self.s.backoff = None,
        }
        match (effect, outcome) {
            (Effect::AddFinalizer | Effect::RemoveFinalizer, _) => {}
            (Effect::ProbePublished, Outcome::Verdict(v)) => {
                self.s.published_token_works = Some(v == Verdict::Accepted);
                self.s.last_checked_time = Some(now);
            }
            (Effect::ListRecipes, Outcome::Listed(listed)) => {
                for l in listed {
                    // A recipe taken over as left stopped that runs after all (someone started it)
                    // is a running recipe like the others: stopped before the switch (I9).
                    if l.running
                        && let Some(r) = self.s.recipes.iter_mut().find(|r| {
                            r.id == l.id && r.inherited_from.is_some() && r.state == RecipeState::Stopped
                        })
                    {
                        r.state = RecipeState::ToStop;
                        r.inherited_from = None;
                        continue;
                    }
                    if l.running
                        && !self.f.excluded.contains(&l.id)
                        && !self.s.recipes.iter().any(|r| r.id == l.id)
                    {
                        self.s.recipes.push(RecipeProgress {
                            id: l.id,
                            name: Some(l.name),
                            connection: Some(l.connection),
                            state: RecipeState::ToStop,
                            inherited_from: None,
                            error: None,
                        });
                    }
                }
                self.s.inventory_time = Some(now);
            }
            (Effect::ListRecipes, Outcome::Refused(why)) => {
                self.close_or_finish(RotationOutcome::WorkspaceNotReady, &why);
            }
            (Effect::ReadRecipe(i), Outcome::Running(running)) => {
                let Some(r) = self.s.recipes.get_mut(*i) else {
                    return;
                };
                let is_running = running.get(&r.id).copied().unwrap_or(false);
                r.state = match (r.state, is_running) {
                    (RecipeState::Stopping, true) => RecipeState::ToStop,
                    (RecipeState::Stopping, false) => RecipeState::Stopped,
                    (RecipeState::Starting, true) => RecipeState::Started,
                    (RecipeState::Starting, false) => RecipeState::Stopped,
                    (other, _) => other,
                };
            }
            (Effect::ReadRecipe(i) | Effect::StopRecipe(i) | Effect::StartRecipe(i), Outcome::NotFound) => {
                if let Some(r) = self.s.recipes.get_mut(*i) {
                    r.state = RecipeState::Released;
                    r.error = Some("deleted in Workato".into());
                }
            }
            (Effect::StopRecipe(i), Outcome::Done) => {
                if let Some(r) = self.s.recipes.get_mut(*i) {
                    r.state = RecipeState::Stopped;
                }
            }
            (Effect::StartRecipe(i), Outcome::Done) => {
                if let Some(r) = self.s.recipes.get_mut(*i) {
                    r.state = RecipeState::Started;
                    r.error = None;
                }
            }
            (Effect::StartRecipe(i), Outcome::Refused(why)) => {
                if let Some(r) = self.s.recipes.get_mut(*i) {
                    r.state = RecipeState::StartFailed;
                    r.error = Some(crate::external::http::trim_message(&why, 300));
                    let name = r.name.clone().unwrap_or_default();
                    let id = r.id;
                    self.warn(
                        "RecipeStartFailed",
                        format!("recipe {name} ({id}) did not start: {why}"),
                    );
                }
            }
            (Effect::StopRecipe(i), Outcome::Refused(why)) => {
                // Workato refused to stop it: it keeps running, so the switch cannot be staged
                // (I9). The rotation ends, restarting the recipes it did stop.
                let Some(r) = self.s.recipes.get_mut(*i) else {
                    return;
                };
                r.state = RecipeState::Released;
                r.error = Some(format!("Workato refused to stop it: {why}"));
                let name = format!("{} ({})", r.name.clone().unwrap_or_default(), r.id);
                self.warn(
                    "RecipeStopFailed",
                    format!("Workato refused to stop recipe {name}: {why}"),
                );
                self.close(
                    RotationOutcome::RecipeStopFailed,
                    format!("Workato refused to stop recipe {name} ({why}), so the credentials cannot change under stopped recipes only"),
                );
            }
            (Effect::Validate(fp), Outcome::Verdict(v)) => self.validated(fp, v),
            (Effect::Push { index, fingerprint }, outcome) => self.pushed(*index, fingerprint, outcome),
            (Effect::KeepOldToken, Outcome::Kept(kept)) => {
                match kept {
                    Ok(name) => self.s.old_token_secret = Some(name),
                    Err(why) => self.warn(
                        "OldTokenNotKept",
                        format!("the old token could not be kept to confirm its revocation: {why}"),
                    ),
                }
                self.s.revocation_deadline = Some(ts(plus(self.now(), self.f.policy.revocation_grace)));
            }
            (Effect::Publish(_), Outcome::Done) => {
                self.after_publish();
            }
            (Effect::ProbeOldToken, Outcome::Verdict(v)) => {
                self.s.last_checked_time = Some(now.clone());
                match v {
                    Verdict::Rejected(_) => self.s.old_token_revoked_time = Some(now),
                    Verdict::Accepted => {}
                    Verdict::Missing => {
                        let name = self.s.old_token_secret.clone().unwrap_or_default();
                        self.warn(
                            "OldTokenUnknown",
                            format!(
                                "Secret {name} with the old token is gone: its revocation cannot be confirmed"
                            ),
                        );
                        self.s.old_token_secret = None;
                    }
                }
            }
            (Effect::DeleteOldTokenSecret, _) => {
                self.s.old_token_secret = None;
            }
            (Effect::CheckRecipes, Outcome::Running(running)) => {
                self.s.last_checked_time = Some(now);
                for r in &mut self.s.recipes {
                    if r.state.is_held() && running.get(&r.id).copied().unwrap_or(false) {
                        r.state = RecipeState::Released;
                        r.error = Some("running again (started outside this rotation)".into());
                    } else if r.state.is_held() && !running.contains_key(&r.id) {
                        r.state = RecipeState::Released;
                        r.error = Some("deleted in Workato".into());
                    }
                }
            }
            (_, Outcome::Superseded) => {}
            (e, o) => {
                // An answer the effect cannot give: treat it as a failure that may pass.
                let attempts = self.s.backoff.as_ref().map_or(0, |b| b.attempts) + 1;
                self.s.backoff = Some(Backoff {
                    attempts,
                    not_before: ts(plus(self.now(), backoff_delay(attempts))),
                    last_error: Some(format!("unexpected result {o:?} of {e:?}")),
                });
            }
        }
    }

    fn validated(&mut self, fp: &str, v: Verdict) {
        if self.f.policy.dry_run {
            return self.dry_run_report(match v {
                Verdict::Accepted => None,
                Verdict::Rejected(why) => Some(format!("the new token is not valid: {why}")),
                Verdict::Missing => Some("the token Secret is empty".into()),
            });
        }
        let why = match v {
            Verdict::Accepted => {
                for c in &mut self.s.connections {
                    if c.state == ConnectionState::Verified && c.token_fingerprint.as_deref() != Some(fp) {
                        c.state = ConnectionState::Pending;
                    }
                }
                self.s.new_token_fingerprint = Some(fp.to_owned());
                return self.enter(RotationPhase::Switching, "the new token is valid");
            }
            Verdict::Rejected(why) => why,
            Verdict::Missing => "the token Secret is empty".to_owned(),
        };
        if self.strategy() == Some(RotationStrategy::Overlap) {
            // The old token still works: a bad new one ends the rotation (after putting back any
            // connection that already received a superseded token).
            return self.close_or_finish(RotationOutcome::NewTokenInvalid, &why);
        }
        // Regenerated in place: the old token is gone, so wait for a valid new one.
        self.s.rejected_token_fingerprint = Some(fp.to_owned());
        self.enter_waiting(&format!("{why}; put a valid token"));
    }

    fn pushed(&mut self, i: usize, fp: &str, outcome: Outcome) {
        let closing = self.s.closing_outcome;
        let Some(c) = self.s.connections.get_mut(i) else {
            return;
        };
        match outcome {
            Outcome::Pushed { authorized, error } => {
                c.token_fingerprint = Some(fp.to_owned());
                c.authorized = Some(authorized);
                if closing.is_some() {
                    // Keeps why it was rolled back; adds the rollback's own test failure.
                    if let Some(e) = error {
                        c.error = Some(match &c.error {
                            Some(first) => format!("{first}; after the rollback, Workato's test failed: {e}"),
                            None => format!("after the rollback, Workato's test failed: {e}"),
                        });
                    }
                    c.state = ConnectionState::RolledBack;
                    return;
                }
                c.error = error.clone().map(|e| format!("Workato's test failed: {e}"));
                if authorized {
                    c.state = ConnectionState::Verified;
                    return;
                }
                c.state = ConnectionState::Failed;
                let name = c.name.clone();
                let why = format!(
                    "connection {name}: Workato's test failed: {}",
                    error.as_deref().unwrap_or("no reason given")
                );
                let outcome = if self.take_over() {
                    RotationOutcome::ConnectionTestFailed
                } else {
                    RotationOutcome::RolledBack
                };
                self.s.closing_outcome = Some(outcome);
                self.say(why);
            }
            Outcome::Refused(why) => {
                let why = crate::external::http::trim_message(&why, 300);
                if closing.is_some() {
                    c.error = Some(format!("rollback refused: {why}"));
                    c.state = ConnectionState::RollbackFailed;
                    return;
                }
                c.error = Some(why.clone());
                c.state = ConnectionState::Failed;
                let name = c.name.clone();
                let outcome = if self.take_over() {
                    RotationOutcome::ConnectionTestFailed
                } else {
                    RotationOutcome::RolledBack
                };
                self.s.closing_outcome = Some(outcome);
                self.say(format!("connection {name}: {why}"));
            }
            Outcome::Gone => {
                c.state = ConnectionState::Released;
                c.error = Some("its WorkatoConnection was deleted".into());
            }
            _ => {}
        }
    }
}

/// The event reason of entering a phase.
fn phase_reason(p: RotationPhase) -> &'static str {
    match p {
        RotationPhase::Pending => "Pending",
        RotationPhase::Queued => "Queued",
        RotationPhase::AwaitingApproval => "AwaitingApproval",
        RotationPhase::Stopping => "Stopping",
        RotationPhase::WaitingForToken => "WaitingForToken",
        RotationPhase::Validating => "Validating",
        RotationPhase::Switching => "Switching",
        RotationPhase::RollingBack => "RollingBack",
        RotationPhase::Publishing => "Publishing",
        RotationPhase::Restarting => "Restarting",
        RotationPhase::Aborting => "Aborting",
        RotationPhase::AwaitingRevocation => "AwaitingRevocation",
        RotationPhase::Succeeded => "Succeeded",
        RotationPhase::Failed => "Failed",
        RotationPhase::Aborted => "Aborted",
    }
}

#[cfg(test)]
mod model;
#[cfg(test)]
mod tests;
