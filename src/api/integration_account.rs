//! `IntegrationAccount`: one dedicated TrackVia API user serving one integration.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{CommonStatus, LocalRef, SecretKeyRef, rules};

/// One dedicated TrackVia API user for one integration: First Name = `system`, Last Name =
/// "Integration", a shared-mailbox email, a limited role, and an auth token the operator validates
/// and publishes.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "integrations.trackvia-operator.dev",
    version = "v1alpha1",
    kind = "IntegrationAccount",
    namespaced,
    status = "IntegrationAccountStatus",
    shortname = "ia",
    category = "trackvia",
    doc = "A dedicated TrackVia API user for one integration: provisioning, token health and expiry, role scope and the credentials Secret it publishes.",
    printcolumn(name = "System", type_ = "string", json_path = ".spec.system"),
    printcolumn(name = "Email", type_ = "string", json_path = ".spec.email", priority = 1),
    printcolumn(name = "User", type_ = "string", json_path = ".status.user.state"),
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
    printcolumn(
        name = "Token Expires",
        type_ = "string",
        json_path = ".status.token.expiresAt"
    ),
    printcolumn(name = "Next Action", type_ = "string", json_path = ".status.nextAction"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.credentialsSecret.name != self.tokenSecretRef.name").message("credentialsSecret.name must differ from tokenSecretRef.name: the operator writes the published Secret and only reads the token Secret"))]
pub struct IntegrationAccountSpec {
    /// The TrackViaAccount (same namespace) the user belongs to. Cannot change after creation.
    #[x_kube(validation = Rule::new(rules::IMMUTABLE).message("accountRef cannot change after creation; a user belongs to one TrackVia account"))]
    pub account_ref: LocalRef,
    /// The external system this user integrates (becomes the user's First Name; the Last Name is
    /// always "Integration"), e.g. `Salesforce`. Cannot change after creation.
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(
        validation = Rule::new("self.matches('^[A-Za-z0-9][A-Za-z0-9 ._&-]*$')").message("system must name the external system, e.g. Salesforce: letters, digits, spaces, '.', '_', '&' and '-'"),
        validation = Rule::new(rules::IMMUTABLE).message("system cannot change after creation; it is the TrackVia user's First Name")
    )]
    pub system: String,
    /// The user's email, on a shared mailbox the team reads (the TrackVia invitation goes there),
    /// by convention `<system>.integration@<domain>`. Cannot change after creation.
    #[schemars(length(min = 3, max = 254))]
    #[x_kube(
        validation = Rule::new(r"self.matches('^[A-Za-z0-9._%+\\-]+@[A-Za-z0-9\\-]+(\\.[A-Za-z0-9\\-]+)*\\.[A-Za-z]{2,}$')").message("email must be an email address such as salesforce.integration@example.com"),
        validation = Rule::new(rules::IMMUTABLE).message("email cannot change after creation; it identifies the TrackVia user")
    )]
    pub email: String,
    /// Time zone given to the user when the operator creates it (TrackVia's `timeZone`
    /// parameter), e.g. `America/Denver`. Omit to use the account's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub time_zone: Option<String>,
    /// The apps and views the integration needs. The operator compares them with what the token
    /// reaches: missing ones would cause 403s, extra ones widen the blast radius of a leak.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<AccessSpec>,
    /// Where a person (or a secret manager) puts this user's auth token, created in TrackVia under
    /// API Access. A new value here starts a rotation once the account is set up.
    pub token_secret_ref: SecretKeyRef,
    /// When the current token expires, as set in TrackVia (the API does not expose it). The
    /// annotation `integrations.trackvia-operator.dev/expires-at` on the token Secret takes
    /// precedence, since it travels with the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<Time>,
    /// The Secret the operator publishes with everything a consumer needs (API key, token, base
    /// URL, environment, account id). Owned by this IntegrationAccount.
    pub credentials_secret: PublishedSecret,
    /// When and how the token is rotated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationPolicy>,
    /// What happens to the TrackVia user when this object is deleted. `Retain` (default) keeps the
    /// user and says how to deactivate it in TrackVia (the API cannot); `Orphan` forgets it without
    /// waiting for anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
}

