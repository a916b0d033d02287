//! The dependent recipes' jobs (pure): when to read them, which recipes to read, what a page of
//! jobs says (new failures by kind, a TrackVia authentication failure not followed by a success),
//! and the `AuthFailures` part of `RecipesHealthy`.
//!
//! "Recent" means: newer than the newest job seen at the last read of that recipe (the cursor in
//! `status.recipeJobs[].newestJobTime`); at a recipe's first read, within [`FIRST_LOOKBACK`]. An
//! authentication failure stays reported until a later job of the same recipe succeeds, or
//! [`AUTH_FAILURE_TTL`] after it happened (a recipe that runs no job cannot show a success).

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::workato_connection::{RecipeJobsStatus, WorkatoConnectionStatus};
use crate::domain::jobs::{FailureKind, classify};
use crate::external::http::trim_message;
use crate::reconcile::signed;
use crate::secret::scrub;
use crate::workato::{JobPage, Recipe};

/// How far back the first read of a recipe's jobs looks for failures.
pub const FIRST_LOOKBACK: SignedDuration = SignedDuration::from_hours(1);
/// How long an authentication failure that no later job followed stays reported.
pub const AUTH_FAILURE_TTL: SignedDuration = SignedDuration::from_hours(24);
/// At most this many recipes' jobs are read per connection per check (one call each); the others
/// wait for the next check.
pub const MAX_JOB_READS: usize = 20;
/// At most this many characters of a job's error are kept.
const EXCERPT: usize = 200;

/// Whether the jobs are due: never read, or read at least `every` ago (`every` zero: never).
pub fn jobs_due(status: &WorkatoConnectionStatus, now: &Time, every: Duration) -> bool {
    if every.is_zero() {
        return false;
    }
    status
        .jobs_checked_time
        .as_ref()
        .is_none_or(|t| now.0.duration_since(t.0) >= signed(every))
}

fn count(n: Option<u64>) -> Option<i64> {
    n.map(|n| i64::try_from(n).unwrap_or(i64::MAX))
}

/// The recipes whose jobs to read, at most [`MAX_JOB_READS`]: those whose failed-job counter
/// moved since their last read (or, never read, that have failed jobs at all), and those
/// reported for an authentication failure whose succeeded-job counter moved (a success may have
/// followed). A recipe whose listing carries no counters is always read. Reported recipes first.
pub fn jobs_to_read(mine: &[&Recipe], seen: &[RecipeJobsStatus]) -> Vec<i64> {
    let mut reported = Vec::new();
    let mut others = Vec::new();
    for r in mine {
        let prev = seen.iter().find(|s| s.id == r.id);
        let failed = count(r.job_failed_count);
        let succeeded = count(r.job_succeeded_count);
        let failing = prev.is_some_and(|p| p.auth_failure_time.is_some());
        let read = match (prev, failed) {
            (_, None) => true,
            (None, Some(f)) => f > 0,
            (Some(p), Some(f)) => {
                p.failed_count != Some(f)
                    || (failing && (succeeded.is_none() || p.succeeded_count != succeeded))
            }
        };
        if read {
            if failing { &mut reported } else { &mut others }.push(r.id);
        }
    }
    reported.extend(others);
    reported.truncate(MAX_JOB_READS);
    reported
}

/// A job's time as status keeps it (Kubernetes times have whole seconds): a job is compared
/// with the cursor at that precision, so a job finished within the cursor's second is not
/// counted again after the cursor went through status (nor, rarely, a newer one in that second).
fn whole_second(t: Timestamp) -> Option<Timestamp> {
    Timestamp::from_second(t.as_second()).ok()
}

/// What one read of a recipe's jobs found.
#[derive(Clone, Debug, PartialEq)]
pub struct JobsRead {
    /// The recipe's new record.
    pub entry: RecipeJobsStatus,
    /// New failed jobs that are TrackVia authentication failures.
    pub auth: u64,
    /// Other new failed jobs.
    pub other: u64,
}

