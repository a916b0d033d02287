//! TrackViaAccount: read the admin credentials, check them with one cheap call when due (new
//! credentials, spec change, or the check interval elapsed), and say in `Ready` what a person can
//! do about a failure.

use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;

use crate::api::trackvia_account::TrackViaAccount;
use crate::conditions::{Cond, Reason, reasons};
use crate::domain::accounts::{admin_credentials, trackvia_client};
use crate::domain::caches::Source;
use crate::domain::secret_ref::SecretRefError;
use crate::reconcile::{Context, Error, Scoped, credential_check, interval};
use crate::trackvia::{AuthFailure, AuthToken, HttpTrackvia, TrackviaApi, TrackviaError};

/// What the TrackViaAccount reconciler works with: its own cache.
pub type Ctx = Scoped<Store<TrackViaAccount>>;

/// Reconciles one TrackViaAccount.
pub async fn reconcile(account: Arc<TrackViaAccount>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    crate::reconcile::measured(&ctx, "TrackViaAccount", async {
        // The cache, unless it has not shown our last status write yet.
        match crate::reconcile::current(&ctx, &*account, Some(&ctx.own)).await? {
            Some(account) => reconcile_inner(&account, &ctx).await,
            None => Ok(Action::await_change()),
        }
    })
    .await
}

async fn reconcile_inner(account: &TrackViaAccount, ctx: &Context) -> Result<Action, Error> {
    let every = interval(
        account.spec.check_interval.as_deref(),
        ctx.settings.account_check_interval,
    );
    let status = account.status.clone().unwrap_or_default();
    let (cond, fingerprint) = match admin_credentials(ctx, account, Source::Cache).await {
        Err(e) => (secret_condition(&e), None),
        Ok(creds) => {
            let fp = ctx.fingerprint(&format!("{}|{}", creds.api_key.expose(), creds.token.expose()));
            if let Some(wait) = credential_check::not_due(account, &status, &fp, every, ctx.clock.now()) {
                // Nothing changed and the check is not due: no call to TrackVia.
                return Ok(Action::requeue(wait));
            }
            let api = trackvia_client(ctx, account, creds.api_key)?;
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
        Ok(_) => Cond::true_(reasons::CredentialsValid::Accepted, "the admin token lists users"),
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
    Cond::false_(e.reason(), format!("{e}: {fix}"))
}

/// The condition for a failed check, with the action a person can take.
fn api_condition(e: &TrackviaError) -> Cond {
    match e {
        TrackviaError::Unauthorized { kind, .. } => {
            let (reason, fix) = match kind {
                AuthFailure::TokenExpired => (
                    reasons::CredentialsValid::AdminTokenExpired,
                    "create a new admin token under API Access and update the Secret",
                ),
                AuthFailure::ApiKeyInvalid => (
                    reasons::CredentialsValid::ApiKeyInvalid,
                    "copy the API key from API Access of this account into the Secret",
                ),
                AuthFailure::UserInactive => (
                    reasons::CredentialsValid::AdminUserInactive,
                    "reactivate the admin API user or use another admin's token",
                ),
                AuthFailure::TokenInvalid => (
                    reasons::CredentialsValid::AdminTokenInvalid,
                    "the token is deactivated, deleted or from another account/environment: check baseUrl, accountId and the token",
                ),
                AuthFailure::Unrecognised => (
                    reasons::CredentialsValid::Unrecognised,
                    "TrackVia's answer (above, as it came) names no cause the operator knows: check the API key, the admin token and baseUrl",
                ),
                _ => (
                    reasons::CredentialsValid::Unauthorized,
                    "check the API key and admin token",
                ),
            };
            Cond::false_(reason, format!("{e}: {fix}"))
        }
        TrackviaError::Forbidden { .. } => Cond::false_(
            reasons::CredentialsValid::NotAdmin,
            format!("{e}: the token's user cannot list users; use a Super Admin API user's token"),
        ),
        TrackviaError::NotFound { .. } => Cond::false_(
            reasons::CredentialsValid::WrongBaseUrl,
            format!("{e}: check baseUrl (private environments use their own subdomain)"),
        ),
        other if crate::external::Classify::is_transient(other) => Cond::unknown(
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

/// Error policy: log, count, requeue by error class.
pub fn error_policy(_: Arc<TrackViaAccount>, err: &Error, _: Arc<Ctx>) -> Action {
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
        assert_eq!(
            api_condition(&e(
                403,
                r#"{"errors":[],"message":"Access is denied","name":"accessDenied","code":"403"}"#
            ))
            .reason,
            "NotAdmin"
        );
        // The gateway refusing the API key is not a role problem.
        let c = api_condition(&e(403, "Authentication failed"));
        assert_eq!(c.reason, "ApiKeyInvalid");
        assert!(c.message.contains("API key"), "{}", c.message);
        let c = api_condition(&e(403, "<html>blocked</html>"));
        assert_eq!(c.reason, "Unrecognised");
        assert!(c.message.contains("<html>blocked</html>"), "{}", c.message);
        assert_eq!(api_condition(&e(503, "{}")).reason, "Unreachable");
        let c = secret_condition(&SecretRefError::KeyMissing {
            name: "s".into(),
            key: "k".into(),
        });
        assert_eq!(
            (c.reason, c.message.as_str()),
            ("SecretKeyMissing", "Secret s has no key k: add key k to Secret s")
        );
    }
}
