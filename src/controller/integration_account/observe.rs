//! Reading everything the plan needs. Calls TrackVia only when something is due: the user list
//! (shared and cached per account for the user poll interval), a new or changed token, or the
//! re-validation interval.

use super::Ctx;
use crate::domain::credentials::{credentials_secret, desired_secret};
use crate::domain::secret_ref::controlled_by;

use jiff::Timestamp;
use kube::{Api, Resource, ResourceExt};

use super::seen::{AccountState, Observed, RotationSeen, SecretSeen, TokenSeen, UserLookup, Validation};
use crate::api::integration_account::IntegrationAccount;
use crate::api::trackvia_account::TrackViaAccount;
use crate::conditions::{self, types};
use crate::domain::accounts::{admin_credentials, trackvia_client};
use crate::domain::caches::Source;
use crate::domain::connection::PUSHED_FINGERPRINT_ANNOTATION;
use crate::domain::credentials::{EXPIRES_AT_ANNOTATION, FINGERPRINT_ANNOTATION};
use crate::domain::rotation::{revocation, trigger_of};
use crate::domain::secret_ref;
use crate::reconcile::{Error, due};
use crate::secret::Sensitive;
use crate::trackvia::{AuthFailure, AuthToken, HttpTrackvia, TrackviaApi};

/// Credentials needed to publish and to create, kept out of [`Observed`]'s plain data.
pub struct Material {
    /// The account.
    pub account: TrackViaAccount,
    /// Its client.
    pub api: std::sync::Arc<HttpTrackvia>,
    /// The account API key.
    pub api_key: Sensitive<String>,
    /// The admin token.
    pub admin: AuthToken,
    /// The integration token, if provided.
    pub token: Option<AuthToken>,
}

/// Observes one IntegrationAccount.
pub async fn observe(
    ia: &IntegrationAccount,
    ctx: &Ctx,
    now: Timestamp,
) -> Result<(Observed, Option<Material>), Error> {
    let ns = ia.namespace().ok_or(Error::Malformed("namespace"))?;
    let account_name = ia.spec.account_ref.name.clone();
    let account = ctx.own.caches.account(&ctx.client, &ns, &account_name).await?;

    let token = read_token(ia, ctx, &ns).await;

    let mut admin_error = None;
    let mut material = None;
    let account_state = match &account {
        None => AccountState::Missing {
            name: account_name.clone(),
        },
        Some(a) => match conditions::find(
            a.status.as_ref().map(|s| &s.common.conditions[..]).unwrap_or(&[]),
            types::READY,
        ) {
            Some(c) if c.status == "True" => {
                match admin_credentials(ctx, a, Source::Cache).await {
                    Err(e) => admin_error = Some(format!("TrackViaAccount {account_name}: {e}")),
                    Ok(creds) => {
                        let api = trackvia_client(ctx, a, creds.api_key.clone())?;
                        material = Some(Material {
                            account: a.clone(),
                            api,
                            api_key: creds.api_key,
                            admin: creds.token,
                            token: token.as_ref().ok().map(|(_, v)| v.clone()),
                        });
                    }
                }
                AccountState::Ready {
                    name: account_name.clone(),
                    base_url: a.spec.base_url.clone(),
                    account_id: a.spec.account_id.clone(),
                    environment: a.spec.environment,
                }
            }
            Some(c) => AccountState::NotReady {
                name: account_name.clone(),
                reason: c.reason.to_string(),
                message: c.message.clone(),
            },
            None => AccountState::NotReady {
                name: account_name.clone(),
                reason: "NotChecked".into(),
                message: "its admin credentials have not been checked yet".into(),
            },
        },
    };

    // A person asked for a recheck (after a step in TrackVia's UI): the user list and the token
    // are read now, whatever their intervals say.
    let recheck = crate::reconcile::recheck::pending(ia, ia.status.as_ref().map(|s| &s.common)).is_some();
    let claimed_by = ctx.own.caches.claimant(ia);
    let user = match (&material, &claimed_by) {
        (Some(m), None) => lookup_user(ia, ctx, m, recheck).await,
        _ => UserLookup::Skipped,
    };

    let validation = match (&material, &token) {
        (Some(m), Ok((seen, value))) => validate(ia, ctx, m, (seen, value), now, recheck).await?,
        _ => Validation::NotDue,
    };

    let published = published(ia, ctx, material.as_ref(), Source::Cache).await?;
    let pushed_connections = pushed_connections(ia, ctx, Source::Cache).await?;
    let rotations = rotations(ia, ctx, Source::Cache).await?;
    let observed = Observed {
        account: account_state,
        admin_error,
        user,
        claimed_by,
        token: token.map(|(seen, _)| seen),
        validation,
        published,
        pushed_connections,
        rotations,
    };
    Ok((observed, material))
}

