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
#[x_kube(
    validation = Rule::new(rules::IMMUTABLE).message("a CredentialRotation's spec cannot change; create a new CredentialRotation instead"),
    validation = Rule::new("!has(self.takeOver) || !has(self.strategy) || self.strategy == 'StopAndRestart'").message("takeOver always stops and restarts the connection's recipes: leave strategy unset or set it to StopAndRestart")
)]
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
    /// Instead of rotating the token, put the credentials the account already publishes on this
    /// one WorkatoConnection (same namespace), adopted while live: stop its running recipes,
    /// update and test the connection, restart them. The operator creates such a rotation when
    /// the WorkatoConnection's `spec.adoption` is `StopAndRestart`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub take_over: Option<LocalRef>,
}

/// Observed state of a CredentialRotation. Fingerprints, ids and timestamps only.
///
/// The status is the rotation's memory: every step is recorded here before it is taken, so a
/// restarted operator resumes where it was. `docs/reliability.md` has the state machine.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialRotationStatus {
    /// Conditions and observed generation.
    #[serde(flatten)]
    pub common: CommonStatus,
    /// The strategy in use, once decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<RotationStrategy>,
    /// The step the rotation is at, or how it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RotationPhase>,
    /// When the rotation started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_time: Option<Time>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_time: Option<Time>,
    /// When the current phase began (timeouts count from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_time: Option<Time>,
    /// The outcome once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<RotationOutcome>,
    /// Set when the rotation has decided how it ends and is putting things back first (the
    /// connections on the published token, the recipes it stopped running again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closing_outcome: Option<RotationOutcome>,
    /// What the rotation is doing or waiting for, or how it ended, in one line for people. A dry
    /// run's report and request budget estimate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_summary: Option<String>,
    /// When the plan (strategy, connections, recipes) was complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_time: Option<Time>,
    /// When the dependent recipes were listed for the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory_time: Option<Time>,
    /// When a person approved the rotation (a scheduled `StopAndRestart` stops nothing before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_time: Option<Time>,
    /// A scheduled `StopAndRestart`: unapproved by this time, it ends `ApprovalExpired` having
    /// changed nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_deadline: Option<Time>,
    /// `Overlap`: the Secret (owned by this rotation) that keeps the old token until TrackVia
    /// rejects it, so revocation can be confirmed; deleted then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_token_secret: Option<String>,
    /// Fingerprint of the token being replaced (the one published when the rotation started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_token_fingerprint: Option<String>,
    /// Fingerprint of the new token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_token_fingerprint: Option<String>,
    /// Fingerprint of a token TrackVia refused while the rotation waited for a new one; the
    /// rotation waits for a different value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_token_fingerprint: Option<String>,
    /// Whether TrackVia accepted the published token when last asked (decides the automatic
    /// strategy, and whether stopped recipes restart after a failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_token_works: Option<bool>,
    /// `StopAndRestart`: when the operator found, after `newTokenTimeout`, that TrackVia rejects
    /// the old token too; the recipes stay stopped until a valid token is placed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_lost_time: Option<Time>,
    /// `Overlap`: deactivate the old token in TrackVia by this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_deadline: Option<Time>,
    /// When the operator saw the old token rejected by TrackVia.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_token_revoked_time: Option<Time>,
    /// When the old token (revocation) or the recipes left stopped were last checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checked_time: Option<Time>,
    /// The last vendor call failed: no call before `notBefore` (exponential backoff, or the
    /// vendor's Retry-After), whatever wakes the rotation up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
    /// Progress per connection.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connections: Vec<ConnectionProgress>,
    /// Progress per recipe the rotation stops and restarts (`StopAndRestart`), and recipes an
    /// earlier rotation left stopped that this one restarts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipes: Vec<RecipeProgress>,
}

/// The steps of a rotation. `docs/reliability.md` draws the machine.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, schemars::JsonSchema,
)]
pub enum RotationPhase {
    /// Accepted; deciding the strategy and recording what will be touched.
    Pending,
    /// Waiting for an earlier rotation of the same IntegrationAccount to finish.
    Queued,
    /// A scheduled `StopAndRestart`: waiting for a person to approve it (nothing stopped yet).
    AwaitingApproval,
    /// `StopAndRestart`: stopping the dependent recipes that were running.
    Stopping,
    /// Waiting for a person to put the new token in the token Secret.
    WaitingForToken,
    /// Validating the new token against TrackVia (and the scope the integration needs).
    Validating,
    /// Updating each connection with the new token and reading Workato's test.
    Switching,
    /// Putting the published token back on every connection the rotation changed.
    RollingBack,
    /// Writing the new credentials Secret.
    Publishing,
    /// Starting exactly the recipes that were stopped.
    Restarting,
    /// The rotation ends without rotating: restarting the recipes it stopped first.
    Aborting,
    /// `Overlap`: switched and published; probing the old token until TrackVia rejects it or
    /// `revocationGracePeriod` ends.
    AwaitingRevocation,
    /// Finished: every connection holds the new token, passed Workato's test, and every recipe
    /// it stopped runs.
    Succeeded,
    /// Finished without rotating, or with something left for a person; the outcome says what.
    Failed,
    /// Finished without rotating on purpose (no token in time, approval expired, cancelled).
    Aborted,
}

