//! The pure heart of the IntegrationAccount reconciler: from what was observed, decide the
//! conditions, the one next action for a person, the status, and at most one step to take.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use super::seen::{AccountState, Observed, SecretSeen, TokenSeen, UserLookup, Validation};
use crate::api::credential_rotation::RotationPhase;
use crate::api::integration_account::{AccessStatus, IntegrationAccount, TokenStatus, UserStatus};
use crate::conditions::{self, Cond, Reason, Status, reasons, types};
use crate::domain::access::access_diff;
use crate::domain::credentials::EXPIRES_AT_ANNOTATION;
use crate::domain::due::{self, DueBy};
use crate::domain::naming::LAST_NAME;
use crate::domain::rotation::{Revocation, Trigger};
use crate::domain::secret_ref::SecretRefError;
use crate::domain::window::{approval_deadline, in_window};
use crate::external::Classify;
use crate::reconcile::signed;
use crate::trackvia::{AuthFailure, NewUser, Reach, TrackviaError, User};

/// State recorded while the operator's create call is in flight.
pub const CREATE_PENDING: &str = "CreatePending";
/// What a person does when the operator cannot create the user.
const CREATE_FAILED_ACTION: &str = "check that the TrackViaAccount's admin token belongs to a Super Admin API user, or create the user in TrackVia by hand (the operator adopts it by email)";
/// State recorded after the operator's create call failed.
pub const CREATE_FAILED: &str = "CreateFailed";
/// State recorded when a user the list held is no longer in it.
pub const GONE: &str = "NotListed";
/// First wait after a failed create; doubles per failure.
const CREATE_BACKOFF_BASE: Duration = Duration::from_secs(60);
/// Longest wait between two create calls.
const CREATE_BACKOFF_MAX: Duration = Duration::from_secs(3600);

/// When the operator may call TrackVia's create again after a failed create, if one failed.
pub fn create_retry_at(user: &UserStatus) -> Option<Timestamp> {
    if user.state.as_deref() != Some(CREATE_FAILED) {
        return None;
    }
    retry_at(
        user.create_failed_time.as_ref(),
        user.create_attempts,
        CREATE_BACKOFF_BASE,
        CREATE_BACKOFF_MAX,
    )
}

/// When a call that failed at `failed`, the `failures`-th time in a row, may be made again.
fn retry_at(
    failed: Option<&Time>,
    failures: Option<i32>,
    base: Duration,
    max: Duration,
) -> Option<Timestamp> {
    let n = u32::try_from(failures.unwrap_or(1).saturating_sub(1)).unwrap_or(0);
    let wait = crate::external::retry::doubling(base, max, n);
    failed?.0.checked_add(signed(wait)).ok()
}

/// The conditions that make up `Ready`, in the order a person works through them.
const READY_ORDER: [&str; 5] = [
    types::USER_VERIFIED,
    types::TOKEN_PROVIDED,
    types::TOKEN_VALID,
    types::ACCESS_SCOPED,
    types::CREDENTIALS_PUBLISHED,
];

/// The one external step of a reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing to do.
    None,
    /// Create the TrackVia user (after recording the intent and adding the finalizer).
    CreateUser(NewUser),
    /// Write the credentials Secret.
    Publish,
    /// Create a CredentialRotation.
    StartRotation(RotationRequest),
}

/// A rotation the IntegrationAccount starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotationRequest {
    /// Name of the CredentialRotation (deterministic, so a retry finds the one it created).
    pub name: String,
    /// Why, for people and the history.
    pub reason: String,
    /// The `spec.rotation.requestedAt` it handles, if any.
    pub requested_at: Option<Time>,
    /// Its trigger label (`scheduled`, `requested`, `new-token`).
    pub trigger: &'static str,
}

/// What the reconcile decided.
#[derive(Debug)]
pub struct Plan {
    /// Conditions, `Ready` last.
    pub conditions: Vec<Cond>,
    /// The next thing a person must do.
    pub next_action: Option<String>,
    /// User status.
    pub user: Option<UserStatus>,
    /// Token status.
    pub token: Option<TokenStatus>,
    /// Access comparison.
    pub access: Option<AccessStatus>,
    /// The step to take.
    pub step: Step,
    /// When to look again.
    pub requeue: Duration,
    /// The account's rotations (for the status summary).
    pub rotations: Vec<super::seen::RotationSeen>,
}

/// Intervals the plan needs.
#[derive(Clone, Copy, Debug)]
pub struct Intervals {
    /// Token re-validation.
    pub token_check: Duration,
    /// User list polling while waiting for verification (or reactivation).
    pub user_poll: Duration,
    /// Reading an active user again, to see a deactivation.
    pub user_recheck: Duration,
}