async fn read_token(
    ia: &IntegrationAccount,
    ctx: &Ctx,
    ns: &str,
) -> Result<(TokenSeen, AuthToken), secret_ref::SecretRefError> {
    let v = secret_ref::read(ctx, ns, &ia.spec.token_secret_ref, Source::Cache).await?;
    let annotation = v.annotations.get(EXPIRES_AT_ANNOTATION);
    let parsed = annotation.map(|a| a.trim().parse::<Timestamp>());
    let expires_at = match &parsed {
        Some(Ok(t)) => Some(*t),
        _ => ia.spec.token_expires_at.as_ref().map(|t| t.0),
    };
    let bad_expiry_annotation = match (&parsed, annotation) {
        (Some(Err(_)), Some(a)) => Some(a.clone()),
        _ => None,
    };
    Ok((
        TokenSeen {
            fingerprint: ctx.fingerprint(v.value.expose()),
            expires_at,
            bad_expiry_annotation,
        },
        v.value,
    ))
}

/// The user as the account's user list shows it. An active user is read too, so that a
/// deactivation in TrackVia is seen: the list (shared by every IntegrationAccount of the account)
/// is read at most once per user poll interval while the user is not active, once per user
/// recheck interval once it is, whatever wakes the account, unless `recheck` asks for a fresh read.
async fn lookup_user(ia: &IntegrationAccount, ctx: &Ctx, m: &Material, recheck: bool) -> UserLookup {
    let user = ia.status.as_ref().and_then(|s| s.user.as_ref());
    let state = user.and_then(|u| u.state.as_deref()).unwrap_or_default();
    // I10: after a failed create, nothing is called again before its backoff has passed (a spec
    // change retries at once), whatever wakes the IntegrationAccount up.
    let spec_changed = ia.status.as_ref().and_then(|s| s.common.observed_generation) != ia.meta().generation;
    if !spec_changed
        && let Some(at) = user.and_then(super::plan::create_retry_at)
        && at > ctx.clock.now()
    {
        return UserLookup::CreateBackingOff;
    }
    // After a create of ours that may or may not have completed, read the list afresh.
    let fresh = recheck || state == super::plan::CREATE_PENDING;
    let every = if state.eq_ignore_ascii_case("active") {
        ctx.settings.user_recheck_interval
    } else {
        ctx.settings.user_poll_interval
    };
    let uid = m.account.uid().unwrap_or_default();
    match ctx
        .own
        .directory
        .find(&uid, (&m.api, &m.admin), &ia.spec.email, every, fresh)
        .await
    {
        Ok(Some(u)) => UserLookup::Found(u),
        Ok(None) => UserLookup::NotFound,
        Err(e) => UserLookup::Failed(e),
    }
}

async fn validate(
    ia: &IntegrationAccount,
    ctx: &Ctx,
    m: &Material,
    (seen, token): (&TokenSeen, &AuthToken),
    now: Timestamp,
    recheck: bool,
) -> Result<Validation, Error> {
    if seen.expires_at.is_some_and(|e| e <= now) {
        return Ok(Validation::LocallyExpired);
    }
    let status = ia.status.clone().unwrap_or_default();
    let previous = status.token.as_ref();
    let changed = previous.and_then(|t| t.fingerprint.as_deref()) != Some(seen.fingerprint.as_str());
    let spec_changed = status.common.observed_generation != ia.meta().generation;
    let never =
        conditions::find(&status.common.conditions, types::TOKEN_VALID).is_none_or(|c| c.status == "Unknown");
    if !changed
        && !spec_changed
        && !never
        && !recheck
        && !due(
            previous.and_then(|t| t.last_validated_time.as_ref()),
            ctx.settings.token_check_interval,
            now,
        )
    {
        return Ok(Validation::NotDue);
    }
    // I10: after TrackVia failed to answer, the same token is validated again only when its
    // backoff has passed, however often the account is woken (a rotation's status writes do).
    if !changed
        && !spec_changed
        && let Some(at) = previous.and_then(super::plan::validation_retry_at)
        && at > now
    {
        return Ok(Validation::NotDue);
    }
    match m.api.reach(token).await {
        Ok(reach) => Ok(Validation::Valid(reach)),
        Err(e) if e.auth_failure() == Some(AuthFailure::TokenInvalid) => {
            Ok(probe_other_environments(ia, ctx, m, token)
                .await?
                .unwrap_or(Validation::Failed(e)))
        }
        Err(e) => Ok(Validation::Failed(e)),
    }
}