impl RotationPhase {
    /// Whether the rotation has finished.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Aborted)
    }
}

impl RotationPhase {
    /// The serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Queued => "Queued",
            Self::AwaitingApproval => "AwaitingApproval",
            Self::Stopping => "Stopping",
            Self::WaitingForToken => "WaitingForToken",
            Self::Validating => "Validating",
            Self::Switching => "Switching",
            Self::RollingBack => "RollingBack",
            Self::Publishing => "Publishing",
            Self::Restarting => "Restarting",
            Self::Aborting => "Aborting",
            Self::AwaitingRevocation => "AwaitingRevocation",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::Aborted => "Aborted",
        }
    }
}

impl std::fmt::Display for RotationPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a rotation ended. Records written before the machine existed still read: their
/// `RevocationOverdue` (set while awaiting revocation, after publishing) reads as `Succeeded`,
/// `RollbackImpossible` as `RollbackFailed`, `UnknownPhase` as `Aborted`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
pub enum RotationOutcome {
    /// Every connection holds the new token and passed Workato's test; every recipe stopped runs.
    #[serde(alias = "RevocationOverdue")]
    Succeeded,
    /// A connection failed Workato's test; every connection changed is back on the published
    /// token.
    RolledBack,
    /// Putting the published token back failed on some connections; the summary names them.
    #[serde(alias = "RollbackImpossible")]
    RollbackFailed,
    /// TrackVia refused the new token, or it cannot reach what `spec.access` lists.
    NewTokenInvalid,
    /// `takeOver`: the connection failed Workato's test with the published credentials.
    ConnectionTestFailed,
    /// The token was rotated, but Workato refused to start some recipes it had stopped.
    RecipeStartFailed,
    /// Workato refused to stop a recipe, so the switch could not be staged; nothing was rotated.
    RecipeStopFailed,
    /// No new token before `newTokenTimeout`.
    #[serde(alias = "UnknownPhase")]
    Aborted,
    /// A scheduled `StopAndRestart` nobody approved in time; nothing was changed.
    ApprovalExpired,
    /// The rotation (or its IntegrationAccount) was deleted before it finished.
    Cancelled,
    /// The IntegrationAccount publishes no credentials yet: nothing to rotate.
    NotSetUp,
    /// The IntegrationAccount does not exist.
    IntegrationAccountNotFound,
    /// A workspace of a connection is missing or not usable.
    WorkspaceNotReady,
    /// `dryRun`: no problem found.
    DryRunPassed,
    /// `dryRun`: a problem found (see the summary).
    DryRunFailed,
}

impl RotationOutcome {
    /// Every outcome.
    pub const ALL: [Self; 15] = [
        Self::Succeeded,
        Self::RolledBack,
        Self::RollbackFailed,
        Self::NewTokenInvalid,
        Self::ConnectionTestFailed,
        Self::RecipeStartFailed,
        Self::RecipeStopFailed,
        Self::Aborted,
        Self::ApprovalExpired,
        Self::Cancelled,
        Self::NotSetUp,
        Self::IntegrationAccountNotFound,
        Self::WorkspaceNotReady,
        Self::DryRunPassed,
        Self::DryRunFailed,
    ];

    /// Whether the outcome is a success.
    pub fn is_success(self) -> bool {
        matches!(self, Self::Succeeded | Self::DryRunPassed)
    }
}

impl RotationOutcome {
    /// The serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "Succeeded",
            Self::RolledBack => "RolledBack",
            Self::RollbackFailed => "RollbackFailed",
            Self::NewTokenInvalid => "NewTokenInvalid",
            Self::ConnectionTestFailed => "ConnectionTestFailed",
            Self::RecipeStartFailed => "RecipeStartFailed",
            Self::RecipeStopFailed => "RecipeStopFailed",
            Self::Aborted => "Aborted",
            Self::ApprovalExpired => "ApprovalExpired",
            Self::Cancelled => "Cancelled",
            Self::NotSetUp => "NotSetUp",
            Self::IntegrationAccountNotFound => "IntegrationAccountNotFound",
            Self::WorkspaceNotReady => "WorkspaceNotReady",
            Self::DryRunPassed => "DryRunPassed",
            Self::DryRunFailed => "DryRunFailed",
        }
    }
}

