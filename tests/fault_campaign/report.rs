//! What a run saw and the invariants it violated; the run's line, its dump, the campaign's table.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;

use crate::plan::{Endpoint, Kind, Plan};
use crate::support;
use crate::world::{Seen, World};

/// The invariants, counted one by one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Inv {
    I1,
    I2,
    I3,
    I4,
    I5,
    I6,
    I7,
    I8,
    I9,
    I10,
    Once,
    Scope,
    OneRotation,
    NoCrash,
    Settles,
    Finishes,
}

impl Inv {
    pub const ALL: [Inv; 16] = [
        Inv::I1,
        Inv::I2,
        Inv::I3,
        Inv::I4,
        Inv::I5,
        Inv::I6,
        Inv::I7,
        Inv::I8,
        Inv::I9,
        Inv::I10,
        Inv::Once,
        Inv::Scope,
        Inv::OneRotation,
        Inv::NoCrash,
        Inv::Settles,
        Inv::Finishes,
    ];

    pub fn short(self) -> &'static str {
        match self {
            Inv::I1 => "I1",
            Inv::I2 => "I2",
            Inv::I3 => "I3",
            Inv::I4 => "I4",
            Inv::I5 => "I5",
            Inv::I6 => "I6",
            Inv::I7 => "I7",
            Inv::I8 => "I8",
            Inv::I9 => "I9",
            Inv::I10 => "I10",
            Inv::Once => "once",
            Inv::Scope => "scope",
            Inv::OneRotation => "one-rotation",
            Inv::NoCrash => "no-crash",
            Inv::Settles => "settles",
            Inv::Finishes => "finishes",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Inv::I1 => {
                "I1 never silent: a recipe the operator stopped runs, or is named (rotation, WorkatoConnection, Warning event, metric, Ready not True) until a person starts it"
            }
            Inv::I2 => {
                "I2 truthful outcome (Succeeded / RolledBack / the connections a failure leaves are named), status consistent with Workato"
            }
            Inv::I3 => {
                "I3 one token: every connection on the published token; no WorkatoConnection left RotationPending"
            }
            Inv::I4 => {
                "I4 deletion is safe: a deleted rotation goes once what it stopped runs (or is handed over)"
            }
            Inv::I5 => {
                "I5 errors are not facts (no outcome from a failed read); the published token always works"
            }
            Inv::I6 => "I6 no unattended outage: no recipe stop before the approval",
            Inv::I7 => "I7 environment guard: every connection update goes to the sandbox workspace",
            Inv::I8 => "I8 nothing foreign deleted (decoys at the old-token names, the campaign's Secrets)",
            Inv::I9 => {
                "I9 staged or nothing: no update of a connection whose recipes run, unless Overlap with both tokens valid"
            }
            Inv::I10 => "I10 bounded vendor retries (error answers per path per run)",
            Inv::Once => "no recipe stopped or started twice",
            Inv::Scope => "StopAndRestart stopped exactly the running dependents, Overlap none",
            Inv::OneRotation => {
                "one rotation per run (plus the account's follow-up for the token left after a failure)"
            }
            Inv::NoCrash => "no crash (operator exits by itself)",
            Inv::Settles => "the IntegrationAccount settles (Ready, published = current token)",
            Inv::Finishes => "every run finishes within the deadline",
        }
    }
}

/// What one run saw.
#[derive(Default)]
pub struct Report {
    pub outcome: String,
    pub duration: Duration,
    /// The rotation's phase when the operator was killed.
    pub kill_phase: Option<String>,
    pub apiserver_away: Option<Duration>,
    /// The injected fault was consumed by a matching call.
    pub fired: bool,
    /// Faulted calls of the one-shot fault in the call log (a call whose client gave up, a
    /// timeout, is not logged: the emulator stops handling it when the client hangs up).
    pub logged: Vec<(Kind, String)>,
    pub violations: Vec<(Inv, String)>,
    /// Vendor routes called during the run.
    pub routes: BTreeSet<Endpoint>,
    /// Stop/start calls Workato refused as repeated ("already stopped/running").
    pub refused_repeats: usize,
    pub operator_exits: usize,
    pub fatal: bool,
    /// The drawn event took effect (its fault fired, the token was replaced, the rotation was
    /// deleted, the approval given, the fault stayed its window).
    pub event_took: bool,
    /// What the event did, in words.
    pub happened: Vec<String>,
    /// Rotations the account started after the run's rotation did not succeed: name, outcome.
    pub followups: Vec<(String, String)>,
    /// I10: the most error answers on one concrete path in the run.
    pub worst_errors: (usize, String),
    /// I10: the most error answers on one path of the persistent fault, within its window.
    pub window_errors: Option<(usize, String)>,
    /// Recipes left stopped (by design) that the person started after the checks.
    pub person_started: Vec<i64>,
    /// Decoy Secrets placed before the rotation kept its old token.
    pub decoys: usize,
    /// The run's rotation status, printed with a violation.
    pub status_json: String,
}

impl Report {
    pub fn violation(&mut self, inv: Inv, v: String) {
        if !self.violations.iter().any(|(i, x)| *i == inv && *x == v) {
            self.violations.push((inv, v));
        }
    }
}

pub fn print_run(plan: &Plan, rep: &Report) {
    for (inv, v) in &rep.violations {
        println!("      VIOLATION [{}] {v}", inv.short());
    }
    if !rep.violations.is_empty() {
        println!(
            "      replay: FAULT_SEED as printed above; run {} event {}; rotation status: {}",
            plan.index,
            plan.event_label(),
            rep.status_json
        );
    }
}

/// Writes what a run with a violation saw (its call log, every rotation's last status, the
/// violations) to `target/test-logs/<namespace>-run-<n>.json`, for whoever fixes it.
pub fn dump(w: &World, plan: &Plan, rep: &Report, seen: &Seen) {
    let path = support::repo_root().join(format!("target/test-logs/{}-run-{}.json", w.ns, plan.index));
    let doc = json!({
        "run": plan.index,
        "strategy": plan.strategy.label(),
        "fault": plan.fault.as_ref().map(|(e, k)| format!("{} on {}", k.label(), e.label())),
        "event": plan.event_label(),
        "violations": rep.violations.iter().map(|(i, v)| format!("[{}] {v}", i.short())).collect::<Vec<_>>(),
        "rotations": seen.tracked.values().map(|t| json!({"name": t.name, "gone": t.gone, "last": t.last})).collect::<Vec<_>>(),
        // Without the query: TrackVia's holds the credentials (the secret scan of `make test`
        // reads target/test-logs).
        "calls": seen.calls.iter().map(|c| {
            let mut c = c.clone();
            if let Some(o) = c.as_object_mut() {
                o.remove("query");
            }
            c
        }).collect::<Vec<_>>(),
    });
    let _ = std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap_or_default());
    println!("      details: {}", path.display());
}
