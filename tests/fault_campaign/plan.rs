//! What a run does: the vendor endpoint and fault kind, the strategy, the SIGKILL moment, the API
//! server restart and the drawn unhappy path (`Event`).

use std::time::Duration;

use serde_json::{Value, json};

use crate::{DEFAULT_RUNS, I10_WINDOW_BOUND, PERSISTENT_WINDOW, TIMEOUT_FAULT_MS};

/// A vendor endpoint as the emulator's call log names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Endpoint {
    pub service: String,
    pub method: String,
    pub template: String,
}

impl Endpoint {
    pub fn label(&self) -> String {
        format!("{} {} {}", self.service, self.method, self.template)
    }

    /// Whether a logged call went to this endpoint (any concrete path of the template).
    pub fn matches(&self, c: &Value) -> bool {
        c["service"] == self.service.as_str()
            && c["route"].as_str() == Some(format!("{} {}", self.method, self.template).as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    ServerError,
    RateLimited,
    Timeout,
    Drop,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::ServerError, Kind::RateLimited, Kind::Timeout, Kind::Drop];

    pub fn label(self) -> &'static str {
        match self {
            Kind::ServerError => "5xx",
            Kind::RateLimited => "429+Retry-After",
            Kind::Timeout => "timeout",
            Kind::Drop => "drop",
        }
    }

    /// The fault posted to `/_emulator/faults`.
    pub fn spec(self, e: &Endpoint, rng: &mut fastrand::Rng) -> Value {
        let mut f = json!({"service": e.service, "method": e.method, "route": e.template, "count": 1});
        match self {
            Kind::ServerError => f["status"] = json!([500, 502, 503, 504][rng.usize(0..4)]),
            Kind::RateLimited => {
                f["status"] = json!(429);
                f["retryAfterSecs"] = json!(rng.u64(1..=2));
            }
            Kind::Timeout => f["latencyMs"] = json!(TIMEOUT_FAULT_MS),
            Kind::Drop => f["drop"] = json!(true),
        }
        f
    }

    /// The kind of a call log entry's `fault` (`status`, `latency`, `drop`).
    pub fn of_call(c: &Value) -> Option<Kind> {
        match c["fault"].as_str()? {
            "latency" => Some(Kind::Timeout),
            "drop" => Some(Kind::Drop),
            _ if c["status"] == 429 => Some(Kind::RateLimited),
            _ => Some(Kind::ServerError),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    StopAndRestart,
    Overlap,
}

impl Strategy {
    pub fn label(self) -> &'static str {
        match self {
            Strategy::StopAndRestart => "SAR",
            Strategy::Overlap => "Overlap",
        }
    }
}

/// The unhappy path a run plays besides its vendor fault and SIGKILL (one per run, drawn in
/// rounds so that every round of seven runs has each once).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Event {
    None,
    /// Overlap: the person places a second new token while the connections switch. StopAndRestart:
    /// the person first places a token TrackVia rejects (a typo), then a good one.
    TokenReplaced,
    /// Workato's test fails on one connection update.
    FailedTest,
    /// Workato answers a recipe start `{"success": false, ...}` (StopAndRestart).
    StartRefused,
    /// The person deletes the rotation mid-way.
    Deleted,
    /// A StopAndRestart labelled `trigger: scheduled`, approved by the person after a delay.
    Scheduled,
    /// The run's endpoint answers 5xx for 30 s, then the fault is removed (I10).
    Persistent,
}

impl Event {
    pub const DRAWN: [Event; 7] = [
        Event::None,
        Event::TokenReplaced,
        Event::FailedTest,
        Event::StartRefused,
        Event::Deleted,
        Event::Scheduled,
        Event::Persistent,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Event::None => "none",
            Event::TokenReplaced => "token-replaced",
            Event::FailedTest => "failed-test",
            Event::StartRefused => "start-refused",
            Event::Deleted => "deleted",
            Event::Scheduled => "scheduled",
            Event::Persistent => "persistent-5xx",
        }
    }

    /// Events that need recipe stops and starts.
    pub fn sar_only(self) -> bool {
        matches!(self, Event::StartRefused | Event::Scheduled)
    }
}

