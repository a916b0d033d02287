//! `CredentialRotation`: one staged rotation run of an IntegrationAccount's token.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{CommonStatus, LocalRef, rules};
use super::integration_account::RotationStrategy;

/// One staged rotation run (like cert-manager's CertificateRequest): created by the operator for
/// a new token, a request or the schedule, or by hand. Its status records every step before it
/// is taken, so a restarted operator resumes it.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "integrations.trackvia-operator.dev",
    version = "v1alpha1",
    kind = "CredentialRotation",
    namespaced,
    status = "CredentialRotationStatus",
    shortname = "rot",
    // `kubectl get --field-selector spec.integrationAccountRef.name=sf`; the operator lists an
    // account's objects this way when it must not rely on its caches (Kubernetes >= 1.30).
    selectable = ".spec.integrationAccountRef.name",
    category = "trackvia",
    doc = "One staged rotation of an IntegrationAccount's token across its Workato connections, with every step recorded in status.",
    printcolumn(
        name = "Account",
        type_ = "string",
        json_path = ".spec.integrationAccountRef.name"
    ),
    printcolumn(name = "Strategy", type_ = "string", json_path = ".status.strategy"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
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
    printcolumn(name = "Started", type_ = "date", json_path = ".status.startedTime"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(rules::IMMUTABLE).message("a CredentialRotation's spec cannot change; create a new CredentialRotation instead"))]
pub struct CredentialRotationSpec {
    /// The IntegrationAccount (same namespace) whose token is rotated.
    pub integration_account_ref: LocalRef,
    /// `Overlap` or `StopAndRestart`. Default: the account's `spec.rotation.strategy`, else
    /// `Overlap` while the old token still works and `StopAndRestart` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<RotationStrategy>,
    /// Why the rotation runs, for people and the history (e.g. `quarterly`, `token leaked`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub reason: Option<String>,
    /// Check everything (token, access, connections, recipe ids, request budget) and change nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
}

/// Observed state of a CredentialRotation. Fingerprints, ids and timestamps only.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialRotationStatus {
    /// Conditions and observed generation.
    #[serde(flatten)]
    pub common: CommonStatus,
    /// The strategy in use, once decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<RotationStrategy>,
    /// The step the rotation is at, or its outcome once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// When the rotation started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_time: Option<Time>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_time: Option<Time>,
    /// When the current phase began (timeouts count from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_time: Option<Time>,
    /// The outcome once finished, one word: `Succeeded`, `RolledBack`, `NewTokenInvalid`,
    /// `ConnectionTestFailed`, `Aborted`, `DryRunPassed`, `DryRunFailed`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// `dryRun`: what the rotation would do, and its request budget estimate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_summary: Option<String>,
    /// `Overlap`: the Secret (owned by this rotation) that keeps the old token until TrackVia
    /// rejects it, so revocation can be confirmed; deleted then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_token_secret: Option<String>,
    /// Fingerprint of the token being replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_token_fingerprint: Option<String>,
    /// Fingerprint of the new token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_token_fingerprint: Option<String>,
    /// `Overlap`: deactivate the old token in TrackVia by this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_deadline: Option<Time>,
    /// When the operator saw the old token rejected by TrackVia.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_token_revoked_time: Option<Time>,
    /// Progress per connection.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connections: Vec<ConnectionProgress>,
    /// Progress per recipe (`StopAndRestart`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipes: Vec<RecipeProgress>,
}

/// One connection's progress through the rotation.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionProgress {
    /// The WorkatoConnection's name.
    pub name: String,
    /// The Workato connection id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// The WorkatoWorkspace it lives in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// `Pending`, `Updating`, `Verified`, `Failed`, `RollingBack`, `RolledBack`.
    pub state: String,
    /// Workato's `authorization_error` when the test failed, trimmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One recipe's progress through a `StopAndRestart` rotation. Only recipes that were running
/// when the rotation started are listed: those are the ones it stops and restarts.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecipeProgress {
    /// Recipe id.
    pub id: i64,
    /// Recipe name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The WorkatoConnection it depends on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// `ToStop`, `Stopping`, `Stopped`, `Starting`, `Started`, `StartFailed`.
    pub state: String,
    /// Errors Workato gave when the start failed (`config_errors`/`code_errors`), trimmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