/// The apps and views an integration needs.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessSpec {
    /// Names of the TrackVia apps the integration uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    pub apps: Option<Vec<String>>,
    /// Views the integration reads or writes through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 500))]
    pub views: Option<Vec<ViewAccess>>,
    /// Accept a token that reaches more than the listed apps and views (default `false`: extra
    /// access is reported as `ExcessAccess`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_extra: Option<bool>,
}

/// One TrackVia view, by name.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ViewAccess {
    /// The view's name as TrackVia shows it.
    #[schemars(length(min = 1, max = 256))]
    pub name: String,
    /// The app the view belongs to (its `applicationName`), when view names repeat across apps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub app: Option<String>,
}

/// The Secret the operator publishes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublishedSecret {
    /// Name of the Secret, in the same namespace. The operator never overwrites a Secret of this
    /// name that it does not own; it reports the conflict instead.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new(rules::OBJECT_NAME).message(rules::OBJECT_NAME_MSG))]
    pub name: String,
}

// Duration comparisons run only on well-formed durations, so a malformed one yields its own
// message instead of a CEL type-conversion error.
const RENEW_BEFORE_SHORTER: &str = concat!(
    "!has(self.interval) || !has(self.renewBefore) || !self.interval.matches('",
    crate::go_duration_re!(),
    "') || !self.renewBefore.matches('",
    crate::go_duration_re!(),
    "') || duration(self.renewBefore) < duration(self.interval)"
);
const INTERVAL_AT_LEAST_1H: &str = concat!(
    "!self.matches('",
    crate::go_duration_re!(),
    "') || duration(self) >= duration('1h')"
);
const WINDOW_AT_MOST_1D: &str = concat!(
    "!self.matches('",
    crate::go_duration_re!(),
    "') || (duration(self) > duration('0s') && duration(self) <= duration('24h'))"
);

/// How a rotation replaces the token under the connections that use it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum RotationStrategy {
    /// The new token is created while the old one still works: switch every connection, test,
    /// publish, then have the old token revoked. Recipes keep running.
    Overlap,
    /// The token is regenerated in place: stop the dependent running recipes, wait for the new
    /// token, update and test every connection, restart exactly the recipes that were stopped.
    StopAndRestart,
}

/// What happens to the TrackVia user when the IntegrationAccount is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum DeletionPolicy {
    /// Keep the user in TrackVia and tell the person how to deactivate it there.
    Retain,
    /// Forget the user immediately; never block deletion.
    Orphan,
}

/// When and how the token is rotated.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(RENEW_BEFORE_SHORTER).message("rotation.renewBefore must be shorter than rotation.interval"))]
pub struct RotationPolicy {
    /// Strategy for rotations of this account. Default: `Overlap` while the old token still
    /// works, `StopAndRestart` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<RotationStrategy>,
    /// Rotate on a schedule: this long after the last rotation (a Go duration, at least `1h`,
    /// e.g. `2160h` for 90 days). Omit to rotate only on expiry, on request or on a new token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 32))]
    #[x_kube(
        validation = Rule::new(rules::DURATION).message(rules::DURATION_MSG),
        validation = Rule::new(INTERVAL_AT_LEAST_1H).message("rotation.interval must be at least 1h")
    )]
    pub interval: Option<String>,
    /// How long before the token expires (or the interval elapses) the rotation becomes due and
    /// `RotationDue` turns true (a Go duration, default `336h`, 14 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 32))]
    #[x_kube(validation = Rule::new(rules::DURATION).message(rules::DURATION_MSG))]
    pub renew_before: Option<String>,
    /// Scheduled rotations start only inside this window. Requested and new-token rotations start
    /// at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_window: Option<MaintenanceWindow>,
    /// Request a rotation declaratively: set to the current time. Handled once; the handled value
    /// is echoed in `status.rotation.handledRequestedAt`, so re-applying the same manifest does
    /// nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<Time>,
    /// `StopAndRestart` only: how long to wait for the new token with the recipes stopped before
    /// restarting them and aborting (a Go duration, default `1h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 32))]
    #[x_kube(validation = Rule::new(rules::DURATION).message(rules::DURATION_MSG))]
    pub new_token_timeout: Option<String>,
    /// `Overlap` only: how long after the switch the old token should be deactivated in TrackVia
    /// (a Go duration, default `24h`); shown as the revocation deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 32))]
    #[x_kube(validation = Rule::new(rules::DURATION).message(rules::DURATION_MSG))]
    pub revocation_grace_period: Option<String>,
    /// How many finished CredentialRotations of this account to keep (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 50))]
    pub history_limit: Option<i32>,
}

