//! Model-based test of the rotation machine: a small simulated world (TrackVia's tokens, Workato's
//! connections and recipes, the token and credentials Secrets, a person, the operator process)
//! is driven through [`decide`] and [`absorb`] by generated, reproducible sequences of events, and
//! the invariants I1–I10 (`docs/reliability.md`) are checked after every event and once the world
//! has settled. A failure prints its seed and the shortest sequence that still breaks the
//! invariant.
//!
//! The executor is simulated the way `effects.rs` behaves: it records the decided status before
//! the effect (a crash may come before the call, or after it and before its result is recorded),
//! refuses a push across environments or to another connector, and answers "superseded" when the
//! token changed under it.
//!
//! `MODEL_SEQUENCES` (default 3000) and `MODEL_SEED` (repeat one sequence) steer it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::super::report;
use super::tests::policy;
use super::*;
use crate::api::credential_rotation::{ConnectionState, CredentialRotationStatus, RotationOutcome};
use crate::api::integration_account::RotationStrategy;
use crate::conditions::{Status, types};

/// Vendor calls a rotation may make in any hour whatever fails (I10), counted as effects; each
/// effect is at most 4 HTTP attempts (`external::retry`).
pub const MAX_EFFECTS_PER_HOUR: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FaultKind {
    /// Fails before reaching the vendor (5xx, 429, connection refused).
    Transient,
    /// The vendor acted, but the answer was lost (a timeout after the fact).
    LostAnswer,
    /// Refused for good (4xx).
    Permanent,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    TrackVia,
    RecipeCall,
    Push,
    Listing,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Event {
    /// One reconcile: observe, decide, record, run the effect, absorb, record.
    Step,
    /// The operator dies after recording the intent, before the call.
    CrashBeforeCall,
    /// The operator dies after the call, before recording its result.
    CrashAfterCall,
    /// Time passes.
    Advance(u64),
    /// The person creates a new token (the old one stays valid) and puts it in the Secret.
    PlaceNew,
    /// The person regenerates in place: the token the rotation replaces dies, a new one is placed.
    Regenerate,
    /// A token TrackVia refuses is placed.
    PlaceBad,
    /// A valid token that cannot reach what the integration needs is placed.
    PlaceUnscoped,
    /// The token Secret's key is removed.
    RemoveToken,
    /// The person puts the published token back into the Secret.
    RestoreOld,
    /// The person deactivates the token the rotation replaces.
    RevokeOld,
    /// A person approves the rotation.
    Approve,
    /// The rotation is deleted.
    DeleteRotation,
    /// Its IntegrationAccount is deleted.
    DeleteAccount,
    /// The next read of the token Secret (or the credentials Secret) fails.
    ReadError(bool),
    /// The next call of that kind fails so.
    Fault(Target, FaultKind),
    /// Workato's next test of connection `i` fails.
    TestFails(usize),
    /// Workato refuses the next start of recipe `i` (`success: false`).
    StartRefused(usize),
    /// A person starts recipe `i` in Workato.
    PersonStarts(usize),
    /// The WorkatoConnection `i` is deleted.
    DeleteConnection(usize),
}

#[derive(Clone, Debug)]
struct Conn {
    name: String,
    /// The workspace is in the account's environment.
    env_ok: bool,
    /// The connection is of the WorkatoConnection's connector.
    provider_ok: bool,
    holds: Option<String>,
    authorized: bool,
    wc_exists: bool,
    test_fails: bool,
}

#[derive(Clone, Debug)]
struct Recipe {
    id: i64,
    conn: usize,
    running: bool,
    /// Stopped by the operator at some point and not started since by anyone.
    stopped_by_us: bool,
    /// A person started it during the rotation: theirs now, not part of the staging (a rotation
    /// stops the recipes that run when it plans).
    started_by_person: bool,
    start_refused: bool,
}

/// Scenario parameters drawn per sequence.
#[derive(Clone, Debug)]
struct Scenario {
    strategy: Option<RotationStrategy>,
    trigger: Trigger,
    connections: usize,
    recipes_per_conn: usize,
    new_token_at_start: bool,
    env_mismatch: Option<usize>,
    provider_mismatch: Option<usize>,
}

#[derive(Clone, Debug)]
struct World {
    sc: Scenario,
    now: Timestamp,
    // TrackVia.
    valid: BTreeSet<String>,
    scoped: BTreeSet<String>,
    tokens_made: u32,
    // Kubernetes.
    token_secret: Option<String>,
    published: Option<String>,
    status: CredentialRotationStatus,
    finalizer: bool,
    rotation_deleted: bool,
    account_deleting: bool,
    approved: bool,
    gone: bool,
    old_secret: Option<String>,
    read_error: Option<bool>,
    // Workato.
    conns: Vec<Conn>,
    recipes: Vec<Recipe>,
    faults: BTreeMap<Target, FaultKind>,
    // Records.
    vendor_calls: Vec<Timestamp>,
    /// Vendor calls that moved nothing (a failure, or a probe that found nothing new).
    idle_calls: Vec<Timestamp>,
    notes: Vec<Note>,
    stops: Vec<(i64, bool)>,
    /// The token the rotation replaces (published when it started).
    first_published: String,
    /// When TrackVia last accepted the published token for the machine, and when the machine saw
    /// the new token validated.
    probe_ok_at: Option<Timestamp>,
    validated_at: Option<Timestamp>,
}

/// An invariant broken, and where.
#[derive(Clone, Debug)]
struct Violation {
    invariant: &'static str,
    detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.invariant, self.detail)
    }
}

