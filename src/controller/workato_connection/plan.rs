//! The pure part of the WorkatoConnection reconciler: from what was observed, the conditions,
//! the status fields and the one step to take. Unit-tested without a cluster (`plan/tests.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use crate::api::credential_rotation::{CredentialRotationSpec, CredentialRotationStatus};
use crate::api::integration_account::RotationStrategy;
use crate::api::workato_connection::{
    AdoptionPolicy, RecipeJobsStatus, RecipeStatus, WorkatoConnection, WorkatoConnectionStatus,
};
use crate::api::{LocalRef, TrackViaAccount, WorkatoWorkspace};
use crate::conditions::{self, Cond, reasons, types};
use crate::domain::connection::{environment_guard, provider};
use crate::domain::recipes::QUOTA_STOP_CAUSES;
use crate::external::http::trim_message;
use crate::reconcile::signed;
use crate::secret::scrub;
use crate::workato::{Connection, Recipe};

mod jobs;
pub use jobs::{auth_failing, auth_failures, jobs_due, jobs_to_read, read_jobs, record_jobs};

/// When to look again after the environment guard refused (nothing a reconcile can change).
pub const AFTER_MISMATCH: Duration = Duration::from_secs(600);
/// When to look again while a reference or the workspace is missing or not ready.
pub const AFTER_MISSING: Duration = Duration::from_secs(60);
/// When to look again while the connection cannot be used yet.
pub const AFTER_UNRESOLVED: Duration = Duration::from_secs(30);

/// The environment guard (I7) before any Workato call: the `EnvironmentMatched` condition, or the
/// mismatch message (then nothing else happens).
pub fn environment(workspace: &WorkatoWorkspace, account: &TrackViaAccount) -> Result<Cond, String> {
    environment_guard(workspace, account)?;
    Ok(Cond::true_(
        reasons::EnvironmentMatched::Matched,
        format!(
            "workspace and TrackVia account are both {}",
            account.spec.environment
        ),
    ))
}

/// Whether a mismatch is news (an Event) rather than the condition already reported.
pub fn mismatch_is_news(status: &WorkatoConnectionStatus) -> bool {
    !conditions::has_reason(
        &status.common.conditions,
        reasons::EnvironmentMatched::EnvironmentMismatch,
    )
}

/// Whether the workspace reports `Ready`.
pub fn workspace_ready(workspace: &WorkatoWorkspace) -> bool {
    let conds = workspace
        .status
        .as_ref()
        .map(|s| &s.common.conditions[..])
        .unwrap_or(&[]);
    conditions::find(conds, types::READY).is_some_and(|c| c.status == "True")
}

/// Which connection the WorkatoConnection is bound to.
#[derive(Debug, PartialEq)]
pub enum Resolution {
    /// This one (`ConnectionFound` says how it was found).
    Found(Connection, Cond),
    /// None has the spec's name: create it (the intent recorded first).
    Create {
        /// The name.
        name: String,
    },
    /// None can be used; the condition says why.
    Unresolved(Cond),
}