/// A recurring window, in UTC, in which scheduled rotations may start.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceWindow {
    /// Days the window opens on (default: every day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 7))]
    pub days: Option<Vec<Weekday>>,
    /// Start time of day, `HH:MM` in UTC.
    #[schemars(length(min = 5, max = 5))]
    #[x_kube(validation = Rule::new("self.matches('^([01][0-9]|2[0-3]):[0-5][0-9]$')").message("maintenanceWindow.start must be a UTC time of day HH:MM, e.g. 02:30"))]
    pub start: String,
    /// Length of the window (a Go duration, at most `24h`).
    #[schemars(length(min = 1, max = 32))]
    #[x_kube(
        validation = Rule::new(rules::DURATION).message(rules::DURATION_MSG),
        validation = Rule::new(WINDOW_AT_MOST_1D).message("maintenanceWindow.duration must be longer than 0s and at most 24h")
    )]
    pub duration: String,
}

/// A day of the week.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[allow(missing_docs)]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

/// Observed state of an IntegrationAccount. Holds ids, hashes and timestamps only, never a
/// credential.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationAccountStatus {
    /// Conditions and observed generation.
    #[serde(flatten)]
    pub common: CommonStatus,
    /// The one next thing a person must do, if any, in one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_action: Option<String>,
    /// The TrackVia user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserStatus>,
    /// The current token, by fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenStatus>,
    /// What the token reaches compared with `spec.access`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<AccessStatus>,
    /// The published credentials Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<PublishedSecretStatus>,
    /// Rotation bookkeeping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationSummary>,
}

/// The TrackVia user as the operator last saw it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserStatus {
    /// TrackVia's user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// TrackVia's `Status` of the user (e.g. `Unverified`, `Active`), `CreatePending` while the
    /// operator's create call is in flight, `CreateFailed` after it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Whether the operator created the user (as opposed to adopting an existing one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by_operator: Option<bool>,
    /// Intent record: when the operator decided to create the user. Written before the create
    /// call, so a restarted operator looks the user up instead of creating a second one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_requested_time: Option<Time>,
    /// When the operator's last create call failed (`state` is then `CreateFailed`); the next one
    /// waits a backoff (1 minute, doubling per failure, at most 1 hour), whatever wakes the
    /// IntegrationAccount up. A spec change retries at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_failed_time: Option<Time>,
    /// Create calls that failed in a row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_attempts: Option<i32>,
}

/// The current token, identified by fingerprint.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenStatus {
    /// Keyed hash of the token (`hmac-sha256:<first 16 hex>`), to tell tokens apart without
    /// revealing them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// When the token expires, from the token Secret's annotation or the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Time>,
    /// When the token was last validated against TrackVia.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_validated_time: Option<Time>,
    /// When the operator first saw this token (the start of its rotation interval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen_time: Option<Time>,
    /// When a rotation becomes due (expiry or interval, minus `renewBefore`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_due_time: Option<Time>,
    /// When TrackVia last failed to answer a validation of this token (5xx, 429, timeout). The
    /// next attempt waits a backoff (15 s, doubling, at most 10 min), whatever wakes the
    /// IntegrationAccount up; a new token or a spec change validates at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_failed_time: Option<Time>,
    /// Validations of this token that failed so in a row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_failures: Option<i32>,
}

/// The token's reach compared with `spec.access`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessStatus {
    /// Apps and views in `spec.access` the token cannot reach (`app:<name>` / `view:<name>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// Apps and views the token reaches beyond `spec.access`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<String>,
    /// When the comparison was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checked_time: Option<Time>,
}

/// The credentials Secret as last published.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublishedSecretStatus {
    /// Name of the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Fingerprint of the token it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_fingerprint: Option<String>,
    /// When it was last written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_time: Option<Time>,
}

/// Rotation bookkeeping on the IntegrationAccount.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotationSummary {
    /// The `spec.rotation.requestedAt` value last handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handled_requested_at: Option<Time>,
    /// Name of the CredentialRotation in progress, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<String>,
    /// When the last rotation succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rotation_time: Option<Time>,
}
