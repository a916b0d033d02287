//! IntegrationAccount: provision the dedicated TrackVia API user, guide the person's UI steps and
//! verify them, validate and scope-check the token, publish the credentials Secret.
//!
//! observe (reads; TrackVia only when due) -> plan (pure) -> act (at most one step) -> report.

mod observe;
pub mod observed;
pub mod plan;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use self::observe::{Material, desired_secret, observe};
use self::observed::{Observed, Published, UserLookup};
use self::plan::{CREATE_PENDING, Intervals, Plan, Step, plan};
use super::{Context, Error, FIELD_MANAGER, announce, apply_status, event};
use crate::api::common::CommonStatus;
use crate::api::integration_account::{
    DeletionPolicy, IntegrationAccount, IntegrationAccountStatus, PublishedSecretStatus, UserStatus,
};
use crate::conditions;
use crate::metrics::ObjectLabels;
use crate::trackvia::{TrackviaApi, TrackviaError};

/// Finalizer added just before the operator first creates something in TrackVia.
pub const FINALIZER: &str = "integrations.trackvia-operator.dev/trackvia-user";
/// Annotation on the token Secret with the token's expiry (RFC 3339), as set in TrackVia.
pub const EXPIRES_AT_ANNOTATION: &str = "integrations.trackvia-operator.dev/expires-at";
/// Annotation on the published Secret with the token's fingerprint.
pub const FINGERPRINT_ANNOTATION: &str = "integrations.trackvia-operator.dev/token-fingerprint";
/// Label on the published Secret naming its IntegrationAccount.
pub const INTEGRATION_ACCOUNT_LABEL: &str = "integrations.trackvia-operator.dev/integration-account";

/// Keys of the published credentials Secret.
pub mod keys {
    /// The account API key (`user_key`).
    pub const API_KEY: &str = "apiKey";
    /// The auth token (`access_token`).
    pub const AUTH_TOKEN: &str = "authToken";
    /// The account's base URL.
    pub const BASE_URL: &str = "baseUrl";
    /// `sandbox` or `production`.
    pub const ENVIRONMENT: &str = "environment";
    /// The TrackVia account id (only when the TrackViaAccount sets one).
    pub const ACCOUNT_ID: &str = "accountId";
    /// The user's email.
    pub const EMAIL: &str = "email";
}

/// Reconciles one IntegrationAccount.
pub async fn reconcile(ia: Arc<IntegrationAccount>, ctx: Arc<Context>) -> Result<Action, Error> {
    super::measured(&ctx, "IntegrationAccount", async {
        if ia.meta().deletion_timestamp.is_some() {
            return cleanup(&ia, &ctx).await;
        }
        apply(&ia, &ctx).await
    })
    .await
}

fn intervals(ctx: &Context) -> Intervals {
    Intervals {
        token_check: ctx.settings.token_check_interval,
        user_poll: ctx.settings.user_poll_interval,
    }
}

async fn apply(ia: &IntegrationAccount, ctx: &Context) -> Result<Action, Error> {
    let now = ctx.clock.now();
    let (mut observed, material) = observe(ia, ctx, now).await?;
    let mut decided = plan(ia, &observed, now, intervals(ctx));
    let mut base = ia.clone();
    let mut published_now = false;

    match (&decided.step, &material) {
        (Step::CreateUser(new), Some(m)) => {
            ensure_finalizer(ia, ctx).await?;
            // Intent first: a crash after the call finds the user by email instead of creating it again.
            let intent = UserStatus {
                id: None,
                state: Some(CREATE_PENDING.to_owned()),
                created_by_operator: Some(true),
                create_requested_time: Some(ctx.clock.now_time()),
            };
            let mut pending = status_from(ia, &decided, ctx);
            pending.user = Some(intent.clone());
            apply_status(ctx, ia, &pending).await?;
            base.status = Some(pending);
            let uid = m.account.uid().unwrap_or_default();
            let created = match m.api.create_user(&m.admin, new).await {
                Ok(u) => u,
                Err(TrackviaError::Rejected {
                    status: 400 | 409 | 422,
                    ..
                }) => {
                    // Already there (a create of ours that completed before a crash): adopt it.
                    ctx.forget_users(&uid);
                    match ctx.find_user(&uid, &m.api, &m.admin, &new.email, true).await? {
                        Some(u) => u,
                        None => return Ok(Action::requeue(Duration::from_secs(10))),
                    }
                }
                Err(e) => return Err(e.into()),
            };
            ctx.forget_users(&uid);
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
            decided = plan(&base, &observed, now, intervals(ctx));
        }
        (Step::Publish, Some(m)) => {
            if let Some(token) = &m.token {
                publish(ia, ctx, m, token).await?;
                published_now = true;
                observed.published = Published::Ours { up_to_date: true };
            }
        }
        _ => {}
    }

    report(
        ia,
        &base,
        ctx,
        &observed,
        &decided,
        material.as_ref(),
        published_now,
    )
    .await?;
    Ok(Action::requeue(decided.requeue))
}

