//! The recipe runtime: running recipes poll their trigger on every tick, which tests their
//! connections against the TrackVia state; repeated errors stop the recipe. Also the
//! task-limit switch.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use super::probe::test_connection;
use crate::config::Config;
use crate::error::StateError;
use crate::world::trackvia::TrackviaState;
use crate::world::workato::{Job, Workspace};
use crate::world::{Shared, World};

/// Stop cause given when the consecutive trigger-error threshold is reached.
pub const TRIGGER_ERRORS_LIMIT: &str = "trigger_errors_limit";

/// What one or more ticks did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TickReport {
    /// Ticks run.
    pub ticks: u64,
    /// Recipe polls.
    pub polls: u64,
    /// Polls that failed.
    pub poll_errors: u64,
    /// Recipes stopped with `trigger_errors_limit`.
    pub stopped: u64,
}

/// A failed poll: which connection failed and why.
struct PollError {
    connection: Option<u64>,
    error: String,
}

/// Runs one poll of every running recipe in every workspace.
pub fn tick(world: &mut World, now: Timestamp, config: &Config) -> TickReport {
    let World { trackvia, workato } = world;
    let mut report = TickReport {
        ticks: 1,
        ..TickReport::default()
    };
    let next_job_id = &mut workato.next_job_id;
    for ws in &mut workato.workspaces {
        let outcomes: Vec<(usize, Result<(), PollError>)> = ws
            .recipes
            .iter()
            .enumerate()
            .filter(|(_, r)| r.running)
            .map(|(index, r)| (index, poll(trackvia, ws, &r.config, now, config)))
            .collect();
        for (index, outcome) in outcomes {
            report.polls += 1;
            let failed = outcome.is_err();
            if apply_outcome(
                ws,
                index,
                outcome,
                *next_job_id,
                now,
                config.auth_error_stop_threshold,
            ) {
                report.stopped += 1;
            }
            report.poll_errors += u64::from(failed);
            *next_job_id += 1;
        }
    }
    report
}

fn poll(
    trackvia: &TrackviaState,
    ws: &Workspace,
    entries: &[crate::world::workato::ConfigEntry],
    now: Timestamp,
    config: &Config,
) -> Result<(), PollError> {
    for entry in entries {
        let Some(id) = entry.account_id else {
            return Err(PollError {
                connection: None,
                error: "no connection selected".into(),
            });
        };
        let Some(connection) = ws.connection(id) else {
            return Err(PollError {
                connection: Some(id),
                error: "connection does not exist".into(),
            });
        };
        test_connection(trackvia, now, &config.trackvia_input_keys, connection).map_err(|error| {
            PollError {
                connection: Some(id),
                error,
            }
        })?;
    }
    Ok(())
}

/// Records the poll's job; returns true when the recipe was stopped.
fn apply_outcome(
    ws: &mut Workspace,
    index: usize,
    outcome: Result<(), PollError>,
    job_id: u64,
    now: Timestamp,
    threshold: u32,
) -> bool {
    let Some(recipe) = ws.recipes.get_mut(index) else {
        return false;
    };
    let job = |error: Option<String>| {
        let title = if error.is_some() {
            "Trigger poll error"
        } else {
            "New record in TrackVia"
        };
        let poll = error.is_some();
        new_job(job_id, now, title, error, poll)
    };
    match outcome {
        Ok(()) => {
            recipe.consecutive_errors = 0;
            recipe.record_job(job(None));
            false
        }
        Err(PollError { connection, error }) => {
            recipe.consecutive_errors = recipe.consecutive_errors.saturating_add(1);
            recipe.record_job(job(Some(error.clone())));
            if threshold == 0 || recipe.consecutive_errors < threshold {
                return false;
            }
            recipe.stop(Some(TRIGGER_ERRORS_LIMIT.into()), now);
            if let Some(connection) = connection.and_then(|id| ws.connection_mut(id)) {
                connection.connection_lost_at = Some(now);
                connection.connection_lost_reason = Some(error);
            }
            true
        }
    }
}

/// A finished job: failed when `error` is set (`poll`: its trigger poll failed).
fn new_job(id: u64, now: Timestamp, title: &str, error: Option<String>, poll: bool) -> Job {
    Job {
        id,
        flow_run_id: id,
        started_at: now,
        completed_at: now,
        title: title.to_owned(),
        is_error: error.is_some(),
        is_poll_error: poll && error.is_some(),
        error,
    }
}

/// Runs one job of recipe `recipe` in `workspace` now, whatever its state, that fails with
/// `error` in an action step or succeeds without one (what a person sees when a recipe's step
/// fails against another application, or works again). Counted like any job; the recipe is not
/// stopped. Returns the job.
pub fn run_job(
    world: &mut World,
    workspace: &str,
    recipe: u64,
    now: Timestamp,
    error: Option<String>,
) -> Result<Job, StateError> {
    let id = world.workato.next_job_id;
    let r = world
        .workato
        .workspace_mut(workspace)?
        .recipe_mut(recipe)
        .ok_or_else(|| StateError::NotFound(format!("no recipe {recipe} in workspace {workspace}")))?;
    let title = if error.is_some() {
        "Action failed"
    } else {
        "New record in TrackVia"
    };
    let job = new_job(id, now, title, error, false);
    r.record_job(job.clone());
    world.workato.next_job_id += 1;
    Ok(job)
}

/// Turns the task-limit switch on (every running recipe stops with `cause`) or off (nothing
/// restarts by itself). Returns how many recipes were stopped.
pub fn set_task_limit(world: &mut World, reached: bool, now: Timestamp, cause: &str) -> usize {
    world.workato.task_limit_reached = reached;
    if !reached {
        return 0;
    }
    let mut stopped = 0;
    for recipe in world
        .workato
        .workspaces
        .iter_mut()
        .flat_map(|w| w.recipes.iter_mut())
    {
        if recipe.running {
            recipe.stop(Some(cause.to_owned()), now);
            stopped += 1;
        }
    }
    stopped
}

/// Runs `count` ticks now.
pub fn run_ticks(shared: &Shared, count: u64) -> TickReport {
    let mut total = TickReport::default();
    for _ in 0..count {
        let now = shared.clock.now();
        let report = tick(&mut shared.world(), now, &shared.config);
        total.ticks += report.ticks;
        total.polls += report.polls;
        total.poll_errors += report.poll_errors;
        total.stopped += report.stopped;
    }
    total
}

/// Spawns the background poller (none when the interval is zero); it ends on shutdown.
pub fn spawn(
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    let period = shared.config.recipe_poll_interval;
    if period == Duration::ZERO {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {
                    let report = run_ticks(&shared, 1);
                    tracing::trace!(?report, "recipe poll tick");
                }
                _ = shutdown.changed() => break,
            }
        }
    }))
}
