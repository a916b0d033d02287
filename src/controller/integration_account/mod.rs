//! IntegrationAccount: provision the dedicated TrackVia API user, guide the person's UI steps and
//! verify them, validate and scope-check the token, publish the credentials Secret.
//!
//! observe (reads; TrackVia only when due) -> plan (pure) -> act (at most one step) -> report.

mod observe;
pub mod plan;
pub mod seen;

use crate::domain::caches::Caches;
use crate::domain::users::Directory;
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use self::observe::{Material, observe, published, pushed_connections, rotations};
use self::plan::{CREATE_PENDING, Intervals, Plan, Step, plan};
use self::seen::{Observed, SecretSeen, UserLookup};
use crate::api::common::CommonStatus;
use crate::api::credential_rotation::RotationOutcome;
use crate::api::credential_rotation::{CredentialRotation, CredentialRotationSpec};
use crate::api::integration_account::{
    DeletionPolicy, IntegrationAccount, IntegrationAccountStatus, PublishedSecretStatus, RotationSummary,
    UserStatus,
};
use crate::conditions;
use crate::domain::caches::Source;
use crate::domain::credentials::publish_token;
use crate::domain::naming::LAST_NAME;
use crate::domain::rotation::{self, Revocation, Trigger};
use crate::reconcile::timers::Timers;
use crate::reconcile::{Error, Scoped, announce, apply_status, event};
use crate::trackvia::{TrackviaApi, TrackviaError};

/// Finalizer added just before the operator first creates something in TrackVia.
pub const FINALIZER: &str = "integrations.trackvia-operator.dev/trackvia-user";

/// What the IntegrationAccount reconciler works with.
pub type Ctx = Scoped<Own>;

/// What the IntegrationAccount reconciler alone reads.
pub struct Own {
    /// The other controllers' caches.
    pub caches: Caches,
    /// The user list of each TrackVia account.
    pub directory: Arc<Directory>,
    /// When each IntegrationAccount's periodic checks are next due.
    pub timers: Arc<Timers>,
}

/// Reconciles one IntegrationAccount.
pub async fn reconcile(cached: Arc<IntegrationAccount>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    crate::reconcile::measured(&ctx, "IntegrationAccount", async {
        let Some(ia) =
            crate::reconcile::current(&ctx, &*cached, ctx.own.caches.integration_accounts.as_ref()).await?
        else {
            return Ok(Action::await_change());
        };
        if ia.meta().deletion_timestamp.is_some() {
            return cleanup(&ia, &ctx).await;
        }
        apply(&ia, &ctx).await
    })
    .await
}

fn intervals(ctx: &Ctx) -> Intervals {
    Intervals {
        token_check: ctx.settings.token_check_interval,
        user_poll: ctx.settings.user_poll_interval,
        user_recheck: ctx.settings.user_recheck_interval,
    }
}