/// Finds the connection in the workspace's listing: the one recorded in status, the spec's id, or
/// the spec's name. A connection of another connector is never chosen (I9).
pub fn resolve(wc: &WorkatoConnection, recorded: Option<i64>, list: &[Connection]) -> Resolution {
    let wanted = provider(wc);
    let other_provider = |c: &Connection| c.provider.as_deref().is_some_and(|p| p != wanted);
    if let Some(id) = recorded.or(wc.spec.connection.id) {
        return match list.iter().find(|c| c.id == id) {
            Some(c) if other_provider(c) => Resolution::Unresolved(Cond::false_(
                reasons::ConnectionFound::ProviderMismatch,
                format!(
                    "connection {id} ({}) is a {} connection, not {wanted}: it is never written; check spec.connection.id or spec.provider",
                    c.name,
                    c.provider.as_deref().unwrap_or("?")
                ),
            )),
            Some(c) => Resolution::Found(
                c.clone(),
                Cond::true_(
                    reasons::ConnectionFound::Found,
                    format!("connection {id} ({})", c.name),
                ),
            ),
            None => Resolution::Unresolved(Cond::false_(
                reasons::ConnectionFound::ConnectionNotFound,
                format!("connection {id} does not exist in the workspace"),
            )),
        };
    }
    let Some(name) = wc.spec.connection.name.clone() else {
        return Resolution::Unresolved(Cond::false_(
            reasons::ConnectionFound::NoSelector,
            "spec.connection names neither an id nor a name",
        ));
    };
    let named: Vec<&Connection> = list.iter().filter(|c| c.name == name).collect();
    let matches: Vec<&Connection> = named.iter().copied().filter(|c| !other_provider(c)).collect();
    if matches.is_empty() && !named.is_empty() {
        // Same name, another connector: neither adopted nor shadowed by a second connection of
        // the same name.
        let others: Vec<String> = named
            .iter()
            .map(|c| format!("{} ({})", c.id, c.provider.as_deref().unwrap_or("?")))
            .collect();
        return Resolution::Unresolved(Cond::false_(
            reasons::ConnectionFound::ProviderMismatch,
            format!(
                "the connections named {name:?} belong to other connectors ({}): none is {wanted}, none is written; choose another spec.connection.name or set spec.connection.id",
                others.join(", ")
            ),
        ));
    }
    match matches.as_slice() {
        [one] => Resolution::Found(
            (*one).clone(),
            Cond::true_(
                reasons::ConnectionFound::Adopted,
                format!("found connection {} by name {name:?}", one.id),
            ),
        ),
        [] => Resolution::Create { name },
        many => {
            let ids: Vec<String> = many.iter().map(|c| c.id.to_string()).collect();
            Resolution::Unresolved(Cond::false_(
                reasons::ConnectionFound::AmbiguousName,
                format!(
                    "{} connections are named {name:?} (ids {}): set spec.connection.id",
                    many.len(),
                    ids.join(", ")
                ),
            ))
        }
    }
}

/// `ConnectionFound` after the operator created the connection.
pub fn created(id: i64, name: &str) -> Cond {
    Cond::true_(
        reasons::ConnectionFound::Created,
        format!("created connection {id} ({name:?})"),
    )
}

/// What to do about the connection's credentials (`P`: the published credentials).
#[derive(Debug, PartialEq)]
pub enum Credentials<'a, P> {
    /// Nothing: report `CredentialsCurrent` (and the fingerprint the connection holds, if known).
    Report(Cond, Option<String>),
    /// Push the published credentials (first setup of a connection nothing works on yet).
    Push {
        /// The published credentials.
        published: &'a P,
        /// Fingerprint of the published token.
        fingerprint: String,
    },
    /// A live connection holds credentials someone else put there (I9): take it over through
    /// a CredentialRotation, or ask for the opt-in.
    TakeOver,
}

/// Decides about the credentials from the published ones with their token's fingerprint (`None`:
/// nothing published), the fingerprint recorded as pushed and whether Workato's last test passed.
pub fn credentials<'a, P>(
    published: Option<(&'a P, &str)>,
    pushed: Option<&str>,
    authorized: bool,
    account: &str,
) -> Credentials<'a, P> {
    match (published, pushed) {
        (None, _) => Credentials::Report(
            Cond::unknown(
                reasons::CredentialsCurrent::CredentialsNotPublished,
                format!("IntegrationAccount {account} has not published its credentials yet"),
            ),
            None,
        ),
        (Some(_), None) if authorized => Credentials::TakeOver,
        (Some((p, fp)), None) => Credentials::Push {
            published: p,
            fingerprint: fp.to_owned(),
        },
        (Some((_, fp)), Some(pushed)) if fp == pushed => {
            Credentials::Report(current(), Some(pushed.to_owned()))
        }
        (Some((_, fp)), Some(pushed)) => Credentials::Report(
            Cond::unknown(
                reasons::CredentialsCurrent::RotationPending,
                format!(
                    "the connection holds {pushed}, the published credentials are {fp}: a CredentialRotation brings them together"
                ),
            ),
            Some(pushed.to_owned()),
        ),
    }
}

/// `CredentialsCurrent` when the connection holds the published credentials.
pub fn current() -> Cond {
    Cond::true_(
        reasons::CredentialsCurrent::Current,
        "the connection holds the published credentials",
    )
}