fn violation(invariant: &'static str, detail: impl Into<String>) -> Violation {
    Violation {
        invariant,
        detail: detail.into(),
    }
}

impl World {
    fn new(sc: Scenario) -> Self {
        let old = "tok-0".to_owned();
        let mut conns = Vec::new();
        let mut recipes = Vec::new();
        for i in 0..sc.connections {
            conns.push(Conn {
                name: format!("conn-{i}"),
                env_ok: sc.env_mismatch != Some(i),
                provider_ok: sc.provider_mismatch != Some(i),
                holds: Some(old.clone()),
                authorized: true,
                wc_exists: true,
                test_fails: false,
            });
            for r in 0..sc.recipes_per_conn {
                recipes.push(Recipe {
                    id: (i * 10 + r) as i64 + 1000,
                    conn: i,
                    running: r != 2,
                    stopped_by_us: false,
                    started_by_person: false,
                    start_refused: false,
                });
            }
        }
        let mut w = World {
            now: "2026-12-01T10:00:00Z".parse().unwrap(),
            valid: BTreeSet::from([old.clone()]),
            scoped: BTreeSet::from([old.clone()]),
            tokens_made: 0,
            token_secret: Some(old.clone()),
            published: Some(old.clone()),
            status: CredentialRotationStatus::default(),
            finalizer: false,
            rotation_deleted: false,
            account_deleting: false,
            approved: sc.trigger != Trigger::Scheduled,
            gone: false,
            old_secret: None,
            read_error: None,
            conns,
            recipes,
            faults: BTreeMap::new(),
            vendor_calls: Vec::new(),
            idle_calls: Vec::new(),
            notes: Vec::new(),
            stops: Vec::new(),
            first_published: old,
            probe_ok_at: None,
            validated_at: None,
            sc,
        };
        if w.sc.new_token_at_start {
            w.place(true, true);
        }
        w
    }

    fn new_token(&mut self, valid: bool, scoped: bool) -> String {
        self.tokens_made += 1;
        let t = format!("tok-{}", self.tokens_made);
        if valid {
            self.valid.insert(t.clone());
        }
        if valid && scoped {
            self.scoped.insert(t.clone());
        }
        t
    }

    fn place(&mut self, valid: bool, scoped: bool) {
        let t = self.new_token(valid, scoped);
        self.token_secret = Some(t);
    }

