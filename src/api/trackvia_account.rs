//! `TrackViaAccount`: where a TrackVia account lives and how the operator authenticates as its admin.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{CheckedStatus, Environment, SecretKeyRef, rules};

/// A TrackVia account (tenant) in one environment. IntegrationAccounts refer to it; the operator
/// uses its admin credentials to find and create the dedicated API users.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "integrations.trackvia-operator.dev",
    version = "v1alpha1",
    kind = "TrackViaAccount",
    namespaced,
    status = "CheckedStatus",
    shortname = "tva",
    category = "trackvia",
    doc = "A TrackVia account (tenant) in one environment, with the admin credentials the operator uses to provision integration users.",
    printcolumn(name = "Environment", type_ = "string", json_path = ".spec.environment"),
    printcolumn(name = "URL", type_ = "string", json_path = ".spec.baseUrl"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct TrackViaAccountSpec {
    /// Base URL of the account's API: `https://go.trackvia.com`, or the account's own subdomain
    /// (`https://<sub>.trackvia.com`, required for private environments).
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new(rules::BASE_URL).message(rules::BASE_URL_MSG))]
    pub base_url: String,
    /// Numeric TrackVia account id, sent as the `account-id` header when one login reaches several
    /// accounts (multi-account access, sandboxes). Omit for single-account logins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 20))]
    #[x_kube(validation = Rule::new("self.matches('^[0-9]+$')").message("accountId must be the numeric TrackVia account id, e.g. 12345"))]
    pub account_id: Option<String>,
    /// `sandbox` or `production`. Cannot change after creation: a sandbox account never becomes
    /// production (create a new TrackViaAccount instead).
    #[x_kube(validation = Rule::new(rules::IMMUTABLE).message("environment cannot change after creation; create a new TrackViaAccount for the other environment"))]
    pub environment: Environment,
    /// Where the account's admin credentials are: the account API key (`user_key`) and the auth
    /// token of a Super Admin API user, used to list and create users.
    pub admin_credentials: AdminCredentials,
    /// How often the admin credentials are re-checked against TrackVia (a Go duration, default
    /// `10m`). They are also checked whenever the referenced Secret changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 32))]
    #[x_kube(validation = Rule::new(rules::DURATION).message(rules::DURATION_MSG))]
    pub check_interval: Option<String>,
}

/// References to the account's admin credentials. Both keys may live in one Secret.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminCredentials {
    /// The account API key (TrackVia "API Access" page; sent as the `user_key` query parameter).
    /// The same key serves every user of the account.
    pub api_key: SecretKeyRef,
    /// The auth token of an admin API user, allowed to list and create users.
    pub auth_token: SecretKeyRef,
}

/// Observed state: conditions and the last credentials check.
pub type TrackViaAccountStatus = CheckedStatus;