/// A token TrackVia does not know here may belong to another account of this namespace (the
/// sandbox token in production, or the other way round): ask each other account once.
async fn probe_other_environments(
    ia: &IntegrationAccount,
    ctx: &Ctx,
    m: &Material,
    token: &AuthToken,
) -> Result<Option<Validation>, Error> {
    let ns = ia.namespace().unwrap_or_default();
    let all: Vec<TrackViaAccount> = match &ctx.own.caches.accounts {
        Some(store) => store
            .state()
            .iter()
            .filter(|a| a.namespace().as_deref() == Some(ns.as_str()))
            .map(|a| (**a).clone())
            .collect(),
        None => {
            Api::<TrackViaAccount>::namespaced(ctx.client.clone(), &ns)
                .list(&Default::default())
                .await
                .map_err(Error::kube("listing TrackViaAccounts"))?
                .items
        }
    };
    for other in all.iter().filter(|a| a.name_any() != m.account.name_any()) {
        let Ok(creds) = admin_credentials(ctx, other, Source::Cache).await else {
            continue;
        };
        let api = trackvia_client(ctx, other, creds.api_key)?;
        if api.list_views(token).await.is_ok() {
            return Ok(Some(Validation::WrongEnvironment {
                account: other.name_any(),
                environment: other.spec.environment,
            }));
        }
    }
    Ok(None)
}

/// The credentials Secret as it is (read from `source`): absent, someone else's, or ours (up to
/// date or not).
pub async fn published(
    ia: &IntegrationAccount,
    ctx: &Ctx,
    m: Option<&Material>,
    source: Source,
) -> Result<SecretSeen, Error> {
    let Some(existing) = credentials_secret(ctx, ia, source).await? else {
        return Ok(SecretSeen::Absent);
    };
    if !controlled_by(&existing, ia) {
        return Ok(SecretSeen::Foreign);
    }
    let desired = m.and_then(|m| {
        m.token
            .as_ref()
            .and_then(|t| desired_secret(ia, &m.account, &m.api_key, t, &ctx.fingerprint(t.expose())))
    });
    let up_to_date = desired.is_some_and(|d| {
        d.data == existing.data
            && d.metadata
                .annotations
                .iter()
                .flatten()
                .all(|(k, v)| existing.annotations().get(k) == Some(v))
            && d.metadata
                .labels
                .iter()
                .flatten()
                .all(|(k, v)| existing.labels().get(k) == Some(v))
    });
    let fingerprint = existing.annotations().get(FINGERPRINT_ANNOTATION).cloned();
    Ok(SecretSeen::Ours {
        up_to_date,
        fingerprint,
    })
}

/// WorkatoConnections of this account that already received credentials: from then on, a new
/// token reaches them only through a rotation.
pub async fn pushed_connections(ia: &IntegrationAccount, ctx: &Ctx, source: Source) -> Result<usize, Error> {
    let ns = ia.namespace().unwrap_or_default();
    Ok(ctx
        .own
        .caches
        .connections(&ctx.client, &ns, &ia.name_any(), source)
        .await?
        .iter()
        .filter(|w| w.annotations().contains_key(PUSHED_FINGERPRINT_ANNOTATION))
        .count())
}

/// The account's CredentialRotations.
pub async fn rotations(
    ia: &IntegrationAccount,
    ctx: &Ctx,
    source: Source,
) -> Result<Vec<RotationSeen>, Error> {
    let ns = ia.namespace().unwrap_or_default();
    let now = ctx.clock.now();
    Ok(ctx
        .own
        .caches
        .rotations(&ctx.client, &ns, &ia.name_any(), source)
        .await?
        .iter()
        .map(|r| {
            let status = r.status.clone().unwrap_or_default();
            RotationSeen {
                name: r.name_any(),
                finished: status.phase.is_some_and(|p| p.is_terminal()),
                phase: status.phase,
                outcome: status.outcome,
                finished_time: status.finished_time.as_ref().map(|t| t.0),
                created: r.creation_timestamp().map(|t| t.0),
                trigger: trigger_of(r),
                revocation: revocation(&status, now),
                held_recipes: status.recipes.iter().filter(|x| x.state.is_held()).count(),
            }
        })
        .collect())
}