    fn facts(&mut self) -> Facts {
        let read_error = self.read_error.take();
        let mut p = policy();
        p.strategy = self.sc.strategy;
        p.new_token_timeout = Duration::from_secs(600);
        p.revocation_grace = Duration::from_secs(1800);
        Facts {
            now: self.now,
            finalizer: self.finalizer,
            deleting: self.rotation_deleted || self.account_deleting,
            account_exists: true,
            policy: p,
            trigger: self.sc.trigger,
            approved: self.approved,
            approval_deadline: self.now_at_start() + SignedDuration::from_hours(2),
            recheck: false,
            ahead: None,
            token: match read_error {
                Some(true) => Read::Failed("503".into()),
                _ => Read::Ok(self.token_secret.clone()),
            },
            published: match read_error {
                Some(false) => Read::Failed("timeout".into()),
                _ => Read::Ok(self.published.clone()),
            },
            bound: Read::Ok(
                self.conns
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.wc_exists)
                    .map(|(i, c)| Bound {
                        name: c.name.clone(),
                        id: 100 + i as i64,
                        workspace: "dev".into(),
                        holds: c.holds.clone(),
                    })
                    .collect(),
            ),
            stranded: Vec::new(),
            taken_over: BTreeMap::new(),
            excluded: BTreeSet::new(),
            stop_hold: Duration::ZERO,
        }
    }

    fn describe(&self) -> String {
        let s = &self.status;
        format!(
            "{:?}/{:?} closing {:?} new {:?} token {:?} published {:?} conns {:?} world {:?} recipes {:?}",
            s.phase,
            s.outcome,
            s.closing_outcome,
            s.new_token_fingerprint,
            self.token_secret,
            self.published,
            s.connections
                .iter()
                .map(|c| format!("{}:{}:{:?}", c.name, c.state, c.token_fingerprint))
                .collect::<Vec<_>>(),
            self.conns.iter().map(|c| c.holds.clone()).collect::<Vec<_>>(),
            s.recipes
                .iter()
                .map(|r| format!("{}:{}", r.id, r.state))
                .collect::<Vec<_>>(),
        )
    }

    fn now_at_start(&self) -> Timestamp {
        "2026-12-01T10:00:00Z".parse().unwrap()
    }

    fn fault(&mut self, t: Target) -> Option<FaultKind> {
        self.faults.remove(&t)
    }

    fn conn_of(&self, status_index: usize) -> Option<usize> {
        let name = &self.status.connections.get(status_index)?.name;
        self.conns.iter().position(|c| &c.name == name)
    }

    fn recipe_of(&self, status_index: usize) -> Option<usize> {
        let id = self.status.recipes.get(status_index)?.id;
        self.recipes.iter().position(|r| r.id == id)
    }

    fn works(&self, c: usize) -> bool {
        let c = &self.conns[c];
        c.authorized && c.holds.as_ref().is_some_and(|h| self.valid.contains(h))
    }

    /// Runs an effect as `effects.rs` does; `Err` is a violation seen while doing it.
    fn execute(&mut self, e: &Effect) -> Result<Outcome, Violation> {
        let failed = || Outcome::Failed {
            message: "fault".into(),
            retry_after: None,
        };
        if e.calls_vendor() {
            self.vendor_calls.push(self.now);
        }
        Ok(match e {
            Effect::AddFinalizer => {
                self.finalizer = true;
                Outcome::Done
            }
            Effect::RemoveFinalizer => {
                self.finalizer = false;
                Outcome::Done
            }
            Effect::ProbePublished | Effect::ProbeOldToken => {
                let token = match e {
                    Effect::ProbePublished => self.published.clone(),
                    _ => match &self.old_secret {
                        None => return Ok(Outcome::Verdict(Verdict::Missing)),
                        Some(t) => Some(t.clone()),
                    },
                };
                match self.fault(Target::TrackVia) {
                    Some(FaultKind::Transient | FaultKind::LostAnswer | FaultKind::Permanent) => failed(),
                    None if token.as_ref().is_some_and(|t| self.valid.contains(t)) => {
                        if *e == Effect::ProbePublished {
                            self.probe_ok_at = Some(self.now);
                        }
                        Outcome::Verdict(Verdict::Accepted)
                    }
                    None => Outcome::Verdict(Verdict::Rejected("401".into())),
                }
            }
            Effect::Validate(fp) => {
                if self.token_secret.as_ref() != Some(fp) {
                    return Ok(Outcome::Superseded);
                }
                match self.fault(Target::TrackVia) {
                    Some(FaultKind::Transient | FaultKind::LostAnswer) => failed(),
                    Some(FaultKind::Permanent) => Outcome::Verdict(Verdict::Rejected("403".into())),
                    None if self.scoped.contains(fp) => {
                        self.validated_at = Some(self.now);
                        Outcome::Verdict(Verdict::Accepted)
                    }
                    None if self.valid.contains(fp) => {
                        Outcome::Verdict(Verdict::Rejected("cannot reach view:CRM/Accounts".into()))
                    }
                    None => Outcome::Verdict(Verdict::Rejected("401".into())),
                }
            }
            Effect::ListRecipes => match self.fault(Target::Listing) {
                Some(FaultKind::Permanent) => Outcome::Refused("workspace gone".into()),
                Some(_) => failed(),
                None => Outcome::Listed(
                    self.recipes
                        .iter()
                        .filter(|r| {
                            let name = &self.conns[r.conn].name;
                            self.status.connections.iter().any(|c| &c.name == name)
                        })
                        .map(|r| Listed {
                            id: r.id,
                            name: format!("Recipe {}", r.id),
                            running: r.running,
                            connection: self.conns[r.conn].name.clone(),
                        })
                        .collect(),
                ),
            },
            Effect::ReadRecipe(_) | Effect::CheckRecipes if self.fault(Target::Listing).is_some() => failed(),
            Effect::ReadRecipe(i) => match self.recipe_of(*i) {
                None => Outcome::NotFound,
                Some(r) => Outcome::Running(BTreeMap::from([(self.recipes[r].id, self.recipes[r].running)])),
            },
            Effect::CheckRecipes => {
                Outcome::Running(self.recipes.iter().map(|r| (r.id, r.running)).collect())
            }
            Effect::StopRecipe(i) => {
                let Some(r) = self.recipe_of(*i) else {
                    return Ok(Outcome::NotFound);
                };
                if self.sc.trigger == Trigger::Scheduled && !self.approved {
                    return Err(violation(
                        "I6",
                        format!("recipe {} stopped before approval", self.recipes[r].id),
                    ));
                }
                match self.fault(Target::RecipeCall) {
                    Some(FaultKind::Transient) => failed(),
                    Some(FaultKind::Permanent) if self.recipes[r].running => Outcome::Refused("403".into()),
                    Some(FaultKind::LostAnswer) => {
                        self.stop(r);
                        failed()
                    }
                    _ => {
                        self.stop(r);
                        Outcome::Done
                    }
                }
            }
            Effect::StartRecipe(i) => {
                let Some(r) = self.recipe_of(*i) else {
                    return Ok(Outcome::NotFound);
                };
                if self.recipes[r].running {
                    return Ok(Outcome::Done);
                }
                let works = self.works(self.recipes[r].conn);
                match self.fault(Target::RecipeCall) {
                    Some(FaultKind::Transient) => failed(),
                    Some(FaultKind::Permanent) => Outcome::Refused("400".into()),
                    fault if self.recipes[r].start_refused || !works => {
                        let _ = fault;
                        self.recipes[r].start_refused = false;
                        Outcome::Refused("config_errors: connection test failed".into())
                    }
                    Some(FaultKind::LostAnswer) => {
                        self.start(r);
                        failed()
                    }
                    None => {
                        self.start(r);
                        Outcome::Done
                    }
                }
            }
            Effect::Push { index, fingerprint } => {
                let Some(c) = self.conn_of(*index) else {
                    return Ok(Outcome::Gone);
                };
                if self.token_secret.as_ref() != Some(fingerprint)
                    && self.published.as_ref() != Some(fingerprint)
                {
                    return Ok(Outcome::Superseded);
                }
                if !self.conns[c].wc_exists {
                    return Ok(Outcome::Gone);
                }
                // The executor's guards (I7, I9), as effects.rs runs them before any call.
                if !self.conns[c].env_ok {
                    return Ok(Outcome::Refused("environment mismatch".into()));
                }
                if !self.conns[c].provider_ok {
                    return Ok(Outcome::Refused("another connector".into()));
                }
                self.check_staged(c, fingerprint)?;
                match self.fault(Target::Push) {
                    Some(FaultKind::Transient) => failed(),
                    Some(FaultKind::Permanent) => Outcome::Refused("422".into()),
                    fault => {
                        let authorized = self.valid.contains(fingerprint) && !self.conns[c].test_fails;
                        self.conns[c].test_fails = false;
                        self.conns[c].holds = Some(fingerprint.clone());
                        self.conns[c].authorized = authorized;
                        if fault == Some(FaultKind::LostAnswer) {
                            failed()
                        } else {
                            Outcome::Pushed {
                                authorized,
                                error: (!authorized).then(|| "401".into()),
                            }
                        }
                    }
                }
            }
            Effect::KeepOldToken => match &self.published {
                Some(p) => {
                    self.old_secret = Some(p.clone());
                    Outcome::Kept(Ok("rot-old-token".into()))
                }
                None => Outcome::Kept(Err("nothing published".into())),
            },
            Effect::Publish(fp) => {
                if self.token_secret.as_ref() != Some(fp) {
                    return Ok(Outcome::Superseded);
                }
                self.published = Some(fp.clone());
                Outcome::Done
            }
            Effect::DeleteOldTokenSecret => {
                self.old_secret = None;
                Outcome::Done
            }
        })
    }

    fn stop(&mut self, r: usize) {
        if self.recipes[r].running {
            self.recipes[r].running = false;
            self.recipes[r].stopped_by_us = true;
            self.stops.push((self.recipes[r].id, true));
        }
    }

    fn start(&mut self, r: usize) {
        self.recipes[r].running = true;
        self.recipes[r].stopped_by_us = false;
    }

    /// I9: a token other than the published one reaches a connection whose recipes run only
    /// through a staged switch: Overlap with both tokens valid (TrackVia accepted the old one after
    /// the new one was validated; a person may still deactivate it mid-switch), or its recipes
    /// stopped.
    fn check_staged(&self, c: usize, fp: &str) -> Result<(), Violation> {
        if self.published.as_deref() == Some(fp) {
            return Ok(());
        }
        let running = self
            .recipes
            .iter()
            .any(|r| r.conn == c && r.running && !r.started_by_person);
        if !running {
            return Ok(());
        }
        let confirmed = match (self.probe_ok_at, self.validated_at) {
            (Some(p), Some(v)) => p >= v,
            _ => false,
        };
        let overlap =
            self.status.strategy == Some(RotationStrategy::Overlap) && confirmed && self.valid.contains(fp);
        if overlap {
            return Ok(());
        }
        Err(violation(
            "I9",
            format!(
                "token {fp} pushed to {} while its recipes run, outside a staged switch",
                self.conns[c].name
            ),
        ))
    }

    /// Applies a person's or the world's event.
    fn apply(&mut self, e: &Event) -> Result<(), Violation> {
        match e {
            Event::Step => self.step(Crash::None)?,
            Event::CrashBeforeCall => self.step(Crash::BeforeCall)?,
            Event::CrashAfterCall => self.step(Crash::AfterCall)?,
            Event::Advance(s) => self.now += SignedDuration::from_secs(*s as i64),
            Event::PlaceNew => self.place(true, true),
            Event::Regenerate => {
                let old = self.first_published.clone();
                self.valid.remove(&old);
                self.scoped.remove(&old);
                self.place(true, true);
            }
            Event::PlaceBad => self.place(false, false),
            Event::PlaceUnscoped => self.place(true, false),
            Event::RemoveToken => self.token_secret = None,
            Event::RestoreOld => self.token_secret = self.published.clone(),
            Event::RevokeOld => {
                let old = self.first_published.clone();
                if self.published.as_ref() != Some(&old) {
                    self.valid.remove(&old);
                }
            }
            Event::Approve => self.approved = true,
            Event::DeleteRotation => self.rotation_deleted = true,
            Event::DeleteAccount => self.account_deleting = true,
            Event::ReadError(token) => self.read_error = Some(*token),
            Event::Fault(t, k) => {
                self.faults.insert(*t, *k);
            }
            Event::TestFails(i) => {
                if let Some(c) = self.conns.get_mut(*i) {
                    c.test_fails = true;
                }
            }
            Event::StartRefused(i) => {
                if let Some(r) = self.recipes.get_mut(*i) {
                    r.start_refused = true;
                }
            }
            Event::PersonStarts(i) => {
                let works = self.recipes.get(*i).is_some_and(|r| self.works(r.conn));
                if let Some(r) = self.recipes.get_mut(*i)
                    && works
                    && !r.running
                {
                    r.running = true;
                    r.started_by_person = true;
                    r.stopped_by_us = false;
                }
            }
            Event::DeleteConnection(i) => {
                if let Some(c) = self.conns.get_mut(*i) {
                    c.wc_exists = false;
                }
            }
        }
        self.check_always()
    }

    fn step(&mut self, crash: Crash) -> Result<(), Violation> {
        if self.gone {
            return Ok(());
        }
        self.now += SignedDuration::from_secs(1);
        let facts = self.facts();
        if facts.deleting && !self.finalizer {
            // No finalizer: the API server removes the object at once.
            self.gone = true;
            return Ok(());
        }
        let read_failed =
            matches!(facts.token, Read::Failed(_)) || matches!(facts.published, Read::Failed(_));
        let before = self.status.clone();
        let step = decide(&self.status, &facts);
        // The reconciler skips a settled rotation without deciding: that must lose nothing.
        if settled(&before, facts.deleting) && (step.effect.is_some() || step.status != before) {
            return Err(violation(
                "settled",
                format!("a settled rotation still had {:?} to do", step.effect),
            ));
        }
        // I5: a failed read changes nothing and calls nothing.
        if read_failed
            && before.phase.is_some_and(|p| !p.is_terminal())
            && (step.effect.as_ref().is_some_and(|e| *e != Effect::AddFinalizer)
                || step.status.phase != before.phase
                || step.status.connections != before.connections
                || step.status.recipes != before.recipes
                || step.status.outcome != before.outcome)
        {
            return Err(violation(
                "I5",
                format!(
                    "a failed read moved the rotation: {:?} -> {:?}",
                    before.phase, step.status.phase
                ),
            ));
        }
        self.status = step.status;
        self.notes.extend(step.notes);
        let Some(effect) = step.effect else { return Ok(()) };
        if crash == Crash::BeforeCall {
            return Ok(());
        }
        let outcome = self.execute(&effect)?;
        if crash == Crash::AfterCall {
            return Ok(());
        }
        if effect == Effect::RemoveFinalizer && outcome == Outcome::Done {
            if facts.deleting {
                self.gone = true;
            }
            return Ok(());
        }
        let (after, notes) = absorb(&self.status, &facts, &effect, outcome);
        if effect.calls_vendor() && !progressed(&self.status, &after) {
            self.idle_calls.push(self.now);
        }
        self.status = after;
        self.notes.extend(notes);
        Ok(())
    }

    /// Checked after every event.
    fn check_always(&self) -> Result<(), Violation> {
        // I1: every recipe the operator stopped and nobody started again is in the status.
        for r in self.recipes.iter().filter(|r| r.stopped_by_us && !r.running) {
            let recorded = self
                .status
                .recipes
                .iter()
                .any(|p| p.id == r.id && p.state.is_held());
            if !recorded && !self.gone {
                return Err(violation(
                    "I1",
                    format!(
                        "recipe {} is stopped by the operator but not held in status ({:?})",
                        r.id,
                        self.status.recipes.iter().find(|p| p.id == r.id)
                    ),
                ));
            }
            if self.gone {
                return Err(violation(
                    "I4",
                    format!("the rotation is gone with recipe {} still stopped", r.id),
                ));
            }
        }
        // Never ask a person to deactivate the token that is published (it would be an outage).
        let f = self.clone().facts();
        let asks = report::conditions(&self.status, &f)
            .into_iter()
            .any(|c| c.type_ == types::OLD_TOKEN_REVOKED && c.status == Status::False);
        if asks && self.status.old_token_fingerprint == self.published && !self.gone {
            return Err(violation(
                "I2",
                format!(
                    "asks to deactivate the published token ({:?}, {:?})",
                    self.status.phase, self.status.outcome
                ),
            ));
        }
        // I8: the only Secret deleted is the rotation's own (the model keeps no foreign one at its
        // name: the name carries the rotation's uid); I6 is checked at each stop.
        Ok(())
    }

    /// Checked once the world has settled (no effect left to run).
    fn check_settled(&self) -> Result<(), Violation> {
        let s = &self.status;
        let finished = s.phase.is_some_and(|p| p.is_terminal());
        let held: Vec<i64> = self
            .recipes
            .iter()
            .filter(|r| r.stopped_by_us && !r.running)
            .map(|r| r.id)
            .collect();
        let f = self.clone().facts();
        let conds = report::conditions(s, &f);
        let ready = conds.iter().find(|c| c.type_ == types::READY);
        // I1: recipes left stopped are named, warned about, counted, and Ready is not True.
        if !held.is_empty() {
            if ready.is_some_and(|c| c.status == Status::True) {
                return Err(violation(
                    "I1",
                    format!("recipes {held:?} stopped and Ready is True"),
                ));
            }
            if finished || s.token_lost_time.is_some() {
                if report::recipes_left_stopped(s) < held.len() {
                    return Err(violation(
                        "I1",
                        format!(
                            "recipes {held:?} left stopped but the metric says {}",
                            report::recipes_left_stopped(s)
                        ),
                    ));
                }
                let warned = self.notes.iter().any(|n| {
                    n.warning && matches!(n.reason, "RecipesLeftStopped" | "RecipeStartFailed" | "TokenLost")
                });
                if !warned {
                    return Err(violation(
                        "I1",
                        format!("recipes {held:?} left stopped without a Warning event"),
                    ));
                }
                let named = conds.iter().any(|c| {
                    c.status != Status::True && held.iter().all(|id| c.message.contains(&id.to_string()))
                });
                if !named {
                    return Err(violation(
                        "I1",
                        format!("recipes {held:?} left stopped, not named in a condition"),
                    ));
                }
            }
        }
        if !finished {
            return Ok(());
        }
        let published = self.published.clone();
        let live: Vec<(usize, &Conn)> = self
            .conns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.wc_exists)
            .filter(|(_, c)| s.connections.iter().any(|p| p.name == c.name))
            .collect();
        // I3: every connection ends on the published token, or is named as not put back.
        for (_, c) in &live {
            if c.holds != published {
                let named = s
                    .connections
                    .iter()
                    .any(|p| p.name == c.name && p.state == ConnectionState::RollbackFailed)
                    && s.outcome == Some(RotationOutcome::RollbackFailed)
                    && s.plan_summary.as_deref().is_some_and(|m| m.contains(&c.name));
                let refused = !c.env_ok || !c.provider_ok;
                if !named && !refused {
                    return Err(violation(
                        "I3",
                        format!(
                            "{} holds {:?} but {:?} is published ({:?})",
                            c.name, c.holds, published, s.outcome
                        ),
                    ));
                }
            }
        }
        // I2: Succeeded only when every connection holds the published token and passed the
        // test, and every recipe stopped runs; RolledBack only when every rollback succeeded.
        match s.outcome {
            Some(RotationOutcome::Succeeded) => {
                for (i, c) in &live {
                    if c.holds != published || !self.works(*i) {
                        return Err(violation(
                            "I2",
                            format!(
                                "Succeeded but {} holds {:?} (authorized {})",
                                c.name, c.holds, c.authorized
                            ),
                        ));
                    }
                }
                if !held.is_empty() {
                    return Err(violation(
                        "I2",
                        format!("Succeeded with recipes {held:?} stopped"),
                    ));
                }
                if published.as_ref() != s.new_token_fingerprint.as_ref() {
                    return Err(violation("I2", "Succeeded but the new token is not published"));
                }
            }
            Some(RotationOutcome::RolledBack)
                if s.connections
                    .iter()
                    .any(|c| c.state == ConnectionState::RollbackFailed) =>
            {
                return Err(violation("I2", "RolledBack with a failed rollback"));
            }
            _ => {}
        }
        if s.outcome.is_some_and(|o| o.is_success()) && ready.is_none_or(|c| c.status != Status::True) {
            return Err(violation("I2", "succeeded but Ready is not True"));
        }
        Ok(())
    }

    /// Lets the world settle: a cooperative world (no faults), time passing, the operator running.
    fn settle(&mut self) -> Result<(), Violation> {
        self.faults.clear();
        self.read_error = None;
        for _ in 0..400 {
            if self.gone {
                break;
            }
            let before = self.status.clone();
            let calls = self.vendor_calls.len();
            self.step(Crash::None)?;
            self.check_always()?;
            if self.status == before && self.vendor_calls.len() == calls {
                self.now += SignedDuration::from_secs(60);
            }
        }
        self.check_settled()
    }
}