async fn apply(ia: &IntegrationAccount, ctx: &Ctx) -> Result<Action, Error> {
    let now = ctx.clock.now();
    let (mut observed, material) = observe(ia, ctx, now).await?;
    let mut decided = plan(ia, &observed, now, intervals(ctx));
    let confirm = match decided.step {
        Step::StartRotation(_) => true,
        // Nothing published yet: no rotation can be under way (a rotation of an account that
        // published nothing ends at once, `NotSetUp`), so a first publication needs no second look.
        Step::Publish => matches!(observed.published, SecretSeen::Ours { .. }),
        _ => false,
    };
    if confirm {
        // Both steps rest on reads that may be out of date by now:
        // - connections and rotations come from other controllers' caches, which may lag (see
        //   `Source::Cache`): a rotation the cache has not seen would be overtaken;
        // - the credentials Secret was read before the rotations, so a rotation that published
        //   and finished in between looks finished with the old token still published, and a
        //   second rotation would start for a token that is already everywhere.
        // So read again from the API server, rotations first (a rotation publishes before it
        // finishes), and act only on what the plan still says.
        observed.rotations = rotations(ia, ctx, Source::ApiServer).await?;
        observed.pushed_connections = pushed_connections(ia, ctx, Source::ApiServer).await?;
        observed.published = published(ia, ctx, material.as_ref(), Source::ApiServer).await?;
        decided = plan(ia, &observed, now, intervals(ctx));
    }
    let mut base = ia.clone();
    let mut published_now = false;

    match (&decided.step, &material) {
        (Step::CreateUser(new), Some(m)) => {
            if let Some(done) = create_user(ia, ctx, (m, new), &decided, &mut base, &mut observed).await? {
                return Ok(done);
            }
            decided = plan(&base, &observed, now, intervals(ctx));
        }
        (Step::Publish, Some(m)) => {
            if let Some(token) = &m.token {
                publish(ia, ctx, m, token).await?;
                published_now = true;
                observed.published = SecretSeen::Ours {
                    up_to_date: true,
                    fingerprint: Some(ctx.fingerprint(token.expose())),
                };
            }
        }
        (Step::StartRotation(request), _) => {
            start_rotation(ia, ctx, request).await?;
            if let Some(req) = &request.requested_at {
                let mut summary = base
                    .status
                    .clone()
                    .unwrap_or_default()
                    .rotation
                    .unwrap_or_default();
                summary.handled_requested_at = Some(req.clone());
                base.status.get_or_insert_with(Default::default).rotation = Some(summary);
            }
            observed.rotations.push(seen::RotationSeen {
                name: request.name.clone(),
                finished: false,
                phase: None,
                outcome: None,
                finished_time: None,
                created: Some(now),
                trigger: Trigger::Person,
                revocation: None,
                held_recipes: 0,
            });
            decided = plan(&base, &observed, now, intervals(ctx));
        }
        _ => {}
    }
    // I4: while a rotation of this account is unfinished, deleting the account must wait for it
    // to put things back (it needs the published credentials to do so).
    if observed.rotations.iter().any(|r| !r.finished) {
        ensure_finalizer(ia, ctx).await?;
    }
    prune_history(ia, ctx, &observed).await;

    let settled = report(
        ia,
        &base,
        ctx,
        &observed,
        &decided,
        material.as_ref(),
        published_now,
    )
    .await?;
    Ok(ctx.own.timers.requeue(ia, settle(settled, decided.requeue)))
}

/// When to look again: `after`, or soon when the status was not stored as written (see
/// [`crate::reconcile::apply_status`]).
fn settle(settled: bool, after: Duration) -> Duration {
    if settled {
        after
    } else {
        after.min(crate::reconcile::SETTLE)
    }
}