/// What the plan accumulates while it goes through the conditions.
struct Draft {
    /// When to look again (the soonest of what each condition asks).
    requeue: Duration,
    /// The action a person can take, per condition type.
    actions: Vec<(&'static str, String)>,
    /// The one step to take.
    step: Step,
}

impl Draft {
    /// Look again within `d`.
    fn soon(&mut self, d: Duration) {
        self.requeue = self.requeue.min(d);
    }
}

/// What validation and the scope check decided.
struct Validated {
    valid: Cond,
    scoped: Cond,
    token: Option<TokenStatus>,
    access: Option<AccessStatus>,
}

/// Decides.
pub fn plan(ia: &IntegrationAccount, seen: &Observed, now: Timestamp, every: Intervals) -> Plan {
    let mut d = Draft {
        requeue: every.token_check,
        actions: Vec::new(),
        step: Step::None,
    };
    let (user_cond, user) = user_verified(ia, seen, now, every, &mut d);
    let provided_cond = token_provided(ia, seen, &mut d);
    let Validated {
        valid: valid_cond,
        scoped: access_cond,
        mut token,
        access,
    } = validation(ia, seen, now, &mut d);
    let (publish_cond, active) = publication(ia, seen, valid_cond.is_true(), &mut d);

    // Schedule and naming.
    let (due_cond, due_at) = rotation_due(ia, token.as_ref(), valid_cond.is_true(), now, &mut d);
    if let Some(t) = token.as_mut() {
        t.rotation_due_time = due_at.map(Time);
    }
    let naming_cond = naming(ia, &seen.user);
    // An inactive user's new token could not work: no rotation starts until it is reactivated.
    let user_inactive = user_cond.is(reasons::UserVerified::UserInactive);
    if d.step == Step::None && active.is_none() && valid_cond.is_true() && !user_inactive {
        d.step = rotation_trigger(ia, seen, &due_cond, now);
    }
    let awaiting = seen
        .rotations
        .iter()
        .find(|r| r.phase == Some(RotationPhase::AwaitingApproval));
    let due_cond = match awaiting {
        Some(r) if due_cond.is_true() => Cond {
            message: format!(
                "{}; CredentialRotation {} waits for a person's approval",
                due_cond.message, r.name
            ),
            ..due_cond
        },
        _ => due_cond,
    };
    let mut conds = vec![user_cond, provided_cond, valid_cond, access_cond, publish_cond];
    let ready = conditions::ready(
        &conds,
        &[],
        "the integration user is verified, its token valid and scoped, its credentials published",
    );
    conds.extend([due_cond, naming_cond, ready]);
    // A security finding, not a blocker: after `Ready`, so it never makes the account unready.
    if let Some(c) = old_token_condition(seen) {
        conds.push(c);
    }
    let next_action = next_action(ia, seen, &conds, &d.actions);
    if let Some(t) = token.as_ref().and_then(|t| t.last_validated_time.as_ref()) {
        d.soon(crate::reconcile::until_due(Some(t), every.token_check, now).max(Duration::from_secs(1)));
    }
    Plan {
        conditions: conds,
        next_action,
        user,
        token,
        access,
        step: d.step,
        requeue: d.requeue,
        rotations: seen.rotations.clone(),
    }
}

/// `UserVerified`, and the user's status (possibly the user to create, in `d.step`).
fn user_verified(
    ia: &IntegrationAccount,
    seen: &Observed,
    now: Timestamp,
    every: Intervals,
    d: &mut Draft,
) -> (Cond, Option<UserStatus>) {
    let status = ia.status.clone().unwrap_or_default();
    let spec = &ia.spec;
    let full_name = format!("{} {LAST_NAME}", spec.system);
    let mut user = status.user.clone();
    let cond = match (&seen.account, &seen.claimed_by, &seen.user) {
        (AccountState::Missing { name }, ..) => {
            d.actions.push((
                types::USER_VERIFIED,
                format!("create TrackViaAccount {name} in this namespace"),
            ));
            Cond::unknown(
                reasons::UserVerified::AccountNotFound,
                format!("TrackViaAccount {name} not found in this namespace"),
            )
        }
        (
            AccountState::NotReady {
                name,
                reason,
                message,
            },
            ..,
        ) => {
            d.actions.push((
                types::USER_VERIFIED,
                format!("fix TrackViaAccount {name} ({reason})"),
            ));
            Cond::unknown(
                reasons::UserVerified::AccountNotReady,
                format!("TrackViaAccount {name} is not Ready: {message}"),
            )
        }
        (_, Some(other), _) => {
            d.actions.push((
                types::USER_VERIFIED,
                format!(
                    "delete this IntegrationAccount or give it its own email ({} is {other}'s)",
                    spec.email
                ),
            ));
            Cond::false_(
                reasons::UserVerified::UserClaimed,
                format!(
                    "IntegrationAccount {other} already manages {}: a dedicated user serves one integration",
                    spec.email
                ),
            )
        }
        (_, None, _) if seen.admin_error.is_some() => {
            let e = seen.admin_error.clone().unwrap_or_default();
            d.actions.push((
                types::USER_VERIFIED,
                "fix the TrackViaAccount's admin credentials Secret".to_owned(),
            ));
            Cond::unknown(reasons::UserVerified::AdminCredentialsUnreadable, e)
        }
        (_, None, UserLookup::Failed(e)) => {
            d.soon(Duration::from_secs(30));
            // A user seen active stays so until the list says otherwise: a failed re-read is no
            // reason for a working integration to become unready.
            Cond::carried::<reasons::UserVerified>(&status.common.conditions)
                .filter(|c| c.is(reasons::UserVerified::Verified) && was_found(user.as_ref()))
                .unwrap_or_else(|| {
                    Cond::unknown(
                        reasons::UserVerified::LookupFailed,
                        format!("looking up {}: {e}", spec.email),
                    )
                })
        }
        (_, None, UserLookup::NotFound)
            if was_found(user.as_ref()) && status.common.observed_generation == ia.metadata.generation =>
        {
            // The user was in the list and is gone: deactivated (where TrackVia leaves inactive
            // users out of the list) or deleted. Never created again behind a person's back (a
            // spec change, e.g. a new email, looks again from scratch).
            let id = user.as_ref().and_then(|u| u.id).unwrap_or_default();
            d.soon(every.user_poll);
            d.actions
                .push((types::USER_VERIFIED, reactivate_action(&full_name)));
            if let Some(u) = user.as_mut() {
                u.state = Some(GONE.to_owned());
            }
            Cond::false_(
                reasons::UserVerified::UserInactive,
                format!(
                    "TrackVia user {} (id {id}) is no longer in the account's user list: deactivated or deleted",
                    spec.email
                ),
            )
        }
        (_, None, UserLookup::CreateFailed(e)) => {
            d.actions
                .push((types::USER_VERIFIED, CREATE_FAILED_ACTION.to_owned()));
            if let Some(at) = user.as_ref().and_then(create_retry_at)
                && let Ok(wait) = Duration::try_from(at.duration_since(now))
            {
                d.soon(wait.max(Duration::from_secs(1)));
            }
            Cond::false_(
                reasons::UserVerified::UserCreateFailed,
                format!(
                    "creating TrackVia user {full_name} <{}> failed: {e}; retrying at {}",
                    spec.email,
                    user.as_ref()
                        .and_then(create_retry_at)
                        .map(|t| t.to_string())
                        .unwrap_or_default()
                ),
            )
        }
        (_, None, UserLookup::CreateBackingOff) => {
            d.actions
                .push((types::USER_VERIFIED, CREATE_FAILED_ACTION.to_owned()));
            if let Some(at) = user.as_ref().and_then(create_retry_at)
                && let Ok(wait) = Duration::try_from(at.duration_since(now))
            {
                d.soon(wait.max(Duration::from_secs(1)));
            }
            Cond::carried::<reasons::UserVerified>(&status.common.conditions)
                .filter(|c| c.is(reasons::UserVerified::UserCreateFailed))
                .unwrap_or_else(|| {
                    Cond::false_(
                        reasons::UserVerified::UserCreateFailed,
                        format!(
                            "creating TrackVia user {full_name} <{}> failed; retrying later",
                            spec.email
                        ),
                    )
                })
        }
        (_, None, UserLookup::NotFound) => {
            d.step = Step::CreateUser(NewUser {
                email: spec.email.clone(),
                first_name: spec.system.clone(),
                last_name: LAST_NAME.to_owned(),
                time_zone: spec.time_zone.clone(),
            });
            d.soon(Duration::from_secs(2));
            Cond::unknown(
                reasons::UserVerified::UserCreating,
                format!("creating TrackVia user {full_name} <{}>", spec.email),
            )
        }
        (_, None, UserLookup::Found(u)) => {
            let created = user.as_ref().and_then(|s| s.created_by_operator).unwrap_or(false);
            let requested = user.as_ref().and_then(|s| s.create_requested_time.clone());
            user = Some(UserStatus {
                id: Some(u.id),
                state: Some(u.status.clone()),
                created_by_operator: Some(created || requested.is_some()),
                create_requested_time: requested,
                create_failed_time: None,
                create_attempts: None,
            });
            user_condition(u, &full_name, d, every)
        }
        (_, None, UserLookup::Skipped) => Cond::true_(
            reasons::UserVerified::Verified,
            format!("TrackVia user {} is active", spec.email),
        ),
    };

    (cond, user)
}

/// `TokenProvided`, with the steps that put a token in place when there is none.
fn token_provided(ia: &IntegrationAccount, seen: &Observed, d: &mut Draft) -> Cond {
    let spec = &ia.spec;
    let full_name = format!("{} {LAST_NAME}", spec.system);
    let token_ref = &spec.token_secret_ref;
    match &seen.token {
        Ok(_) => Cond::true_(
            reasons::TokenProvided::Provided,
            format!("a token is in Secret {}", token_ref.name),
        ),
        Err(e) => {
            let steps = format!(
                "in TrackVia: Manage Users -> {full_name} -> Set As API User, assign the integration's role; API Access -> create a token with an expiry for this user; then run: kubectl create secret generic {} -n {} --from-literal={}=<token> && kubectl annotate secret {} -n {} {}=<expiry, RFC 3339>",
                token_ref.name,
                ia.namespace().unwrap_or_default(),
                token_ref.key,
                token_ref.name,
                ia.namespace().unwrap_or_default(),
                EXPIRES_AT_ANNOTATION
            );
            let reason = match e {
                SecretRefError::Missing { .. } => reasons::TokenProvided::TokenSecretMissing,
                SecretRefError::KeyMissing { .. } => reasons::TokenProvided::TokenKeyMissing,
                SecretRefError::Unusable { .. } => reasons::TokenProvided::SecretKeyUnusable,
                SecretRefError::Api { .. } => reasons::TokenProvided::SecretUnreadable,
            };
            d.actions.push((types::TOKEN_PROVIDED, steps));
            Cond::false_(reason, format!("{e}"))
        }
    }
}

/// `TokenValid` and `AccessScoped`, with the token's and the access check's status.
fn validation(ia: &IntegrationAccount, seen: &Observed, now: Timestamp, d: &mut Draft) -> Validated {
    let status = ia.status.clone().unwrap_or_default();
    let spec = &ia.spec;
    let full_name = format!("{} {LAST_NAME}", spec.system);
    let token_ref = &spec.token_secret_ref;
    let token_seen = seen.token.as_ref().ok();
    let token = token_status(&status.token, token_seen, &seen.validation, now);
    let mut access = status.access.clone();
    let (valid_cond, access_cond) = match (&seen.validation, token_seen) {
        (_, None) => (
            Cond::unknown(reasons::TokenValid::NoToken, "waiting for the token"),
            Cond::unknown(reasons::AccessScoped::NoToken, "waiting for the token"),
        ),
        (Validation::NotDue, Some(_)) => {
            // Waiting out a backoff after TrackVia failed to answer: look again when it ends.
            if let Some(at) = status.token.as_ref().and_then(validation_retry_at)
                && let Ok(wait) = Duration::try_from(at.duration_since(now))
            {
                d.soon(wait.max(Duration::from_secs(1)));
            }
            // Not re-validated: the last verdict stands, and so does what it asked a person to do.
            let valid =
                Cond::carried::<reasons::TokenValid>(&status.common.conditions).unwrap_or_else(|| {
                    Cond::unknown(
                        reasons::TokenValid::Pending,
                        "the token has not been validated yet",
                    )
                });
            let scoped =
                Cond::carried::<reasons::AccessScoped>(&status.common.conditions).unwrap_or_else(|| {
                    Cond::unknown(
                        reasons::AccessScoped::Pending,
                        "the token has not been validated yet",
                    )
                });
            if valid.status == Status::False {
                d.actions.push((
                    types::TOKEN_VALID,
                    carried_token_action(&valid, &full_name, token_ref),
                ));
            }
            if scoped.status == Status::False {
                d.actions.push((
                    types::ACCESS_SCOPED,
                    access_action(&scoped, status.access.as_ref()),
                ));
            }
            (valid, scoped)
        }
        (Validation::LocallyExpired, Some(t)) => {
            d.actions
                .push((types::TOKEN_VALID, replace_token_action(&full_name, token_ref)));
            (
                Cond::false_(
                    reasons::TokenValid::TokenExpired,
                    format!(
                        "the token expired at {}",
                        t.expires_at.map(|e| e.to_string()).unwrap_or_default()
                    ),
                ),
                Cond::unknown(reasons::AccessScoped::TokenNotValid, "the token is not valid"),
            )
        }
        (Validation::Valid(reach), Some(_)) => {
            let (cond, acc) = scope(ia, reach, now, d);
            access = Some(acc);
            (
                Cond::true_(reasons::TokenValid::Valid, "TrackVia accepts the token"),
                cond,
            )
        }
        (Validation::WrongEnvironment { account, environment }, Some(_)) => {
            let here = match &seen.account {
                AccountState::Ready {
                    environment, name, ..
                } => format!("{environment} account {name}"),
                _ => "this account".to_owned(),
            };
            d.actions.push((
                types::TOKEN_VALID,
                format!(
                    "put a token of {here} in Secret {} (this one is {environment})",
                    token_ref.name
                ),
            ));
            (
                Cond::false_(
                    reasons::TokenValid::WrongEnvironment,
                    format!("the token belongs to the {environment} account {account}, not to {here}"),
                ),
                Cond::unknown(reasons::AccessScoped::TokenNotValid, "the token is not valid"),
            )
        }
        (Validation::Failed(e), Some(_)) => {
            if e.is_transient() {
                d.soon(Duration::from_secs(15));
            } else {
                d.actions
                    .push((types::TOKEN_VALID, failed_token_action(e, &full_name, token_ref)));
            }
            (
                failed_token_condition(e),
                Cond::unknown(reasons::AccessScoped::TokenNotValid, "the token is not valid"),
            )
        }
    };

    Validated {
        valid: valid_cond,
        scoped: access_cond,
        token,
        access,
    }
}

/// `CredentialsPublished` (possibly the publication or a new-token rotation, in `d.step`), and the
/// rotation that owns the credentials now, if any.
fn publication(
    ia: &IntegrationAccount,
    seen: &Observed,
    valid: bool,
    d: &mut Draft,
) -> (Cond, Option<String>) {
    let spec = &ia.spec;
    let token_fp = seen.token.as_ref().ok().map(|t| t.fingerprint.clone());
    let active = seen
        .rotations
        .iter()
        .find(|r| r.owns_credentials())
        .map(|r| r.name.clone());
    let published_msg = format!(
        "Secret {} holds the current credentials",
        spec.credentials_secret.name
    );
    let publish_cond = match (&seen.published, valid, &active) {
        (SecretSeen::Foreign, ..) => {
            let name = &spec.credentials_secret.name;
            d.actions.push((
                types::CREDENTIALS_PUBLISHED,
                format!("delete or rename Secret {name} (not written by this operator), or choose another credentialsSecret.name"),
            ));
            Cond::false_(
                reasons::CredentialsPublished::SecretConflict,
                format!(
                    "Secret {name} exists and is not owned by this IntegrationAccount; it is left untouched"
                ),
            )
        }
        (_, _, Some(r)) => {
            d.soon(Duration::from_secs(5));
            Cond::unknown(
                reasons::CredentialsPublished::Rotating,
                format!("CredentialRotation {r} owns the credentials until it finishes"),
            )
        }
        (_, false, None) => Cond::unknown(
            reasons::CredentialsPublished::WaitingForValidToken,
            "nothing is published until TrackVia accepts the token",
        ),
        (SecretSeen::Ours { up_to_date: true, .. }, true, None) => {
            Cond::true_(reasons::CredentialsPublished::Published, published_msg)
        }
        (SecretSeen::Ours { fingerprint, .. }, true, None)
            if seen.pushed_connections > 0 && *fingerprint != token_fp =>
        {
            // A new token, and connections already use the old one: only a rotation may switch
            // them. One rotation per token: when it failed, a person decides what comes next.
            let name = rotation_name(
                ia,
                "newtoken",
                token_fp
                    .as_deref()
                    .map(|f| f.trim_start_matches("hmac-sha256:"))
                    .unwrap_or("x"),
            );
            match seen.rotations.iter().find(|r| r.name == name && r.finished) {
                Some(failed) => {
                    let outcome = failed.outcome.map(|o| o.to_string()).unwrap_or_default();
                    d.actions.push((
                        types::CREDENTIALS_PUBLISHED,
                        format!(
                            "see CredentialRotation {name} ({outcome}); fix the cause, then put a new token in Secret {} or create a CredentialRotation to try this token again",
                            spec.token_secret_ref.name
                        ),
                    ));
                    Cond::false_(
                        reasons::CredentialsPublished::RotationFailed,
                        format!(
                            "the rotation to the token in Secret {} ended {outcome}: the connections stay on the published token",
                            spec.token_secret_ref.name
                        ),
                    )
                }
                None => {
                    d.step = Step::StartRotation(RotationRequest {
                        name,
                        reason: format!("a new token in Secret {}", spec.token_secret_ref.name),
                        requested_at: None,
                        trigger: "new-token",
                    });
                    Cond::unknown(
                        reasons::CredentialsPublished::RotationPending,
                        format!(
                            "a new token is in Secret {}: a CredentialRotation switches the {} connections to it",
                            spec.token_secret_ref.name, seen.pushed_connections
                        ),
                    )
                }
            }
        }
        (_, true, None) => {
            if d.step == Step::None {
                d.step = Step::Publish;
            }
            Cond::true_(reasons::CredentialsPublished::Published, published_msg)
        }
    };

    (publish_cond, active)
}

/// The one next action for a person: the first condition in [`READY_ORDER`] that asks for one,
/// else a pending approval, else the old token's deactivation.
fn next_action(
    ia: &IntegrationAccount,
    seen: &Observed,
    conds: &[Cond],
    actions: &[(&'static str, String)],
) -> Option<String> {
    let awaiting = seen
        .rotations
        .iter()
        .find(|r| r.phase == Some(RotationPhase::AwaitingApproval));
    READY_ORDER
        .iter()
        .find_map(|t| {
            conds
                .iter()
                .find(|c| c.type_ == *t && !c.is_true())
                .and_then(|c| actions.iter().find(|(a, _)| *a == c.type_))
        })
        .map(|(_, a)| a.clone())
        .or_else(|| {
            awaiting.map(|r| {
                format!(
                    "when you are ready to regenerate the token in TrackVia, approve CredentialRotation {0}: kubectl trackvia approve {0} -n {1} (it stops the dependent recipes until the new token is in place)",
                    r.name,
                    ia.namespace().unwrap_or_default()
                )
            })
        })
        .or_else(|| {
            seen.rotations
                .iter()
                .filter(|r| r.revocation.is_some())
                .max_by_key(|r| r.created)
                .and_then(|r| match &r.revocation {
                    Some(Revocation::Awaiting { fingerprint, deadline } | Revocation::Overdue { fingerprint, deadline }) => Some(format!(
                        "deactivate the old token {fingerprint} in TrackVia (API Access) by {deadline}"
                    )),
                    _ => None,
                })
        })
}

/// `OldTokenRevoked` from the newest rotation that published over an old token: a warning that
/// the old token still works (a security finding), never a reason for the account to be unready.
fn old_token_condition(seen: &Observed) -> Option<Cond> {
    let newest = seen
        .rotations
        .iter()
        .filter(|r| r.revocation.is_some())
        .max_by_key(|r| r.created)?;
    Some(match newest.revocation.as_ref()? {
        Revocation::Revoked => Cond::true_(
            reasons::OldTokenRevoked::Revoked,
            format!(
                "TrackVia rejects the token CredentialRotation {} replaced",
                newest.name
            ),
        ),
        Revocation::Awaiting {
            fingerprint,
            deadline,
        } => Cond::false_(
            reasons::OldTokenRevoked::AwaitingRevocation,
            format!(
                "the old token {fingerprint} still works: deactivate it in TrackVia (API Access) by {deadline}"
            ),
        ),
        Revocation::Overdue {
            fingerprint,
            deadline,
        } => Cond::false_(
            reasons::OldTokenRevoked::OldTokenStillActive,
            format!(
                "the old token {fingerprint} still works past its revocation deadline {deadline}: deactivate it in TrackVia (API Access); anyone holding it can still use the integration user"
            ),
        ),
        Revocation::Unknown { fingerprint } => Cond::unknown(
            reasons::OldTokenRevoked::OldTokenUnknown,
            format!(
                "whether the old token {fingerprint} was deactivated cannot be checked: make sure it is, in TrackVia (API Access)"
            ),
        ),
    })
}

/// A deterministic CredentialRotation name: `<account>-<kind>-<suffix>`, within name limits.
fn rotation_name(ia: &IntegrationAccount, kind: &str, suffix: &str) -> String {
    let base: String = ia.name_any().chars().take(200).collect();
    let suffix: String = suffix
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect::<String>()
        .to_ascii_lowercase();
    format!("{base}-{kind}-{suffix}")
}

/// A declarative request not handled yet, or the schedule (inside the maintenance window, and not
/// right after a rotation that did not succeed).
fn rotation_trigger(ia: &IntegrationAccount, seen: &Observed, due: &Cond, now: Timestamp) -> Step {
    let policy = ia.spec.rotation.clone().unwrap_or_default();
    let handled = ia
        .status
        .as_ref()
        .and_then(|s| s.rotation.as_ref())
        .and_then(|r| r.handled_requested_at.clone());
    // The annotation (what the Argo CD action writes) asks the same as the spec's field; the later
    // of the two is the request.
    let annotated = ia
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(crate::api::common::ROTATE_ANNOTATION))
        .and_then(|v| v.trim().parse::<Timestamp>().ok())
        .map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time);
    let requested = match (policy.requested_at.clone(), annotated) {
        (Some(a), Some(b)) => Some(if b.0 > a.0 { b } else { a }),
        (a, b) => a.or(b),
    };
    if let Some(req) = requested
        && Some(&req) != handled.as_ref()
    {
        return Step::StartRotation(RotationRequest {
            name: rotation_name(ia, "requested", &req.0.as_second().to_string()),
            reason: format!("requested at {}", req.0),
            requested_at: Some(req),
            trigger: "requested",
        });
    }
    if !due.is_true() || seen.pushed_connections == 0 {
        return Step::None;
    }
    let window = policy.maintenance_window.as_ref();
    let recently_unsuccessful = seen.rotations.iter().any(|r| {
        let failed = r.finished && !r.outcome.is_some_and(|o| o.is_success());
        // Any failure: an hour's pause. A scheduled one nobody saw through (approval expired, no
        // token): not before the next window (I6), so it does not come back within this one.
        failed
            && (r.finished_time.is_some_and(|t| {
                t.checked_add(jiff::SignedDuration::from_hours(1))
                    .is_ok_and(|until| until > now)
            }) || (r.trigger == Trigger::Scheduled
                && r.created.is_some_and(|c| approval_deadline(window, c) > now)))
    });
    if recently_unsuccessful || !in_window(policy.maintenance_window.as_ref(), now) {
        return Step::None;
    }
    let stamp = now.strftime("%Y%m%d%H%M").to_string();
    Step::StartRotation(RotationRequest {
        name: rotation_name(ia, "scheduled", &stamp),
        reason: format!("{} ({})", due.reason, due.message),
        requested_at: None,
        trigger: "scheduled",
    })
}

/// Whether the status records a user the list once held (not one being created).
fn was_found(user: Option<&UserStatus>) -> bool {
    user.is_some_and(|u| u.id.is_some())
}

/// What a person does about a user that is no longer active.
fn reactivate_action(full_name: &str) -> String {
    format!(
        "reactivate the user in TrackVia: Manage Users -> {full_name} -> Activate, and check Set As API User is still ticked; until then the integration's calls fail and no rotation starts (the credentials Secret is left as it is)"
    )
}

fn user_condition(u: &User, full_name: &str, d: &mut Draft, every: Intervals) -> Cond {
    let t = types::USER_VERIFIED;
    match u.status.to_ascii_lowercase().as_str() {
        "active" => {
            // Read again, so that a deactivation after it was active is seen.
            d.soon(every.user_recheck);
            Cond::true_(
                reasons::UserVerified::Verified,
                format!("TrackVia user {} (id {}) is active", u.email, u.id),
            )
        }
        "unverified" => {
            d.soon(every.user_poll);
            d.actions.push((t, format!(
                "accept the TrackVia invitation sent to {} within 24 h of sending; if it lapsed, resend it: Manage Users -> {full_name} -> Resend verification email",
                u.email
            )));
            Cond::false_(
                reasons::UserVerified::Unverified,
                format!(
                    "TrackVia user {} (id {}) has not accepted its invitation",
                    u.email, u.id
                ),
            )
        }
        _ => {
            d.soon(every.user_poll);
            d.actions.push((t, reactivate_action(full_name)));
            Cond::false_(
                reasons::UserVerified::UserInactive,
                format!(
                    "TrackVia user {} (id {}) is no longer active (Status {:?})",
                    u.email, u.id, u.status
                ),
            )
        }
    }
}

fn token_status(
    previous: &Option<TokenStatus>,
    seen: Option<&TokenSeen>,
    v: &Validation,
    now: Timestamp,
) -> Option<TokenStatus> {
    let seen = seen?;
    let same = previous
        .as_ref()
        .is_some_and(|p| p.fingerprint.as_deref() == Some(seen.fingerprint.as_str()));
    let mut t = if same {
        previous.clone().unwrap_or_default()
    } else {
        TokenStatus::default()
    };
    t.fingerprint = Some(seen.fingerprint.clone());
    t.expires_at = seen.expires_at.map(Time);
    if t.first_seen_time.is_none() {
        t.first_seen_time = Some(Time(now));
    }
    let reached_verdict = match v {
        Validation::Valid(_) | Validation::WrongEnvironment { .. } => true,
        Validation::Failed(e) => !e.is_transient(),
        Validation::NotDue | Validation::LocallyExpired => false,
    };
    if reached_verdict {
        t.last_validated_time = Some(Time(now));
        t.validation_failed_time = None;
        t.validation_failures = None;
    }
    if matches!(v, Validation::Failed(e) if e.is_transient()) {
        t.validation_failed_time = Some(Time(now));
        t.validation_failures = Some(t.validation_failures.unwrap_or(0) + 1);
    }
    Some(t)
}

/// First wait after TrackVia failed to answer a token validation; doubles per failure.
const VALIDATION_BACKOFF_BASE: Duration = Duration::from_secs(15);
/// Longest wait between two validation attempts that fail.
const VALIDATION_BACKOFF_MAX: Duration = Duration::from_secs(600);

/// When a token whose last validation TrackVia failed to answer may be validated again (I10).
pub fn validation_retry_at(token: &TokenStatus) -> Option<Timestamp> {
    retry_at(
        token.validation_failed_time.as_ref(),
        token.validation_failures,
        VALIDATION_BACKOFF_BASE,
        VALIDATION_BACKOFF_MAX,
    )
}

fn failed_token_condition(e: &TrackviaError) -> Cond {
    match e.auth_failure() {
        Some(AuthFailure::TokenExpired) => Cond::false_(
            reasons::TokenValid::TokenExpired,
            format!("TrackVia says the token expired ({e})"),
        ),
        Some(AuthFailure::TokenInvalid) => Cond::false_(
            reasons::TokenValid::TokenInvalid,
            format!(
                "TrackVia does not know the token in this account: it was deactivated or deleted, or it belongs to another account ({e})"
            ),
        ),
        Some(AuthFailure::UserInactive) => Cond::false_(
            reasons::TokenValid::UserInactive,
            format!("the token's user is inactive or no longer an API user ({e})"),
        ),
        Some(AuthFailure::ApiKeyInvalid) => Cond::false_(
            reasons::TokenValid::ApiKeyInvalid,
            format!("the account API key was refused ({e})"),
        ),
        _ if e.is_transient() => Cond::unknown(reasons::TokenValid::Unreachable, format!("{e}; will retry")),
        _ => {
            let reason = reasons::TokenValid::parse(e.label()).unwrap_or(reasons::TokenValid::Rejected);
            Cond::false_(reason, e.to_string())
        }
    }
}

/// What a person does about a failed scope check.
fn access_action(cond: &Cond, access: Option<&AccessStatus>) -> String {
    let list = |v: Option<&Vec<String>>| v.map(|v| v.join(", ")).unwrap_or_default();
    if cond.is(reasons::AccessScoped::MissingAccess) {
        format!(
            "grant the user's role in TrackVia access to {}",
            list(access.map(|a| &a.missing))
        )
    } else {
        format!(
            "narrow the user's role in TrackVia (remove {}) or set spec.access.allowExtra",
            list(access.map(|a| &a.extra))
        )
    }
}

/// What a person does about a token verdict carried over from an earlier reconcile.
fn carried_token_action(cond: &Cond, full_name: &str, r: &crate::api::SecretKeyRef) -> String {
    match reasons::TokenValid::parse(cond.reason) {
        Some(reasons::TokenValid::UserInactive) => {
            format!("in TrackVia: Manage Users -> {full_name}: reactivate the user and tick Set As API User")
        }
        Some(reasons::TokenValid::ApiKeyInvalid) => {
            "fix the API key in the TrackViaAccount's admin credentials Secret".to_owned()
        }
        Some(reasons::TokenValid::WrongEnvironment) => format!(
            "put a token of this IntegrationAccount's own account in key {} of Secret {}",
            r.key, r.name
        ),
        _ => replace_token_action(full_name, r),
    }
}

fn replace_token_action(full_name: &str, r: &crate::api::SecretKeyRef) -> String {
    format!(
        "create a new token for {full_name} under API Access (with an expiry) and put it in key {} of Secret {}",
        r.key, r.name
    )
}

fn failed_token_action(e: &TrackviaError, full_name: &str, r: &crate::api::SecretKeyRef) -> String {
    match e.auth_failure() {
        Some(AuthFailure::UserInactive) => {
            format!("in TrackVia: Manage Users -> {full_name}: reactivate the user and tick Set As API User")
        }
        Some(AuthFailure::ApiKeyInvalid) => {
            "fix the API key in the TrackViaAccount's admin credentials Secret".to_owned()
        }
        _ => replace_token_action(full_name, r),
    }
}

/// Compares what the token reaches with `spec.access`.
fn scope(ia: &IntegrationAccount, reach: &Reach, now: Timestamp, d: &mut Draft) -> (Cond, AccessStatus) {
    let t = types::ACCESS_SCOPED;
    let Some(access) = &ia.spec.access else {
        let acc = AccessStatus {
            missing: vec![],
            extra: vec![],
            last_checked_time: Some(Time(now)),
        };
        return (
            Cond::true_(
                reasons::AccessScoped::NotSpecified,
                format!(
                    "spec.access lists nothing to check; the token reaches {} apps and {} views",
                    reach.apps.len(),
                    reach.views.len()
                ),
            ),
            acc,
        );
    };
    let (missing, extra) = access_diff(access, reach);
    let allow_extra = access.allow_extra.unwrap_or(false);
    let shown_extra = if allow_extra { Vec::new() } else { extra.clone() };
    let acc = AccessStatus {
        missing: missing.clone(),
        extra: shown_extra.clone(),
        last_checked_time: Some(Time(now)),
    };
    let cond = if !missing.is_empty() {
        Cond::false_(
            reasons::AccessScoped::MissingAccess,
            format!(
                "the token cannot reach {}: the integration would get 403s",
                missing.join(", ")
            ),
        )
    } else if !shown_extra.is_empty() {
        Cond::false_(
            reasons::AccessScoped::ExcessAccess,
            format!(
                "the token also reaches {}: broader than the integration needs",
                shown_extra.join(", ")
            ),
        )
    } else {
        Cond::true_(
            reasons::AccessScoped::Scoped,
            "the token reaches exactly the listed apps and views",
        )
    };
    if !cond.is_true() {
        d.actions.push((t, access_action(&cond, Some(&acc))));
    }
    (cond, acc)
}

fn rotation_due(
    ia: &IntegrationAccount,
    token: Option<&TokenStatus>,
    valid: bool,
    now: Timestamp,
    d: &mut Draft,
) -> (Cond, Option<Timestamp>) {
    let Some(token) = token.filter(|_| valid) else {
        return (
            Cond::unknown(reasons::RotationDue::NoValidToken, "no valid token to schedule"),
            None,
        );
    };
    let due_at = due::due_at(ia.spec.rotation.as_ref(), token).map(|(at, by)| {
        let reason = match by {
            DueBy::Expiry => reasons::RotationDue::ExpiresSoon,
            DueBy::Interval => reasons::RotationDue::IntervalElapsed,
        };
        (at, reason)
    });
    let cond = match due_at {
        None => Cond::unknown(
            reasons::RotationDue::NoSchedule,
            "no expiry known and no rotation interval set; annotate the token Secret with its expiry",
        ),
        Some((at, reason)) if at <= now => Cond::true_(reason, format!("rotation was due at {at}")),
        Some((at, _)) => {
            if let Ok(wait) = Duration::try_from(at.duration_since(now)) {
                d.soon(wait);
            }
            Cond::false_(reasons::RotationDue::NotDue, format!("next rotation due at {at}"))
        }
    };
    (cond, due_at.map(|(at, _)| at))
}

fn naming(ia: &IntegrationAccount, user: &UserLookup) -> Cond {
    let alnum = |s: &str| {
        s.chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase()
    };
    let local = ia.spec.email.split('@').next().unwrap_or_default();
    if alnum(local) != format!("{}integration", alnum(&ia.spec.system)) {
        return Cond::false_(
            reasons::NamingConvention::NonConventionalEmail,
            format!(
                "the convention is {}.integration@<domain> on a shared mailbox (a warning only)",
                ia.spec.system.to_ascii_lowercase().replace(' ', ".")
            ),
        );
    }
    if let UserLookup::Found(u) = user
        && (u.first_name != ia.spec.system || u.last_name != LAST_NAME)
    {
        return Cond::false_(
            reasons::NamingConvention::NonConventionalName,
            format!(
                "the adopted user is named {} {}; the convention is {} {LAST_NAME} (a warning only)",
                u.first_name, u.last_name, ia.spec.system
            ),
        );
    }
    Cond::true_(
        reasons::NamingConvention::Conventional,
        "the user follows the <System> Integration naming convention",
    )
}

#[cfg(test)]
mod tests;