/// Whether a call moved the rotation (anything but its backoff, summary and check time).
fn progressed(before: &CredentialRotationStatus, after: &CredentialRotationStatus) -> bool {
    let strip = |s: &CredentialRotationStatus| CredentialRotationStatus {
        backoff: None,
        plan_summary: None,
        last_checked_time: None,
        ..s.clone()
    };
    strip(before) != strip(after)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Crash {
    None,
    BeforeCall,
    AfterCall,
}

fn scenario(rng: &mut fastrand::Rng) -> Scenario {
    let connections = rng.usize(1..=3);
    Scenario {
        strategy: [
            None,
            Some(RotationStrategy::Overlap),
            Some(RotationStrategy::StopAndRestart),
        ][rng.usize(0..3)],
        trigger: [Trigger::Person, Trigger::NewToken, Trigger::Scheduled][rng.usize(0..3)],
        connections,
        recipes_per_conn: rng.usize(0..=3),
        new_token_at_start: rng.bool(),
        env_mismatch: (rng.u8(0..10) == 0).then(|| rng.usize(0..connections)),
        provider_mismatch: (rng.u8(0..10) == 0).then(|| rng.usize(0..connections)),
    }
}

fn event(rng: &mut fastrand::Rng, sc: &Scenario) -> Event {
    let conn = rng.usize(0..sc.connections);
    let recipe = rng.usize(0..(sc.connections * sc.recipes_per_conn).max(1));
    let target = [
        Target::TrackVia,
        Target::RecipeCall,
        Target::Push,
        Target::Listing,
    ][rng.usize(0..4)];
    let kind = [FaultKind::Transient, FaultKind::LostAnswer, FaultKind::Permanent][rng.usize(0..3)];
    match rng.u32(0..100) {
        0..=44 => Event::Step,
        45..=49 => Event::CrashBeforeCall,
        50..=54 => Event::CrashAfterCall,
        55..=60 => Event::Advance([5, 30, 120, 700, 3600][rng.usize(0..5)]),
        61..=64 => Event::PlaceNew,
        65..=66 => Event::Regenerate,
        67 => Event::PlaceBad,
        68 => Event::PlaceUnscoped,
        69 => Event::RemoveToken,
        70 => Event::RestoreOld,
        71..=72 => Event::RevokeOld,
        73..=74 => Event::Approve,
        75 => Event::DeleteRotation,
        76 => Event::DeleteAccount,
        77..=79 => Event::ReadError(rng.bool()),
        80..=89 => Event::Fault(target, kind),
        90..=92 => Event::TestFails(conn),
        93..=94 => Event::StartRefused(recipe),
        95..=97 => Event::PersonStarts(recipe),
        _ => Event::DeleteConnection(conn),
    }
}

/// Runs one sequence; the first violation, if any.
fn run(sc: &Scenario, events: &[Event]) -> Option<Violation> {
    let trace = std::env::var_os("MODEL_TRACE").is_some();
    let mut w = World::new(sc.clone());
    for e in events {
        let r = w.apply(e);
        if trace {
            println!("{e:?} -> {}", w.describe());
        }
        if let Err(v) = r {
            return Some(v);
        }
    }
    let r = w.settle().err();
    if trace {
        println!("settled -> {}", w.describe());
    }
    r
}

/// The shortest sub-sequence (by removing events) that still breaks the same invariant.
fn shrink(sc: &Scenario, events: &[Event], invariant: &str) -> Vec<Event> {
    let mut best = events.to_vec();
    let mut chunk = best.len().div_ceil(2).max(1);
    while chunk >= 1 {
        let mut i = 0;
        let mut progressed = false;
        while i < best.len() {
            let mut candidate = best.clone();
            let end = (i + chunk).min(candidate.len());
            candidate.drain(i..end);
            if run(sc, &candidate).is_some_and(|v| v.invariant == invariant) {
                best = candidate;
                progressed = true;
            } else {
                i += chunk;
            }
        }
        if !progressed {
            if chunk == 1 {
                break;
            }
            chunk /= 2;
        }
    }
    best
}

fn generate(seed: u64) -> (Scenario, Vec<Event>) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let sc = scenario(&mut rng);
    let n = rng.usize(10..120);
    let events = (0..n).map(|_| event(&mut rng, &sc)).collect();
    (sc, events)
}