impl std::fmt::Display for RotationOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A vendor call failed: when the next one may be made.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Backoff {
    /// Failed attempts in a row.
    pub attempts: i32,
    /// No vendor call before this time.
    pub not_before: Time,
    /// The last failure, for people (never contains a credential).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// One connection's progress through the rotation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
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
    /// Where the connection is.
    pub state: ConnectionState,
    /// Fingerprint of the token the connection holds, as far as the operator knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_fingerprint: Option<String>,
    /// Whether Workato's last test of the connection (run by an update of this rotation) passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorized: Option<bool>,
    /// Workato's `authorization_error` when the test failed, or why the update was refused,
    /// trimmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Where a connection is in a rotation.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
pub enum ConnectionState {
    /// Not touched yet: holds the published token.
    Pending,
    /// The update with the new token is under way.
    Updating,
    /// Holds the new token and Workato's test passed.
    Verified,
    /// The update with the new token failed or was refused.
    Failed,
    /// The published token is being put back.
    RollingBack,
    /// Holds the published token again.
    RolledBack,
    /// Putting the published token back failed: the connection may still hold the new token.
    RollbackFailed,
    /// No longer part of the rotation: its WorkatoConnection was deleted.
    Released,
}

impl ConnectionState {
    /// The serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Updating => "Updating",
            Self::Verified => "Verified",
            Self::Failed => "Failed",
            Self::RollingBack => "RollingBack",
            Self::RolledBack => "RolledBack",
            Self::RollbackFailed => "RollbackFailed",
            Self::Released => "Released",
        }
    }
}

impl std::fmt::Display for ConnectionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One recipe's progress through a rotation: the recipes that were running when a
/// `StopAndRestart` started (those are the ones it stops and restarts), and recipes an earlier
/// rotation left stopped (`inheritedFrom`), which this one restarts.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
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
    /// Where the recipe is.
    pub state: RecipeState,
    /// The CredentialRotation that stopped the recipe and left it stopped, when this one took it
    /// over to restart it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherited_from: Option<String>,
    /// Errors Workato gave when the start failed (`config_errors`/`code_errors`), or why the
    /// recipe left the rotation, trimmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Where a recipe is in a rotation.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
pub enum RecipeState {
    /// Running at the start, to be stopped.
    ToStop,
    /// The stop call is under way.
    Stopping,
    /// Stopped by this rotation (or an earlier one it inherited the recipe from).
    Stopped,
    /// The start call is under way.
    Starting,
    /// Running again.
    Started,
    /// Workato refused to start it (its errors are recorded).
    StartFailed,
    /// No longer this rotation's to restart: running again (started by a person), deleted in
    /// Workato, or taken over by a later rotation.
    Released,
}

impl RecipeState {
    /// Stopped by the operator and not running again yet: what a person must hear about.
    pub fn is_held(self) -> bool {
        matches!(
            self,
            Self::Stopping | Self::Stopped | Self::Starting | Self::StartFailed
        )
    }
}

impl RecipeState {
    /// The serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ToStop => "ToStop",
            Self::Stopping => "Stopping",
            Self::Stopped => "Stopped",
            Self::Starting => "Starting",
            Self::Started => "Started",
            Self::StartFailed => "StartFailed",
            Self::Released => "Released",
        }
    }
}

impl std::fmt::Display for RecipeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A status written by the operator before the state machine (string phases and outcomes,
    /// `RevocationOverdue` while awaiting revocation) still reads, so an upgrade never wedges the
    /// rotations' watch on one old object.
    #[test]
    fn records_of_the_previous_version_still_read() {
        let old = serde_json::json!({
            "phase": "AwaitingRevocation", "outcome": "RevocationOverdue", "strategy": "Overlap",
            "connections": [{"name": "c", "state": "Verified"}],
            "recipes": [{"id": 1, "state": "StartFailed"}]
        });
        let s: CredentialRotationStatus = serde_json::from_value(old).unwrap();
        assert_eq!(s.phase, Some(RotationPhase::AwaitingRevocation));
        assert_eq!(s.outcome, Some(RotationOutcome::Succeeded));
        for (legacy, now) in [
            ("RollbackImpossible", RotationOutcome::RollbackFailed),
            ("UnknownPhase", RotationOutcome::Aborted),
        ] {
            let o: RotationOutcome = serde_json::from_value(serde_json::json!(legacy)).unwrap();
            assert_eq!(o, now);
        }
    }
}
