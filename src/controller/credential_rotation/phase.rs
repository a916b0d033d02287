//! Phase, connection and recipe states of a rotation, as they appear in status.

/// Waiting for another rotation of the same IntegrationAccount to finish.
pub const QUEUED: &str = "Queued";
/// Accepted; deciding the strategy and recording what will be touched.
pub const PENDING: &str = "Pending";
/// `StopAndRestart`: stopping the dependent recipes that were running.
pub const STOPPING: &str = "Stopping";
/// Waiting for a person to put the new token in the token Secret.
pub const WAITING_FOR_TOKEN: &str = "WaitingForToken";
/// Validating the new token against TrackVia.
pub const VALIDATING: &str = "Validating";
/// Updating each connection with the new token and reading Workato's test.
pub const SWITCHING: &str = "Switching";
/// `Overlap`: a test failed; putting the old token back on every switched connection.
pub const ROLLING_BACK: &str = "RollingBack";
/// Writing the new credentials Secret.
pub const PUBLISHING: &str = "Publishing";
/// `StopAndRestart`: starting exactly the recipes that were stopped.
pub const RESTARTING: &str = "Restarting";
/// No new token in time: restarting the stopped recipes, then Aborted.
pub const ABORTING: &str = "Aborting";
/// `Overlap`: switched and published; probing the old token until TrackVia rejects it.
pub const AWAITING_REVOCATION: &str = "AwaitingRevocation";
/// Finished successfully.
pub const SUCCEEDED: &str = "Succeeded";
/// Finished without rotating; the outcome says why.
pub const FAILED: &str = "Failed";
/// Gave up waiting for the token; every stopped recipe was restarted.
pub const ABORTED: &str = "Aborted";

/// Whether the rotation has finished.
pub fn is_terminal(phase: &str) -> bool {
    matches!(phase, SUCCEEDED | FAILED | ABORTED)
}

/// Connection: not touched yet.
pub const CONN_PENDING: &str = "Pending";
/// Connection: the update with the new token is under way.
pub const CONN_UPDATING: &str = "Updating";
/// Connection: holds the new token and Workato's test passed.
pub const CONN_VERIFIED: &str = "Verified";
/// Connection: Workato's test of the new token failed.
pub const CONN_FAILED: &str = "Failed";
/// Connection: the old token is being put back.
pub const CONN_ROLLING_BACK: &str = "RollingBack";
/// Connection: holds the old token again.
pub const CONN_ROLLED_BACK: &str = "RolledBack";

/// Recipe: running at the start, to be stopped.
pub const RECIPE_TO_STOP: &str = "ToStop";
/// Recipe: the stop call is under way.
pub const RECIPE_STOPPING: &str = "Stopping";
/// Recipe: stopped by this rotation.
pub const RECIPE_STOPPED: &str = "Stopped";
/// Recipe: the start call is under way.
pub const RECIPE_STARTING: &str = "Starting";
/// Recipe: running again.
pub const RECIPE_STARTED: &str = "Started";
/// Recipe: Workato refused to start it (its errors are recorded).
pub const RECIPE_START_FAILED: &str = "StartFailed";