#[test]
fn generated_sequences_keep_every_invariant() {
    let count: u64 = std::env::var("MODEL_SEQUENCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let base: u64 = std::env::var("MODEL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x7e57_5eed);
    let single = std::env::var("MODEL_SEED").is_ok();
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for k in 0..if single { 1 } else { count } {
        let seed = base.wrapping_add(k);
        let (sc, events) = generate(seed);
        if let Some(v) = run(&sc, &events) {
            let minimal = shrink(&sc, &events, v.invariant);
            let again = run(&sc, &minimal).map(|v| v.to_string()).unwrap_or_default();
            panic!(
                "MODEL_SEED={seed}: {v}\nscenario: {sc:?}\nshortest sequence ({} of {} events): {minimal:?}\nits violation: {again}",
                minimal.len(),
                events.len()
            );
        }
        let mut w = World::new(sc.clone());
        for e in &events {
            let _ = w.apply(e);
        }
        let _ = w.settle();
        let label = w
            .status
            .outcome
            .map_or_else(|| format!("{:?}", w.status.phase), |o| o.to_string());
        *outcomes.entry(label).or_default() += 1;
    }
    println!("model: {count} sequences from seed {base}; outcomes {outcomes:?}");
    // The generator reaches the interesting endings, not only the happy one.
    for wanted in [
        "Succeeded",
        "RolledBack",
        "Cancelled",
        "Aborted",
        "RecipeStartFailed",
        "NewTokenInvalid",
    ] {
        assert!(
            single || outcomes.contains_key(wanted),
            "no sequence ended {wanted}: {outcomes:?}"
        );
    }
}