/// Where a takeover of a live connection stands.
#[derive(Debug, PartialEq)]
pub enum TakeOver {
    /// Report the condition; nothing to do.
    Report(Cond),
    /// Create the takeover CredentialRotation `name` with `spec`, then report the condition.
    Start {
        /// Its name (deterministic: a retry finds the one an earlier attempt created).
        name: String,
        /// Its spec.
        spec: CredentialRotationSpec,
        /// The condition to report.
        cond: Cond,
    },
}

/// The name of the CredentialRotation that takes `wc`'s connection over.
pub fn takeover_name(wc: &WorkatoConnection) -> String {
    let uid: String = wc.uid().unwrap_or_default().chars().take(8).collect();
    format!(
        "{}-takeover-{uid}",
        wc.name_any().chars().take(200).collect::<String>()
    )
}

/// Whether the spec opts in to taking a live connection over: `spec.adoption: StopAndRestart`,
/// or `spec.migrateFromOAuth: true` (the same staged switch, to the Auth Token type).
pub fn takes_over(wc: &WorkatoConnection) -> bool {
    wc.spec.adoption == Some(AdoptionPolicy::StopAndRestart) || wc.spec.migrate_from_oauth == Some(true)
}

/// A live connection is taken over only on opt-in (`spec.adoption: StopAndRestart`), through a
/// CredentialRotation that stops its running recipes, pushes, tests and restarts them.
/// `existing`: the status of the takeover rotation, if there is one (`Some(None)`: no status yet).
pub fn take_over(
    wc: &WorkatoConnection,
    id: i64,
    existing: Option<Option<&CredentialRotationStatus>>,
) -> TakeOver {
    if !takes_over(wc) {
        return TakeOver::Report(Cond::false_(
            reasons::CredentialsCurrent::AdoptionPending,
            format!(
                "connection {id} is live (Workato's last test passed) with credentials the operator did not put there, and it is left untouched; to hand it over, set spec.adoption: StopAndRestart, or spec.migrateFromOAuth: true if it is an OAuth connection (its running recipes stop while the credentials change and are tested)"
            ),
        ));
    }
    // The rotation reads the connection id from this object's status: wait until it is there.
    if wc.status.as_ref().and_then(|s| s.connection_id) != Some(id) {
        return TakeOver::Report(Cond::unknown(
            reasons::CredentialsCurrent::TakingOver,
            format!("taking connection {id} over"),
        ));
    }
    let name = takeover_name(wc);
    let taking_over = Cond::unknown(
        reasons::CredentialsCurrent::TakingOver,
        format!("CredentialRotation {name} takes connection {id} over (stop, update, test, restart)"),
    );
    match existing {
        Some(st) => {
            let st = st.cloned().unwrap_or_default();
            TakeOver::Report(match (st.phase, st.outcome) {
                (Some(p), Some(o)) if p.is_terminal() && !o.is_success() => Cond::false_(
                    reasons::CredentialsCurrent::TakeOverFailed,
                    format!(
                        "CredentialRotation {name} could not take connection {id} over ({o}): {}; fix the cause, then delete {name} to try again",
                        st.plan_summary.unwrap_or_default()
                    ),
                ),
                _ => taking_over,
            })
        }
        None => TakeOver::Start {
            spec: CredentialRotationSpec {
                integration_account_ref: LocalRef {
                    name: wc.spec.integration_account_ref.name.clone(),
                },
                strategy: Some(RotationStrategy::StopAndRestart),
                reason: Some(if wc.spec.migrate_from_oauth == Some(true) {
                    format!(
                        "migrate connection {id} from OAuth to the dedicated user's auth token (spec.migrateFromOAuth)"
                    )
                } else {
                    format!("take over live connection {id} (spec.adoption: StopAndRestart)")
                }),
                dry_run: None,
                take_over: Some(LocalRef { name: wc.name_any() }),
            },
            name,
            cond: taking_over,
        },
    }
}

/// Records Workato's view of the connection in status (authorization, lost connection), with any
/// credential in Workato's messages scrubbed.
pub fn record_connection(status: &mut WorkatoConnectionStatus, c: &Connection, secrets: &[&str]) {
    let safe = |e: &str| trim_message(&scrub(e, secrets), 300);
    status.connection_id = Some(c.id);
    status.authorization_status = c.authorization_status.clone();
    status.authorization_error = c.authorization_error.as_deref().map(safe);
    status.connection_lost_time = c
        .connection_lost_at
        .as_deref()
        .and_then(|t| t.parse().ok())
        .map(Time);
    status.connection_lost_reason = c.connection_lost_reason.as_deref().map(safe);
}