/// The status the plan describes, with conditions merged into the current ones.
fn status_from(ia: &IntegrationAccount, decided: &Plan, ctx: &Context) -> IntegrationAccountStatus {
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
        },
        next_action: decided.next_action.clone(),
        user: decided.user.clone(),
        token: decided.token.clone(),
        access: decided.access.clone(),
        credentials_secret: current.credentials_secret.clone(),
        rotation: current.rotation.clone(),
    }
}

async fn report(
    ia: &IntegrationAccount,
    base: &IntegrationAccount,
    ctx: &Context,
    observed: &Observed,
    decided: &Plan,
    material: Option<&Material>,
    published_now: bool,
) -> Result<(), Error> {
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
    if matches!(observed.published, Published::Foreign) {
        status.credentials_secret = None;
    }
    let labels = ObjectLabels {
        namespace: ia.namespace().unwrap_or_default(),
        name: ia.name_any(),
    };
    if let Some(e) = status.token.as_ref().and_then(|t| t.expires_at.as_ref()) {
        ctx.metrics
            .token_expiry
            .get_or_create(&labels)
            .set(e.0.as_second());
    }
    let due = conditions::find(&status.common.conditions, conditions::types::ROTATION_DUE)
        .is_some_and(|c| c.status == "True");
    ctx.metrics
        .rotation_due
        .get_or_create(&labels)
        .set(i64::from(due));
    if status != before {
        apply_status(ctx, ia, &status).await?;
        announce(
            ctx,
            "IntegrationAccount",
            ia,
            &before.common.conditions,
            &status.common.conditions,
        )
        .await;
    }
    if published_now {
        event(
            ctx,
            ia,
            false,
            "CredentialsPublished",
            format!("wrote Secret {}", ia.spec.credentials_secret.name),
        )
        .await;
    }
    Ok(())
}

async fn publish(
    ia: &IntegrationAccount,
    ctx: &Context,
    m: &Material,
    token: &crate::trackvia::AuthToken,
) -> Result<(), Error> {
    let fp = ctx.fingerprint(token.expose());
    let secret = desired_secret(ia, m, token, &fp).ok_or(Error::Malformed("uid"))?;
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ia.namespace().unwrap_or_default());
    api.patch(
        &ia.spec.credentials_secret.name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&secret),
    )
    .await
    .map_err(Error::kube("writing the credentials Secret"))?;
    Ok(())
}

async fn ensure_finalizer(ia: &IntegrationAccount, ctx: &Context) -> Result<(), Error> {
    if ia.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(());
    }
    let api: Api<IntegrationAccount> =
        Api::namespaced(ctx.client.clone(), &ia.namespace().unwrap_or_default());
    let mut finalizers = ia.finalizers().to_vec();
    finalizers.push(FINALIZER.to_owned());
    let patch = json!({ "metadata": { "finalizers": finalizers, "resourceVersion": ia.resource_version() } });
    api.patch(&ia.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(Error::kube("adding the finalizer"))?;
    Ok(())
}

/// Deletion never calls TrackVia (it has no API to deactivate users), so it never hangs on it.
async fn cleanup(ia: &IntegrationAccount, ctx: &Context) -> Result<Action, Error> {
    if !ia.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    let user = ia.status.as_ref().and_then(|s| s.user.as_ref());
    let id = user
        .and_then(|u| u.id)
        .map(|i| format!(" (id {i})"))
        .unwrap_or_default();
    match ia.spec.deletion_policy.unwrap_or(DeletionPolicy::Retain) {
        DeletionPolicy::Retain => {
            let note = format!(
                "TrackVia user {} {}{id} <{}> was kept. TrackVia's API cannot deactivate users: in TrackVia, Manage Users -> the user -> Deactivate, and deactivate its tokens under API Access",
                ia.spec.system,
                plan::LAST_NAME,
                ia.spec.email
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
pub fn error_policy(_: Arc<IntegrationAccount>, err: &Error, _: Arc<Context>) -> Action {
    tracing::warn!(error = %err, "IntegrationAccount reconcile failed");
    Action::requeue(err.requeue_after())
}