/// I10: whatever keeps failing, a rotation makes at most [`MAX_EFFECTS_PER_HOUR`] vendor calls
/// that move nothing in any hour, however often it is woken (every second here). Calls that move
/// it (a recipe stopped, a connection switched) are bounded by what there is to do.
#[test]
fn a_persistent_failure_never_becomes_a_loop_of_vendor_calls() {
    for sc_seed in 0..24u64 {
        for (target, kind) in [
            (Target::TrackVia, FaultKind::Transient),
            (Target::Push, FaultKind::Transient),
            (Target::RecipeCall, FaultKind::Transient),
            (Target::Listing, FaultKind::Transient),
            (Target::Push, FaultKind::Permanent),
            (Target::RecipeCall, FaultKind::Permanent),
        ] {
            let mut rng = fastrand::Rng::with_seed(sc_seed);
            let sc = scenario(&mut rng);
            let mut w = World::new(sc.clone());
            let warmup = rng.usize(0..30);
            for _ in 0..warmup {
                let _ = w.apply(&Event::Step);
            }
            w.idle_calls.clear();
            let start = w.now;
            // Two hours, one reconcile a second, the fault re-armed before every one.
            for _ in 0..2 * 3600 {
                w.faults.insert(target, kind);
                let _ = w.step(Crash::None);
            }
            let hours = w.now.duration_since(start).as_hours().max(1);
            for h in 0..hours {
                let from = start + SignedDuration::from_hours(h);
                let to = from + SignedDuration::from_hours(1);
                let n = w.idle_calls.iter().filter(|t| **t >= from && **t < to).count();
                assert!(
                    n <= MAX_EFFECTS_PER_HOUR,
                    "{target:?} {kind:?}, scenario {sc:?}: {n} vendor calls in hour {h} (phase {:?})",
                    w.status.phase
                );
            }
        }
    }
}