/// Whether Workato says the connection was lost after its last authorization (Workato keeps
/// `connection_lost_at` when a connection stops working during recipe runs; an authorization
/// after it means the connection works again).
fn lost(c: &Connection) -> Option<String> {
    let at = c.connection_lost_at.as_deref()?;
    let lost: Option<jiff::Timestamp> = at.parse().ok();
    let authorized: Option<jiff::Timestamp> = c.authorized_at.as_deref().and_then(|a| a.parse().ok());
    match (lost, authorized) {
        (Some(l), Some(a)) if a > l => None,
        _ => Some(at.to_owned()),
    }
}

/// `Verified`: Workato's last test of the connection, unless Workato has since lost it
/// (`connection_lost_at`). The messages come from `status`, where they are scrubbed.
pub fn verified(c: &Connection, status: &WorkatoConnectionStatus) -> Cond {
    let error = status.authorization_error.as_deref();
    if c.authorization_status.as_deref() != Some("failed")
        && let Some(at) = lost(c)
    {
        return Cond::false_(
            reasons::Verified::ConnectionLost,
            format!(
                "Workato lost the connection at {at}: {}; check the TrackVia token and user behind it (the IntegrationAccount's TokenValid), then test the connection again (a CredentialRotation does)",
                status
                    .connection_lost_reason
                    .as_deref()
                    .unwrap_or("no reason given")
            ),
        );
    }
    match c.authorization_status.as_deref() {
        Some("success") => Cond::true_(
            reasons::Verified::Authorized,
            format!(
                "Workato's test passed{}",
                c.authorized_at
                    .as_deref()
                    .map(|a| format!(" at {a}"))
                    .unwrap_or_default()
            ),
        ),
        Some(other) => Cond::false_(
            reasons::Verified::AuthorizationFailed,
            format!("Workato's test: {other}: {}", error.unwrap_or("no reason given")),
        ),
        None => Cond::unknown(reasons::Verified::NotTested, "the connection has not been tested"),
    }
}

/// A recipe a rotation stopped and has not seen run again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// The rotation.
    pub rotation: String,
    /// The rotation cannot restart it by itself any more (it finished, or lost the token): a
    /// person must act.
    pub left: bool,
}

/// Records the inventory of dependent recipes. The listing is shared and re-read once per
/// interval: the refresh time moves when the inventory changes or an interval has passed, so a
/// reconcile that learns nothing writes nothing (and does not wake itself up through its status).
pub fn record_inventory(
    status: &mut WorkatoConnectionStatus,
    mine: &[&Recipe],
    held: &BTreeMap<i64, Held>,
    now: Time,
    every: Duration,
) {
    let inventory: Vec<RecipeStatus> = mine
        .iter()
        .map(|r| RecipeStatus {
            id: r.id,
            name: Some(r.name.clone()),
            running: r.running,
            stop_cause: r.stop_cause.clone(),
            held_by: held.get(&r.id).filter(|_| !r.running).map(|h| h.rotation.clone()),
        })
        .collect();
    let stale = status
        .recipes_refreshed_time
        .as_ref()
        .is_none_or(|t| now.0.duration_since(t.0) >= signed(every));
    if stale || status.recipes != inventory {
        status.recipes_refreshed_time = Some(now);
    }
    status.recipes = inventory;
    status.recipe_count = Some(i32::try_from(mine.len()).unwrap_or(i32::MAX));
}

/// Workato's `stop_cause`s of a recipe it stopped by itself: after repeated trigger errors, or at
/// the task limit (what `RecipesHealthy` reports as `StoppedByErrors` and `TaskLimitReached`).
fn stopped_by_workato_cause(cause: Option<&str>) -> bool {
    cause.is_some_and(|c| c == "trigger_errors_limit" || QUOTA_STOP_CAUSES.contains(&c))
}

/// How many recipes of the recorded inventory Workato stopped by itself (the state metric
/// `recipes_stopped_by_workato`).
pub fn stopped_by_workato(status: &WorkatoConnectionStatus) -> usize {
    status
        .recipes
        .iter()
        .filter(|r| !r.running && stopped_by_workato_cause(r.stop_cause.as_deref()))
        .count()
}

