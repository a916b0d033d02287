//! Where a TrackVia account and a Workato workspace live: their admin credentials, read from the
//! Secrets their specs name, and the registry's client for each.

use std::sync::Arc;

use kube::ResourceExt;

use super::caches::Source;
use super::secret_ref::{self, SecretRefError};
use crate::api::{TrackViaAccount, WorkatoWorkspace};
use crate::reconcile::{Context, Error};
use crate::secret::Sensitive;
use crate::trackvia::{AuthToken, HttpTrackvia, TrackviaConfig};
use crate::workato::{HttpWorkato, WorkatoConfig};

/// The admin credentials of an account.
pub struct AdminCredentials {
    /// The account API key.
    pub api_key: Sensitive<String>,
    /// The admin auth token.
    pub token: AuthToken,
}

/// Reads the admin credentials named by the spec (from `source`).
pub async fn admin_credentials(
    ctx: &Context,
    account: &TrackViaAccount,
    source: Source,
) -> Result<AdminCredentials, SecretRefError> {
    let ns = account.namespace().unwrap_or_default();
    let creds = &account.spec.admin_credentials;
    let (api_key, token) =
        secret_ref::read_pair(ctx, &ns, (&creds.api_key, &creds.auth_token), source).await?;
    Ok(AdminCredentials {
        api_key: api_key.value,
        token: token.value,
    })
}

/// The client of an account, with a given API key.
pub fn trackvia_client(
    ctx: &Context,
    account: &TrackViaAccount,
    api_key: Sensitive<String>,
) -> Result<Arc<HttpTrackvia>, Error> {
    let mut config = TrackviaConfig::new(account.spec.base_url.clone(), api_key);
    config.account_id = account.spec.account_id.clone();
    if let Some(t) = ctx.settings.vendor_request_timeout {
        config.http.request_timeout = t;
    }
    let uid = account.uid().ok_or(Error::Malformed("uid"))?;
    Ok(ctx.vendors.trackvia(&uid, config)?)
}

/// A workspace's client and the fingerprint of the token it uses.
pub struct WorkspaceClient {
    /// The client.
    pub api: Arc<HttpWorkato>,
    /// Fingerprint of the API client token.
    pub token_fingerprint: String,
}

/// The client of a workspace, from its token Secret read from `source` (the inner error: the
/// Secret is unusable).
pub async fn workspace_client(
    ctx: &Context,
    ws: &WorkatoWorkspace,
    source: Source,
) -> Result<Result<WorkspaceClient, SecretRefError>, Error> {
    let ns = ws.namespace().unwrap_or_default();
    let token = match secret_ref::read(ctx, &ns, &ws.spec.api_token, source).await {
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
        api: ctx.vendors.workato(&uid, config)?,
        token_fingerprint,
    }))
}