/// Creates the TrackVia user, its intent recorded in status first. On a refusal the failure is
/// recorded and reported, and the returned action ends the reconcile; on success `observed` holds
/// the new user and `base` the status written before the call.
async fn create_user(
    ia: &IntegrationAccount,
    ctx: &Ctx,
    (m, new): (&Material, &crate::trackvia::NewUser),
    decided: &Plan,
    base: &mut IntegrationAccount,
    observed: &mut Observed,
) -> Result<Option<Action>, Error> {
    let now = ctx.clock.now();
    ensure_finalizer(ia, ctx).await?;
    // Intent first: a crash after the call finds the user by email instead of creating it again.
    let previous = ia
        .status
        .as_ref()
        .and_then(|s| s.user.clone())
        .unwrap_or_default();
    let intent = UserStatus {
        id: None,
        state: Some(CREATE_PENDING.to_owned()),
        created_by_operator: Some(true),
        create_requested_time: Some(ctx.clock.now_time()),
        create_failed_time: previous.create_failed_time,
        create_attempts: previous.create_attempts,
    };
    let mut pending = status_from(ia, decided, ctx);
    pending.user = Some(intent.clone());
    apply_status(ctx, ia, &pending).await?;
    base.status = Some(pending);
    let uid = m.account.uid().unwrap_or_default();
    let failure = match m.api.create_user(&m.admin, new).await {
        Ok(u) => Ok(u),
        Err(
            e @ TrackviaError::Rejected {
                status: 400 | 409 | 422,
                ..
            },
        ) => {
            // "Already exists" only if the user is there now (a create of ours that
            // completed before a crash): adopt it. Otherwise TrackVia refused the create.
            ctx.own.directory.forget(&uid);
            match ctx
                .own
                .directory
                .find(
                    &uid,
                    (&m.api, &m.admin),
                    &new.email,
                    ctx.settings.user_poll_interval,
                    true,
                )
                .await
            {
                Ok(Some(u)) => Ok(u),
                Ok(None) => Err(e),
                Err(lookup) => Err(lookup),
            }
        }
        Err(e) => Err(e),
    };
    let created = match failure {
        Ok(u) => u,
        Err(e) => {
            // I10: recorded with its time, so the next create waits its backoff however
            // often the account is reconciled (its own status write included).
            let attempts = ia
                .status
                .as_ref()
                .and_then(|s| s.user.as_ref())
                .filter(|u| u.state.as_deref() == Some(plan::CREATE_FAILED))
                .and_then(|u| u.create_attempts)
                .unwrap_or(0)
                + 1;
            let failed = UserStatus {
                id: None,
                state: Some(plan::CREATE_FAILED.to_owned()),
                created_by_operator: None,
                create_requested_time: intent.create_requested_time.clone(),
                create_failed_time: Some(ctx.clock.now_time()),
                create_attempts: Some(attempts),
            };
            base.status.get_or_insert_with(Default::default).user = Some(failed);
            observed.user = UserLookup::CreateFailed(e);
            let decided = plan(base, observed, now, intervals(ctx));
            let settled = report(ia, base, ctx, observed, &decided, Some(m), false).await?;
            return Ok(Some(ctx.own.timers.requeue(ia, settle(settled, decided.requeue))));
        }
    };
    ctx.own.directory.forget(&uid);
    event(
        ctx,
        ia,
        false,
        "UserCreated",
        format!(
            "created TrackVia user {} {} <{}> (id {})",
            created.first_name, created.last_name, created.email, created.id
        ),
    )
    .await;
    observed.user = UserLookup::Found(created);
    Ok(None)
}

/// The status the plan describes, with conditions merged into the current ones.
fn status_from(ia: &IntegrationAccount, decided: &Plan, ctx: &Ctx) -> IntegrationAccountStatus {
    let current = ia.status.clone().unwrap_or_default();
    let merged = conditions::merge(
        &current.common.conditions,
        &decided.conditions,
        ia.meta().generation,
        &ctx.clock.now_time(),
    );
    IntegrationAccountStatus {
        common: CommonStatus {
            observed_generation: ia.meta().generation,
            conditions: merged,
            // `observe` honoured a pending recheck (it runs before any status is written).
            recheck_handled: crate::reconcile::recheck::handled(
                crate::reconcile::recheck::pending(ia, Some(&current.common)),
                Some(&current.common),
            ),
        },
        next_action: decided.next_action.clone(),
        user: decided.user.clone(),
        token: decided.token.clone(),
        access: decided.access.clone(),
        credentials_secret: current.credentials_secret.clone(),
        rotation: Some(rotation_summary(
            current.rotation.clone().unwrap_or_default(),
            &decided.rotations,
        )),
    }
}

/// Which rotation runs and when the last one succeeded.
fn rotation_summary(mut summary: RotationSummary, rotations: &[seen::RotationSeen]) -> RotationSummary {
    summary.active = rotations.iter().find(|r| !r.finished).map(|r| r.name.clone());
    summary.last_rotation_time = rotations
        .iter()
        .filter(|r| r.outcome == Some(RotationOutcome::Succeeded))
        .filter_map(|r| r.finished_time)
        .max()
        .map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time)
        .or(summary.last_rotation_time);
    summary
}