/// The recipes Workato stopped at the task limit, to start again when the spec opts in.
pub fn to_restart<'a>(wc: &WorkatoConnection, mine: &[&'a Recipe]) -> Vec<&'a Recipe> {
    let opted_in = wc
        .spec
        .recipes
        .as_ref()
        .and_then(|r| r.restart_after_task_limit)
        .unwrap_or(false);
    if !opted_in {
        return Vec::new();
    }
    mine.iter()
        .filter(|r| {
            !r.running
                && r.stop_cause
                    .as_deref()
                    .is_some_and(|c| QUOTA_STOP_CAUSES.contains(&c))
        })
        .copied()
        .collect()
}

/// `RecipesHealthy`: recipes left stopped by a rotation first (I1: never silent), then those a
/// rotation holds, then those Workato stopped after trigger errors, then those whose recent jobs
/// failed with a TrackVia 401/403 (`jobs`), then those stopped at the task limit.
pub fn recipes(recipes: &[&Recipe], held: &BTreeMap<i64, Held>, jobs: &[RecipeJobsStatus]) -> Cond {
    let stopped_by = |causes: &[&str]| -> Vec<String> {
        recipes
            .iter()
            .filter(|r| !r.running && r.stop_cause.as_deref().is_some_and(|c| causes.contains(&c)))
            .map(|r| format!("{} ({})", r.name, r.id))
            .collect()
    };
    // While a rotation runs, its record is the truth (the listing may predate its stop); once it
    // is finished, a recipe the listing shows running again is resolved.
    let by_rotation = |left: bool| -> Vec<String> {
        recipes
            .iter()
            .filter(|r| !(left && r.running))
            .filter_map(|r| {
                let h = held.get(&r.id).filter(|h| h.left == left)?;
                Some(format!(
                    "{} ({}) by CredentialRotation {}",
                    r.name, r.id, h.rotation
                ))
            })
            .collect()
    };
    let left = by_rotation(true);
    if !left.is_empty() {
        return Cond::false_(
            reasons::RecipesHealthy::LeftStoppedByRotation,
            format!(
                "recipes stopped and not restarted: {}; start them in Workato once the connection works (or exclude them in spec.recipes.exclude), or run a new rotation, which restarts them",
                left.join(", ")
            ),
        );
    }
    let rotating = by_rotation(false);
    if !rotating.is_empty() {
        return Cond::unknown(
            reasons::RecipesHealthy::StoppedForRotation,
            format!(
                "recipes stopped until the rotation restarts them: {}",
                rotating.join(", ")
            ),
        );
    }
    let auth = stopped_by(&["trigger_errors_limit"]);
    let quota = stopped_by(&QUOTA_STOP_CAUSES);
    if !auth.is_empty() {
        Cond::false_(
            reasons::RecipesHealthy::StoppedByErrors,
            format!(
                "Workato stopped {} after repeated trigger errors (authentication errors stop a recipe after 60): fix the connection's credentials, then start them",
                auth.join(", ")
            ),
        )
    } else if let failing @ [_, ..] = auth_failures(recipes, jobs).as_slice() {
        const NAMED: usize = 5;
        let more = failing.len().saturating_sub(NAMED);
        Cond::false_(
            reasons::RecipesHealthy::AuthFailures,
            format!(
                "TrackVia refused the connection's credentials (401/403) in recent jobs of {} recipe(s): {}{}; check the IntegrationAccount's token and user (401) or the role's access (403); clears when a later job of each succeeds",
                failing.len(),
                failing[..failing.len().min(NAMED)].join("; "),
                if more > 0 {
                    format!("; and {more} more")
                } else {
                    String::new()
                }
            ),
        )
    } else if !quota.is_empty() {
        Cond::false_(
            reasons::RecipesHealthy::TaskLimitReached,
            format!(
                "Workato stopped {} at the task limit: ask TrackVia to raise or reset it, then start them (or set spec.recipes.restartAfterTaskLimit)",
                quota.join(", ")
            ),
        )
    } else {
        Cond::true_(
            reasons::RecipesHealthy::Healthy,
            format!("{} dependent recipes, none stopped by Workato", recipes.len()),
        )
    }
}

#[cfg(test)]
mod tests;
