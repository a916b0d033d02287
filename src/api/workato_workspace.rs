//! `WorkatoWorkspace`: a Workato workspace (data center + environment) and its API client token.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{CheckedStatus, Environment, SecretKeyRef, rules};

/// A Workato workspace (one environment of it), reached through a Developer API client.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "integrations.trackvia-operator.dev",
    version = "v1alpha1",
    kind = "WorkatoWorkspace",
    namespaced,
    status = "CheckedStatus",
    shortname = "wkws",
    category = "trackvia",
    doc = "A Workato workspace environment and the API client token the operator uses to manage its connections and recipes.",
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
pub struct WorkatoWorkspaceSpec {
    /// Base URL of the workspace's data center, without `/api`: `https://www.workato.com` (US),
    /// `https://app.eu.workato.com` (EU), `https://app.jp.workato.com`, ... or a private host.
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new(rules::BASE_URL).message(rules::BASE_URL_MSG))]
    pub base_url: String,
    /// `sandbox` (Workato DEV/TEST) or `production` (PROD). Must match the environment of every
    /// TrackViaAccount whose credentials reach this workspace. Cannot change after creation.
    #[x_kube(validation = Rule::new(rules::IMMUTABLE).message("environment cannot change after creation; create a new WorkatoWorkspace for the other environment"))]
    pub environment: Environment,
    /// Where the Developer API client token is (Workspace admin -> API clients). The client is
    /// bound to one environment and needs the connections and recipes privileges.
    pub api_token: SecretKeyRef,
    /// For Workato Embedded: the managed user (customer workspace) id or `E`-prefixed external id.
    /// Requests then go to `/api/managed_users/<id>/...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub managed_user_id: Option<String>,
    /// How often the token is re-checked and recipes re-listed (a Go duration, default `5m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 32))]
    #[x_kube(validation = Rule::new(rules::DURATION).message(rules::DURATION_MSG))]
    pub check_interval: Option<String>,
}

/// Observed state: conditions and the last credentials check.
pub type WorkatoWorkspaceStatus = CheckedStatus;