/// Creates the CredentialRotation (owned by the IntegrationAccount); one that exists already is
/// the one a previous attempt created.
async fn start_rotation(
    ia: &IntegrationAccount,
    ctx: &Ctx,
    request: &plan::RotationRequest,
) -> Result<(), Error> {
    let spec = CredentialRotationSpec {
        integration_account_ref: crate::api::LocalRef { name: ia.name_any() },
        strategy: None,
        reason: Some(request.reason.chars().take(256).collect()),
        dry_run: None,
        take_over: None,
    };
    if rotation::start(ctx, ia, &request.name, request.trigger, spec).await? {
        event(
            ctx,
            ia,
            false,
            "RotationStarted",
            format!("created CredentialRotation {}: {}", request.name, request.reason),
        )
        .await;
    }
    Ok(())
}

/// Keeps the last `rotation.historyLimit` (default 5) finished rotations of the account.
async fn prune_history(ia: &IntegrationAccount, ctx: &Ctx, observed: &Observed) {
    let limit = ia
        .spec
        .rotation
        .as_ref()
        .and_then(|r| r.history_limit)
        .unwrap_or(5)
        .max(1) as usize;
    // A rotation that still holds recipes stopped or waits for the old token's revocation keeps
    // its record (and its finding) until that is resolved.
    let mut finished: Vec<&seen::RotationSeen> = observed
        .rotations
        .iter()
        .filter(|r| r.finished && r.held_recipes == 0)
        .filter(|r| {
            !matches!(
                r.revocation,
                Some(Revocation::Awaiting { .. } | Revocation::Overdue { .. })
            )
        })
        .collect();
    if finished.len() <= limit {
        return;
    }
    finished.sort_by_key(|r| std::cmp::Reverse(r.finished_time.or(r.created)));
    let api: Api<CredentialRotation> =
        Api::namespaced(ctx.client.clone(), &ia.namespace().unwrap_or_default());
    for old in &finished[limit..] {
        if let Err(e) = api.delete(&old.name, &Default::default()).await {
            tracing::warn!(rotation = %old.name, error = %e, "could not prune rotation history");
        }
    }
}

async fn report(
    ia: &IntegrationAccount,
    base: &IntegrationAccount,
    ctx: &Ctx,
    observed: &Observed,
    decided: &Plan,
    material: Option<&Material>,
    published_now: bool,
) -> Result<bool, Error> {
    let before = ia.status.clone().unwrap_or_default();
    let mut status = status_from(base, decided, ctx);
    if published_now {
        let fp = material
            .and_then(|m| m.token.as_ref())
            .map(|t| ctx.fingerprint(t.expose()));
        status.credentials_secret = Some(PublishedSecretStatus {
            name: Some(ia.spec.credentials_secret.name.clone()),
            token_fingerprint: fp,
            published_time: Some(ctx.clock.now_time()),
        });
    }
    match &observed.published {
        SecretSeen::Foreign => status.credentials_secret = None,
        // A rotation may have written the Secret: record what it holds now.
        SecretSeen::Ours {
            fingerprint: Some(fp),
            ..
        } if !published_now => {
            let mut record = status.credentials_secret.clone().unwrap_or_default();
            record.name = Some(ia.spec.credentials_secret.name.clone());
            record.token_fingerprint = Some(fp.clone());
            status.credentials_secret = Some(record);
        }
        _ => {}
    }
    let mut settled = true;
    if status != before {
        settled = apply_status(ctx, ia, &status).await?;
        announce(
            ctx,
            "IntegrationAccount",
            ia,
            &before.common.conditions,
            &status.common.conditions,
        )
        .await;
    }
    // A first publication is what makes the account Ready: the `Ready` Event says so ("its
    // credentials published"), one Event for one change.
    let ready_now = conditions::turned_ready(&before.common.conditions, &status.common.conditions);
    if published_now && !ready_now {
        event(
            ctx,
            ia,
            false,
            "CredentialsPublished",
            format!("wrote Secret {}", ia.spec.credentials_secret.name),
        )
        .await;
    }
    Ok(settled)
}

async fn publish(
    ia: &IntegrationAccount,
    ctx: &Ctx,
    m: &Material,
    token: &crate::trackvia::AuthToken,
) -> Result<(), Error> {
    let written = publish_token(ctx, ia, &m.account, &m.api_key, token).await?;
    // Its watch event is the echo of this write: it does not wake this account again.
    ctx.written
        .record(written.uid().as_deref(), written.resource_version().as_deref());
    Ok(())
}

