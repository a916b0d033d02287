//! WorkatoWorkspace: read the API client token, check it with one cheap call when due, and say in
//! `Ready` what a person can do about a failure.

use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::secret_ref::{self, SecretRefError};
use super::{Context, Error, credential_check, interval};
use crate::api::workato_workspace::WorkatoWorkspace;
use crate::conditions::{Cond, types};
use crate::external::Classify;
use crate::workato::{HttpWorkato, RecipeQuery, WorkatoApi, WorkatoConfig, WorkatoError};

/// A workspace's client and the fingerprint of the token it uses.
pub struct WorkspaceClient {
    /// The client.
    pub api: Arc<HttpWorkato>,
    /// Fingerprint of the API client token.
    pub token_fingerprint: String,
}

/// The client of a workspace, from its token Secret (the inner error: the Secret is unusable).
pub async fn client(
    ctx: &Context,
    ws: &WorkatoWorkspace,
) -> Result<Result<WorkspaceClient, SecretRefError>, Error> {
    let ns = ws.namespace().unwrap_or_default();
    let token = match secret_ref::read(&ctx.client, &ns, &ws.spec.api_token).await {
        Ok(v) => v.value,
        Err(e) => return Ok(Err(e)),
    };
    let token_fingerprint = ctx.fingerprint(token.expose());
    let mut config = WorkatoConfig::new(ws.spec.base_url.clone(), token);
    config.managed_user_id = ws.spec.managed_user_id.clone();
    if let Some(t) = ctx.settings.vendor_request_timeout {
        config.http.request_timeout = t;
    }
    let uid = ws.uid().ok_or(Error::Malformed("uid"))?;
    Ok(Ok(WorkspaceClient {
        api: ctx.workato(&uid, config)?,
        token_fingerprint,
    }))
}

/// Reconciles one WorkatoWorkspace.
pub async fn reconcile(ws: Arc<WorkatoWorkspace>, ctx: Arc<Context>) -> Result<Action, Error> {
    super::measured(&ctx, "WorkatoWorkspace", reconcile_inner(&ws, &ctx)).await
}

async fn reconcile_inner(ws: &WorkatoWorkspace, ctx: &Context) -> Result<Action, Error> {
    let every = interval(
        ws.spec.check_interval.as_deref(),
        ctx.settings.workspace_check_interval,
    );
    let status = ws.status.clone().unwrap_or_default();
    let (cond, fingerprint) = match client(ctx, ws).await? {
        Err(e) => (secret_condition(&e), None),
        Ok(WorkspaceClient {
            api,
            token_fingerprint,
        }) => {
            if let Some(wait) = credential_check::not_due(
                &status,
                &token_fingerprint,
                ws.meta().generation,
                every,
                ctx.clock.now(),
            ) {
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
        Ok(_) => Cond::ok(
            types::CREDENTIALS_VALID,
            "Accepted",
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
    Cond::fail(types::CREDENTIALS_VALID, e.reason(), format!("{e}: {fix}"))
}

fn api_condition(e: &WorkatoError) -> Cond {
    let c = types::CREDENTIALS_VALID;
    match e {
        WorkatoError::Unauthorized { .. } => Cond::fail(
            c,
            "TokenRejected",
            format!(
                "{e}: regenerate the API client token (Workspace admin -> API clients) and update the Secret"
            ),
        ),
        WorkatoError::Forbidden { .. } => Cond::fail(
            c,
            "MissingPrivilege",
            format!("{e}: give the API client's role the connections and recipes privileges"),
        ),
        WorkatoError::NotFound { .. } => Cond::fail(
            c,
            "WrongBaseUrl",
            format!("{e}: check baseUrl (the workspace's data center) and managedUserId"),
        ),
        other if other.is_transient() => Cond::unknown(c, "Unreachable", format!("{other}; will retry")),
        other => Cond::fail(c, other.label(), other.to_string()),
    }
}

/// Error policy: log, requeue by error class.
pub fn error_policy(_: Arc<WorkatoWorkspace>, err: &Error, _: Arc<Context>) -> Action {
    tracing::warn!(error = %err, "WorkatoWorkspace reconcile failed");
    Action::requeue(err.requeue_after())
}