/// What one run does.
pub struct Plan {
    pub index: usize,
    pub strategy: Strategy,
    pub fault: Option<(Endpoint, Kind)>,
    /// SIGKILL the operator this long after the rotation is triggered (if it has not finished).
    pub kill_after: Option<Duration>,
    /// Restart the API server this long after the rotation is triggered.
    pub apiserver_restart_after: Option<Duration>,
    pub event: Event,
    /// `FailedTest`: the connection whose update fails Workato's test.
    pub failed_conn: i64,
    /// `StartRefused`: the recipe Workato refuses to start.
    pub refused_recipe: i64,
    /// `Deleted`: this long after the trigger.
    pub delete_after: Duration,
    /// `Scheduled`: this long after the rotation is seen awaiting approval.
    pub approve_after: Duration,
    /// `TokenReplaced`, Overlap: once this many connections are verified.
    pub replace_at_verified: usize,
    /// `Persistent`: the status.
    pub persistent_status: u16,
    /// Overlap: decoy Secrets (not the operator's) at the names of the rotation's old-token Secret.
    pub decoy: bool,
}

impl Plan {
    pub fn clean(index: usize, strategy: Strategy) -> Self {
        Self {
            index,
            strategy,
            fault: None,
            kill_after: None,
            apiserver_restart_after: None,
            event: Event::None,
            failed_conn: 0,
            refused_recipe: 0,
            delete_after: Duration::ZERO,
            approve_after: Duration::ZERO,
            replace_at_verified: 0,
            persistent_status: 0,
            decoy: false,
        }
    }

    /// The drawn event with its details, for the run's line and a replay.
    pub fn event_label(&self) -> String {
        let mut s = match self.event {
            Event::None => "-".to_owned(),
            Event::TokenReplaced if self.strategy == Strategy::StopAndRestart => {
                "token-replaced (a token TrackVia rejects, then a good one)".to_owned()
            }
            Event::TokenReplaced => format!(
                "token-replaced (a second token once {} connections are verified)",
                self.replace_at_verified
            ),
            Event::FailedTest => format!("failed-test (connection {})", self.failed_conn),
            Event::StartRefused => format!("start-refused (recipe {})", self.refused_recipe),
            Event::Deleted => format!(
                "deleted {:.1} s after the trigger",
                self.delete_after.as_secs_f64()
            ),
            Event::Scheduled => format!(
                "scheduled (approved {:.1} s after AwaitingApproval)",
                self.approve_after.as_secs_f64()
            ),
            Event::Persistent => format!(
                "persistent {} on the fault's endpoint for {} s",
                self.persistent_status,
                PERSISTENT_WINDOW.as_secs()
            ),
        };
        if self.decoy {
            s.push_str(" + decoys at the old-token names");
        }
        s
    }
}

/// I10's bound within the persistent fault's window for a path of endpoint `e`: each controller
/// that calls it for the rotation gets the rotation's budget, `I10_WINDOW_BOUND` (the rotation,
/// and for TrackVia's validation endpoints the IntegrationAccount, which validates the same new
/// token); endpoints other controllers poll on their own interval (the workspace check `GET
/// /api/recipes`, the WorkatoConnections' shared inventories `GET /api/connections` and `GET
/// /api/recipes`, every 5 s in the campaign) get 4 attempts per poll on top.
pub fn i10_window_bound(e: &Endpoint) -> usize {
    let callers = match (e.service.as_str(), e.method.as_str(), e.template.as_str()) {
        ("trackvia", "GET", "/openapi/views" | "/openapi/apps") => 2,
        _ => 1,
    };
    let pollers = match (e.service.as_str(), e.method.as_str(), e.template.as_str()) {
        ("workato", "GET", "/api/recipes") => 2,
        ("workato", "GET", "/api/connections") => 1,
        _ => 0,
    };
    callers * I10_WINDOW_BOUND + pollers * 4 * (PERSISTENT_WINDOW.as_secs() as usize / 5 + 1)
}

pub fn runs_from_env(matrix: usize) -> usize {
    match std::env::var("FAULT_RUNS").ok().as_deref().map(str::trim) {
        Some("all") => matrix,
        Some(n) => n.parse().unwrap_or(DEFAULT_RUNS),
        None => DEFAULT_RUNS,
    }
}
