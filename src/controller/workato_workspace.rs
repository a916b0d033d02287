//! WorkatoWorkspace: read the API client token, check it with one cheap call when due, and say in
//! `Ready` what a person can do about a failure.

use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;

use crate::api::workato_workspace::WorkatoWorkspace;
use crate::conditions::{Cond, Reason, reasons};
use crate::domain::accounts::{WorkspaceClient, workspace_client};
use crate::domain::caches::Source;
use crate::domain::secret_ref::SecretRefError;
use crate::external::Classify;
use crate::reconcile::{Context, Error, Scoped, credential_check, interval};
use crate::workato::{HttpWorkato, RecipeQuery, WorkatoApi, WorkatoError};

/// What the WorkatoWorkspace reconciler works with: its own cache.
pub type Ctx = Scoped<Store<WorkatoWorkspace>>;

/// Reconciles one WorkatoWorkspace.
pub async fn reconcile(ws: Arc<WorkatoWorkspace>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    crate::reconcile::measured(&ctx, "WorkatoWorkspace", async {
        // The cache, unless it has not shown our last status write yet.
        match crate::reconcile::current(&ctx, &*ws, Some(&ctx.own)).await? {
            Some(ws) => reconcile_inner(&ws, &ctx).await,
            None => Ok(Action::await_change()),
        }
    })
    .await
}

async fn reconcile_inner(ws: &WorkatoWorkspace, ctx: &Context) -> Result<Action, Error> {
    let every = interval(
        ws.spec.check_interval.as_deref(),
        ctx.settings.workspace_check_interval,
    );
    let status = ws.status.clone().unwrap_or_default();
    let (cond, fingerprint) = match workspace_client(ctx, ws, Source::Cache).await? {
        Err(e) => (secret_condition(&e), None),
        Ok(WorkspaceClient {
            api,
            token_fingerprint,
        }) => {
            if let Some(wait) =
                credential_check::not_due(ws, &status, &token_fingerprint, every, ctx.clock.now())
            {
                // Nothing changed and the check is not due: no call to Workato.
                return Ok(Action::requeue(wait));
            }
            (check(&api).await, Some(token_fingerprint))
        }
    };
    credential_check::report(
        ctx,
        "WorkatoWorkspace",
        ws,
        cond,
        fingerprint,
        every,
        "API client token accepted",
    )
    .await
}

/// One cheap call: the first recipe (the operator needs the recipes privilege).
async fn check(api: &HttpWorkato) -> Cond {
    let query = RecipeQuery {
        adapter_names_any: None,
        page: 1,
        per_page: 1,
    };
    match api.list_recipes(&query).await {
        Ok(_) => Cond::true_(
            reasons::CredentialsValid::Accepted,
            "the API client token lists recipes",
        ),
        Err(e) => api_condition(&e),
    }
}

fn secret_condition(e: &SecretRefError) -> Cond {
    let fix = match e {
        SecretRefError::Missing { name } => {
            format!("create Secret {name} with the API client token from Workspace admin -> API clients")
        }
        SecretRefError::KeyMissing { name, key } => format!("add key {key} to Secret {name}"),
        SecretRefError::Unusable { name, key } => {
            format!("put the token as text in key {key} of Secret {name}")
        }
        SecretRefError::Api { .. } => "check the operator's RBAC for Secrets".to_owned(),
    };
    Cond::false_(e.reason(), format!("{e}: {fix}"))
}

fn api_condition(e: &WorkatoError) -> Cond {
    match e {
        WorkatoError::Unauthorized { .. } => Cond::false_(
            reasons::CredentialsValid::TokenRejected,
            format!(
                "{e}: regenerate the API client token (Workspace admin -> API clients) and update the Secret"
            ),
        ),
        WorkatoError::Forbidden { .. } => Cond::false_(
            reasons::CredentialsValid::MissingPrivilege,
            format!("{e}: give the API client's role the connections and recipes privileges"),
        ),
        WorkatoError::NotFound { .. } => Cond::false_(
            reasons::CredentialsValid::WrongBaseUrl,
            format!("{e}: check baseUrl (the workspace's data center) and managedUserId"),
        ),
        other if other.is_transient() => Cond::unknown(
            reasons::CredentialsValid::Unreachable,
            format!("{other}; will retry"),
        ),
        other => {
            let reason = reasons::CredentialsValid::parse(other.label())
                .unwrap_or(reasons::CredentialsValid::Rejected);
            Cond::false_(reason, other.to_string())
        }
    }
}

/// Error policy: log, requeue by error class.
pub fn error_policy(_: Arc<WorkatoWorkspace>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(error = %err, "WorkatoWorkspace reconcile failed");
    Action::requeue(err.requeue_after())
}
