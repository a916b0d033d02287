//! `WorkatoConnection`: one Workato connection that uses an IntegrationAccount's credentials.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{CommonStatus, LocalRef, rules};

/// One Workato connection bound to an IntegrationAccount: adopted or created, given the published
/// credentials, tested, and watched together with the recipes that depend on it.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "integrations.trackvia-operator.dev",
    version = "v1alpha1",
    kind = "WorkatoConnection",
    namespaced,
    status = "WorkatoConnectionStatus",
    shortname = "wkc",
    // `kubectl get --field-selector spec.integrationAccountRef.name=sf`; the operator lists an
    // account's objects this way when it must not rely on its caches (Kubernetes >= 1.30).
    selectable = ".spec.integrationAccountRef.name",
    category = "trackvia",
    doc = "A Workato connection bound to an IntegrationAccount: create or adopt, push credentials, test, recipe inventory, environment guard.",
    printcolumn(
        name = "Account",
        type_ = "string",
        json_path = ".spec.integrationAccountRef.name"
    ),
    printcolumn(
        name = "Workspace",
        type_ = "string",
        json_path = ".spec.workspaceRef.name",
        priority = 1
    ),
    printcolumn(name = "Connection", type_ = "integer", json_path = ".status.connectionId"),
    printcolumn(
        name = "Authorization",
        type_ = "string",
        json_path = ".status.authorizationStatus"
    ),
    printcolumn(name = "Recipes", type_ = "integer", json_path = ".status.recipeCount"),
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
pub struct WorkatoConnectionSpec {
    /// The WorkatoWorkspace (same namespace) the connection lives in. Cannot change after creation.
    #[x_kube(validation = Rule::new(rules::IMMUTABLE).message("workspaceRef cannot change after creation; create a new WorkatoConnection for another workspace"))]
    pub workspace_ref: LocalRef,
    /// The IntegrationAccount (same namespace) whose credentials the connection uses. Cannot change
    /// after creation.
    #[x_kube(validation = Rule::new(rules::IMMUTABLE).message("integrationAccountRef cannot change after creation; create a new WorkatoConnection for another account"))]
    pub integration_account_ref: LocalRef,
    /// Which Workato connection: `id` adopts an existing one; `name` finds it in the workspace or
    /// creates it.
    pub connection: ConnectionSelector,
    /// Folder for a connection the operator creates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub folder_id: Option<i64>,
    /// The connector's provider name (default `trackvia`, the built-in connector; a custom
    /// connector has its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub provider: Option<String>,
    /// The connection's `input` field names for each credential. Workato does not publish the
    /// built-in connector's auth-token field names, so they are configurable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_keys: Option<InputKeys>,
    /// The connection's authentication type, set explicitly on every push: TrackVia's connector
    /// in Workato has an OAuth type (tied to the login of the employee who authorized it) and an
    /// Auth Token type (API key + auth token of a dedicated API user). Workato does not publish
    /// the field that selects it; defaults `auth_type` = `auth_token` (docs/decisions.md). When
    /// the connector declares its fields and none is this one, no type is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<AuthTypeSelector>,
    /// The adopted connection is authorized by OAuth, as an employee. Workato does not show a
    /// connection's authentication type or who authorized it, so this is the person's statement.
    /// `true`: migrate it to the Auth Token type with the dedicated user, as a staged switch
    /// through a CredentialRotation (stop its running recipes, update with the new type and
    /// credentials, test, restart; a failed test leaves them stopped and reported). `false`:
    /// report it (`DedicatedCredentials=False`, `EmployeeBoundAuth`) and leave it untouched.
    #[serde(default, rename = "migrateFromOAuth", skip_serializing_if = "Option::is_none")]
    pub migrate_from_oauth: Option<bool>,
    /// Which recipes count as depending on this connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipes: Option<RecipeSelection>,
    /// What the operator may do with an adopted connection that is live (Workato's last test
    /// passed): Workato never returns a connection's credentials, so whatever it holds would be
    /// overwritten with no way back. `Manual` (default): never write it; report
    /// `AdoptionPending` and wait. `StopAndRestart`: take it over in stages through a
    /// CredentialRotation (stop its running recipes, put the published credentials on it, test,
    /// restart them; a failed test leaves them stopped and reported). A connection that is not
    /// live (never tested, or failing) receives the credentials directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adoption: Option<AdoptionPolicy>,
}

/// How a live adopted connection is handed over to the operator.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum AdoptionPolicy {
    /// Never write a live connection the operator did not set up; report it.
    Manual,
    /// Take it over with a staged switch: stop, update, test, restart.
    StopAndRestart,
}

