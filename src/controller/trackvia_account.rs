//! TrackViaAccount: read the admin credentials, check them with one cheap call when due (new
//! credentials, spec change, or the check interval elapsed), and say in `Ready` what a person can
//! do about a failure.

use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::secret_ref::{self, SecretRefError};
use super::{Context, Error, credential_check, interval};
use crate::api::trackvia_account::TrackViaAccount;
use crate::conditions::{Cond, types};
use crate::secret::Sensitive;
use crate::trackvia::{AuthFailure, AuthToken, HttpTrackvia, TrackviaApi, TrackviaConfig, TrackviaError};

/// The admin credentials of an account.
pub struct AdminCredentials {
    /// The account API key.
    pub api_key: Sensitive<String>,
    /// The admin auth token.
    pub token: AuthToken,
}

/// Reads the admin credentials named by the spec.
pub async fn admin_credentials(
    ctx: &Context,
    account: &TrackViaAccount,
) -> Result<AdminCredentials, SecretRefError> {
    let ns = account.namespace().unwrap_or_default();
    let creds = &account.spec.admin_credentials;
    let (api_key, token) = secret_ref::read_pair(&ctx.client, &ns, &creds.api_key, &creds.auth_token).await?;
    Ok(AdminCredentials {
        api_key: api_key.value,
        token: token.value,
    })
}

/// The client of an account, with a given API key.
pub fn client(
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
    Ok(ctx.trackvia(&uid, config)?)
}

/// Reconciles one TrackViaAccount.
pub async fn reconcile(account: Arc<TrackViaAccount>, ctx: Arc<Context>) -> Result<Action, Error> {
    super::measured(&ctx, "TrackViaAccount", reconcile_inner(&account, &ctx)).await
}

async fn reconcile_inner(account: &TrackViaAccount, ctx: &Context) -> Result<Action, Error> {
    let every = interval(
        account.spec.check_interval.as_deref(),
        ctx.settings.account_check_interval,
    );
    let status = account.status.clone().unwrap_or_default();
    let (cond, fingerprint) = match admin_credentials(ctx, account).await {
        Err(e) => (secret_condition(&e), None),
        Ok(creds) => {
            let fp = ctx.fingerprint(&format!("{}|{}", creds.api_key.expose(), creds.token.expose()));
            if let Some(wait) =
                credential_check::not_due(&status, &fp, account.meta().generation, every, ctx.clock.now())
            {
                // Nothing changed and the check is not due: no call to TrackVia.
                return Ok(Action::requeue(wait));
            }
            let api = client(ctx, account, creds.api_key)?;
            (check(&api, &creds.token).await, Some(fp))
        }
    };
    credential_check::report(
        ctx,
        "TrackViaAccount",
        account,
        cond,
        fingerprint,
        every,
        "admin credentials accepted",
    )
    .await
}

/// One cheap call that needs the admin rights the operator relies on: the first user.
async fn check(api: &HttpTrackvia, token: &AuthToken) -> Cond {
    match api.list_users(token, 0, 1).await {
        Ok(_) => Cond::ok(
            types::CREDENTIALS_VALID,
            "Accepted",
            "the admin token lists users",
        ),
        Err(e) => api_condition(&e),
    }
}

fn secret_condition(e: &SecretRefError) -> Cond {
    let fix = match e {
        SecretRefError::Missing { name } => format!(
            "create Secret {name} with the account API key and an admin auth token (see the adminCredentials keys)"
        ),
        SecretRefError::KeyMissing { name, key } => format!("add key {key} to Secret {name}"),
        SecretRefError::Unusable { name, key } => {
            format!("put the credential as text in key {key} of Secret {name}")
        }
        SecretRefError::Api { .. } => "check the operator's RBAC for Secrets".to_owned(),
    };
    Cond::fail(types::CREDENTIALS_VALID, e.reason(), format!("{e}: {fix}"))
}

/// The condition for a failed check, with the action a person can take.
fn api_condition(e: &TrackviaError) -> Cond {
    let c = types::CREDENTIALS_VALID;
    match e {
        TrackviaError::Unauthorized { kind, .. } => {
            let (reason, fix) = match kind {
                AuthFailure::TokenExpired => (
                    "AdminTokenExpired",
                    "create a new admin token under API Access and update the Secret",
                ),
                AuthFailure::ApiKeyInvalid => (
                    "ApiKeyInvalid",
                    "copy the API key from API Access of this account into the Secret",
                ),
                AuthFailure::UserInactive => (
                    "AdminUserInactive",
                    "reactivate the admin API user or use another admin's token",
                ),
                AuthFailure::TokenInvalid => (
                    "AdminTokenInvalid",
                    "the token is deactivated, deleted or from another account/environment: check baseUrl, accountId and the token",
                ),
                _ => ("Unauthorized", "check the API key and admin token"),
            };
            Cond::fail(c, reason, format!("{e}: {fix}"))
        }
        TrackviaError::Forbidden { .. } => Cond::fail(
            c,
            "NotAdmin",
            format!("{e}: the token's user cannot list users; use a Super Admin API user's token"),
        ),
        TrackviaError::NotFound { .. } => Cond::fail(
            c,
            "WrongBaseUrl",
            format!("{e}: check baseUrl (private environments use their own subdomain)"),
        ),
        other if crate::external::Classify::is_transient(other) => {
            Cond::unknown(c, "Unreachable", format!("{other}; will retry"))
        }
        other => Cond::fail(c, other.label(), other.to_string()),
    }
}

/// Error policy: log, count, requeue by error class.
pub fn error_policy(_: Arc<TrackViaAccount>, err: &Error, _: Arc<Context>) -> Action {
    tracing::warn!(error = %err, "TrackViaAccount reconcile failed");
    Action::requeue(err.requeue_after())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_names_its_fix() {
        let e = |status, body: &str| TrackviaError::from_response("list users", status, None, body, &[]);
        let c = api_condition(&e(
            401,
            r#"{"error":"invalid_token","error_description":"Access token expired: x"}"#,
        ));
        assert_eq!(c.reason, "AdminTokenExpired");
        assert!(c.message.contains("API Access"));
        assert_eq!(api_condition(&e(403, "{}")).reason, "NotAdmin");
        assert_eq!(api_condition(&e(503, "{}")).reason, "Unreachable");
        let c = secret_condition(&SecretRefError::KeyMissing {
            name: "s".into(),
            key: "k".into(),
        });
        assert_eq!(
            (c.reason.as_ref(), c.message.as_str()),
            ("SecretKeyMissing", "Secret s has no key k: add key k to Secret s")
        );
    }
}