/// Reads a page of `recipe`'s jobs (newest first, as Workato lists them): counts the failures
/// newer than the cursor (the recipe's newest job seen; never read: [`FIRST_LOOKBACK`], not the
/// last check, since the listing that showed its first failure may be older than that check),
/// and keeps the newest authentication failure unless a later job succeeded. `secrets` are
/// removed from the error kept.
pub fn read_jobs(
    recipe: &Recipe,
    prev: Option<&RecipeJobsStatus>,
    page: &JobPage,
    now: &Time,
    provider: &str,
    secrets: &[&str],
) -> JobsRead {
    let lookback = now.0.checked_sub(FIRST_LOOKBACK).unwrap_or(now.0);
    let cursor: Timestamp = prev
        .and_then(|p| p.newest_job_time.as_ref())
        .map_or(lookback, |t| t.0);
    let mut auth = 0;
    let mut other = 0;
    let mut newest = prev.and_then(|p| p.newest_job_time.as_ref()).map(|t| t.0);
    let mut newest_success: Option<Timestamp> = None;
    let mut failure: Option<(Timestamp, String)> = prev.and_then(|p| {
        Some((
            p.auth_failure_time.as_ref()?.0,
            p.auth_failure.clone().unwrap_or_default(),
        ))
    });
    for job in &page.items {
        let Some(at) = job.time().and_then(whole_second) else {
            continue;
        };
        newest = newest.max(Some(at));
        if !job.is_error {
            newest_success = newest_success.max(Some(at));
            continue;
        }
        if at <= cursor {
            continue;
        }
        match classify(job, recipe, provider) {
            FailureKind::Auth => {
                auth += 1;
                if failure.as_ref().is_none_or(|(t, _)| at > *t) {
                    let text = job.error.as_deref().unwrap_or_default();
                    failure = Some((at, trim_message(&scrub(text, secrets), EXCERPT)));
                }
            }
            FailureKind::Other => other += 1,
        }
    }
    let failure = failure.filter(|(t, _)| newest_success.is_none_or(|s| s < *t));
    JobsRead {
        entry: RecipeJobsStatus {
            id: recipe.id,
            failed_count: count(recipe.job_failed_count),
            succeeded_count: count(recipe.job_succeeded_count),
            newest_job_time: newest.map(Time),
            auth_failure_time: failure.as_ref().map(|(t, _)| Time(*t)),
            auth_failure: failure.map(|(_, e)| e),
        },
        auth,
        other,
    }
}

/// Records the reads of this check (none when the jobs were not due) in `status`: read recipes
/// get their new record, recipes that no longer depend on the connection are forgotten, and
/// authentication failures older than [`AUTH_FAILURE_TTL`] age out. Runs on every reconcile;
/// changes nothing when nothing was read and nothing aged out.
pub fn record_jobs(
    status: &mut WorkatoConnectionStatus,
    mine: &[&Recipe],
    reads: Vec<RecipeJobsStatus>,
    checked: bool,
    now: &Time,
) {
    let mut entries: Vec<RecipeJobsStatus> = std::mem::take(&mut status.recipe_jobs)
        .into_iter()
        .filter(|e| mine.iter().any(|r| r.id == e.id))
        .filter(|e| !reads.iter().any(|n| n.id == e.id))
        .collect();
    entries.extend(reads);
    let oldest = now.0.checked_sub(AUTH_FAILURE_TTL).unwrap_or(now.0);
    for e in &mut entries {
        if e.auth_failure_time.as_ref().is_some_and(|t| t.0 < oldest) {
            e.auth_failure_time = None;
            e.auth_failure = None;
        }
    }
    entries.sort_by_key(|e| e.id);
    status.recipe_jobs = entries;
    if checked {
        status.jobs_checked_time = Some(now.clone());
    }
}

/// How many dependent recipes (in the recorded inventory) have a TrackVia 401/403 in their recent
/// jobs not followed by a success, at `now` (the state metric `recipes_auth_failing`, read from
/// the status at each scrape: the same entries [`auth_failures`] names).
pub fn auth_failing(status: &WorkatoConnectionStatus, now: Timestamp) -> usize {
    let oldest = now.checked_sub(AUTH_FAILURE_TTL).unwrap_or(now);
    status
        .recipe_jobs
        .iter()
        .filter(|e| e.auth_failure_time.as_ref().is_some_and(|t| t.0 >= oldest))
        .filter(|e| status.recipes.iter().any(|r| r.id == e.id))
        .count()
}

/// The dependent recipes whose recent jobs failed with a TrackVia 401/403, as `name (id) at
/// <time>: <error>`.
pub fn auth_failures(mine: &[&Recipe], jobs: &[RecipeJobsStatus]) -> Vec<String> {
    mine.iter()
        .filter_map(|r| {
            let e = jobs.iter().find(|e| e.id == r.id)?;
            let at = e.auth_failure_time.as_ref()?;
            Some(format!(
                "{} ({}) at {}: {}",
                r.name,
                r.id,
                at.0,
                e.auth_failure.as_deref().unwrap_or("no error text")
            ))
        })
        .collect()
}