/// Selects a Workato connection by id or by name.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.id) || has(self.name)").message("connection needs an id (adopt that connection) or a name (find or create it in the workspace)"))]
pub struct ConnectionSelector {
    /// Id of an existing connection to adopt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub id: Option<i64>,
    /// Name to find the connection by, or to create it with. Several connections with this name
    /// in the workspace is an error that lists their ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub name: Option<String>,
}

/// Field names in the connection's `input`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct InputKeys {
    /// Field for the account API key (default `user_key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub api_key: Option<String>,
    /// Field for the auth token (default `access_token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub auth_token: Option<String>,
    /// Field for the TrackVia host or subdomain; omitted from the input unless set (e.g.
    /// `custom_domain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub host: Option<String>,
    /// Field for the TrackVia account id; omitted unless set (e.g. `account_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub account_id: Option<String>,
}

/// The `input` field that selects the connection's authentication type, and its value.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthTypeSelector {
    /// The field's name (default `auth_type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub field: Option<String>,
    /// The value that selects Auth Token (default `auth_token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub value: Option<String>,
}

/// Which recipes depend on the connection.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecipeSelection {
    /// Also treat these recipe ids as dependent, even if their config does not name the connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1000))]
    pub include: Option<Vec<i64>>,
    /// Never stop or start these recipe ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1000))]
    pub exclude: Option<Vec<i64>>,
    /// Restart recipes Workato stopped for the task limit once the limit is lifted (default
    /// `false`: report them only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_after_task_limit: Option<bool>,
}

/// Observed state of a WorkatoConnection. Ids, statuses and timestamps only.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkatoConnectionStatus {
    /// Conditions and observed generation.
    #[serde(flatten)]
    pub common: CommonStatus,
    /// Id of the Workato connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<i64>,
    /// Intent record: when the operator decided to create the connection. Written before the
    /// create call, so a restart finds it instead of creating a second one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_requested_time: Option<Time>,
    /// Workato's `authorization_status` (`success`, `failed`, `exception`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_status: Option<String>,
    /// Workato's `authorization_error`, trimmed; never contains a credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_error: Option<String>,
    /// Fingerprint of the token the connection last received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_fingerprint: Option<String>,
    /// When the connection was last tested (updated with `shell_connection: false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_tested_time: Option<Time>,
    /// Workato's `connection_lost_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_lost_time: Option<Time>,
    /// Workato's `connection_lost_reason`, trimmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_lost_reason: Option<String>,
    /// The connector, as Workato described it before the first push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector: Option<ConnectorStatus>,
    /// Number of recipes depending on the connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe_count: Option<i32>,
    /// The recipes depending on the connection.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipes: Vec<RecipeStatus>,
    /// When the recipe inventory was last refreshed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipes_refreshed_time: Option<Time>,
    /// When the dependent recipes' jobs were last read (at most once per
    /// `--recipe-jobs-interval`, and only for recipes whose job counters moved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobs_checked_time: Option<Time>,
    /// What each dependent recipe's jobs showed when last read: the cursor that keeps a job from
    /// being counted twice, and a TrackVia authentication failure not yet followed by a success.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipe_jobs: Vec<RecipeJobsStatus>,
}

/// The jobs of one dependent recipe, as last read.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecipeJobsStatus {
    /// Recipe id.
    pub id: i64,
    /// Workato's `job_failed_count` when the jobs were read (the jobs are read again only once it
    /// moves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_count: Option<i64>,
    /// Workato's `job_succeeded_count` when the jobs were read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub succeeded_count: Option<i64>,
    /// When the newest job seen finished: a job that finished at or before it is never counted
    /// again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_job_time: Option<Time>,
    /// When the newest job failing with a TrackVia 401/403 finished, while no later job of the
    /// recipe succeeded (cleared by a later success, or 24 hours after it happened).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_failure_time: Option<Time>,
    /// That job's error, trimmed; never contains a credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_failure: Option<String>,
}

/// One recipe depending on the connection.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecipeStatus {
    /// Recipe id.
    pub id: i64,
    /// Recipe name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether the recipe is running.
    pub running: bool,
    /// Workato's `stop_cause` when stopped by Workato (`trigger_errors_limit`, `txn_quota_limit`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_cause: Option<String>,
    /// The CredentialRotation that stopped the recipe and has not seen it run again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_by: Option<String>,
}

/// The connector of the connection, as Workato described it. Names only.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorStatus {
    /// `Standard` (one of Workato's connectors) or `Custom` (the workspace's own).
    pub kind: String,
    /// The custom connector's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_connector_id: Option<i64>,
    /// Whether Workato describes the connector as OAuth.
    pub oauth: bool,
    /// The connection fields the connector declares (empty: Workato does not publish them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// The authentication type sent with every push, as `field=value`; absent when the
    /// connector declares fields and none selects a type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<String>,
}