async fn ensure_finalizer(ia: &IntegrationAccount, ctx: &Ctx) -> Result<(), Error> {
    if ia.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(());
    }
    let api: Api<IntegrationAccount> =
        Api::namespaced(ctx.client.clone(), &ia.namespace().unwrap_or_default());
    let mut finalizers = ia.finalizers().to_vec();
    finalizers.push(FINALIZER.to_owned());
    let patch = json!({ "metadata": { "finalizers": finalizers, "resourceVersion": ia.resource_version() } });
    let written = api
        .patch(&ia.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(Error::kube("adding the finalizer"))?;
    ctx.written
        .record(written.uid().as_deref(), written.resource_version().as_deref());
    Ok(())
}

/// Deletion never calls TrackVia (it has no API to deactivate users), so it never hangs on it.
/// It waits for the account's unfinished rotations: each is deleted and puts back what it changed
/// (connections on the published token, stopped recipes running) while the published credentials
/// still exist (I4).
async fn cleanup(ia: &IntegrationAccount, ctx: &Ctx) -> Result<Action, Error> {
    if !ia.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    let ns = ia.namespace().unwrap_or_default();
    let unfinished: Vec<Arc<CredentialRotation>> = ctx
        .own
        .caches
        .rotations(&ctx.client, &ns, &ia.name_any(), Source::ApiServer)
        .await?
        .into_iter()
        .filter(|r| {
            !r.status
                .as_ref()
                .and_then(|s| s.phase)
                .is_some_and(|p| p.is_terminal())
        })
        .collect();
    if !unfinished.is_empty() {
        let rotations: Api<CredentialRotation> = Api::namespaced(ctx.client.clone(), &ns);
        for r in unfinished
            .iter()
            .filter(|r| r.meta().deletion_timestamp.is_none())
        {
            match rotations.delete(&r.name_any(), &Default::default()).await {
                Ok(_) => {
                    event(
                        ctx,
                        ia,
                        false,
                        "Deleting",
                        format!(
                            "the IntegrationAccount is being deleted: CredentialRotation {} puts back what it changed first",
                            r.name_any()
                        ),
                    )
                    .await;
                }
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(Error::kube("deleting an unfinished CredentialRotation")(e)),
            }
        }
        return Ok(Action::requeue(Duration::from_secs(2)));
    }
    let user = ia.status.as_ref().and_then(|s| s.user.as_ref());
    let id = user
        .and_then(|u| u.id)
        .map(|i| format!(" (id {i})"))
        .unwrap_or_default();
    let created_by_us = user.is_some_and(|u| u.created_by_operator == Some(true));
    match ia.spec.deletion_policy.unwrap_or(DeletionPolicy::Retain) {
        DeletionPolicy::Retain if !created_by_us => {}
        DeletionPolicy::Retain => {
            let note = format!(
                "TrackVia user {} {}{id} <{}> was kept. TrackVia's API cannot deactivate users: in TrackVia, Manage Users -> the user -> Deactivate, and deactivate its tokens under API Access",
                ia.spec.system, LAST_NAME, ia.spec.email
            );
            event(ctx, ia, true, "UserRetained", note).await;
        }
        DeletionPolicy::Orphan => {
            event(
                ctx,
                ia,
                false,
                "UserOrphaned",
                format!("forgot TrackVia user <{}>{id}", ia.spec.email),
            )
            .await;
        }
    }
    let api: Api<IntegrationAccount> =
        Api::namespaced(ctx.client.clone(), &ia.namespace().unwrap_or_default());
    let finalizers: Vec<String> = ia
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    let patch = json!({ "metadata": { "finalizers": finalizers, "resourceVersion": ia.resource_version() } });
    api.patch(&ia.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(Error::kube("removing the finalizer"))?;
    Ok(Action::await_change())
}

/// Error policy: log, requeue by error class.
pub fn error_policy(_: Arc<IntegrationAccount>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(error = %err, "IntegrationAccount reconcile failed");
    Action::requeue(err.requeue_after())
}
