//! Workato: the Developer API operations the operator uses, behind a small trait, and the reqwest
//! implementation ([`HttpWorkato`]). Facts and sources: `docs/vendors.md#workato`.

mod budget;
mod client;
mod error;
#[cfg(test)]
mod schema_tests;
mod wire;

use std::future::Future;

use serde::Deserialize;
use serde_json::{Map, Value};

pub use budget::WorkatoBudget;
pub use client::{HttpWorkato, WorkatoConfig};
pub use error::WorkatoError;

use crate::secret::Sensitive;

/// A connection as `GET /api/connections` lists it. Workato never returns the `input`.
/// Decoded through [`wire::ConnectionWire`] (`provider` falls back to `application`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "wire::ConnectionWire")]
pub struct Connection {
    /// Connection id (recipes refer to it as `config[].account_id`).
    pub id: i64,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Connector, e.g. `trackvia` (`provider`, else the required `application`).
    #[serde(default)]
    pub provider: Option<String>,
    /// Folder.
    #[serde(default)]
    pub folder_id: Option<i64>,
    /// `success`, `failed` or `exception`; null when never authorized or disconnected.
    #[serde(default)]
    pub authorization_status: Option<String>,
    /// Why authorization failed.
    #[serde(default)]
    pub authorization_error: Option<String>,
    /// When it was last authorized.
    #[serde(default)]
    pub authorized_at: Option<String>,
    /// When Workato noticed the connection stopped working.
    #[serde(default)]
    pub connection_lost_at: Option<String>,
    /// Why.
    #[serde(default)]
    pub connection_lost_reason: Option<String>,
}

impl Connection {
    /// Whether the last test succeeded.
    pub fn is_authorized(&self) -> bool {
        self.authorization_status.as_deref() == Some("success")
    }
}

/// Filters for listing connections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectionFilter {
    /// Only this folder.
    pub folder_id: Option<i64>,
}

/// Credentials and settings sent as a connection's `input`. Sensitive as a whole.
pub type ConnectionInput = Sensitive<Map<String, Value>>;

/// A connection to create.
#[derive(Clone, Debug)]
pub struct NewConnection {
    /// Name.
    pub name: String,
    /// Connector (`trackvia`).
    pub provider: String,
    /// Folder.
    pub folder_id: Option<i64>,
    /// Credentials; with `shell: false` Workato tests them.
    pub input: ConnectionInput,
    /// Create without testing the input.
    pub shell: bool,
}

/// A change to a connection. Sent with `shell_connection: false`, so Workato tests the result.
#[derive(Clone, Debug, Default)]
pub struct ConnectionUpdate {
    /// New name.
    pub name: Option<String>,
    /// New folder.
    pub folder_id: Option<i64>,
    /// Fields to set in the input.
    pub input: Option<ConnectionInput>,
}

/// One connection a recipe uses (`config[]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct RecipeConnection {
    /// `application`.
    #[serde(default)]
    pub keyword: Option<String>,
    /// Connector name.
    #[serde(default)]
    pub name: Option<String>,
    /// Provider.
    #[serde(default)]
    pub provider: Option<String>,
    /// The connection id, null when unset.
    #[serde(default)]
    pub account_id: Option<i64>,
}

/// A recipe as `GET /api/recipes` lists it (code excluded).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Recipe {
    /// Recipe id.
    pub id: i64,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Whether it runs.
    #[serde(default)]
    pub running: bool,
    /// Why Workato stopped it (`trigger_errors_limit`, `txn_quota_limit`, ...).
    #[serde(default)]
    pub stop_cause: Option<String>,
    /// When it stopped.
    #[serde(default)]
    pub stopped_at: Option<String>,
    /// Folder.
    #[serde(default)]
    pub folder_id: Option<i64>,
    /// The connections it uses.
    #[serde(default)]
    pub config: Vec<RecipeConnection>,
    /// Jobs that succeeded, over the recipe's life (a recipe whose counters have not moved has
    /// no new job to read).
    #[serde(default)]
    pub job_succeeded_count: Option<u64>,
    /// Jobs that failed, over the recipe's life.
    #[serde(default)]
    pub job_failed_count: Option<u64>,
}

impl Recipe {
    /// Whether `config[].account_id` names the connection.
    pub fn uses_connection(&self, connection_id: i64) -> bool {
        self.config.iter().any(|c| c.account_id == Some(connection_id))
    }
}

/// Selects the recipes whose `config[].account_id` is the connection.
pub fn recipes_using(recipes: &[Recipe], connection_id: i64) -> Vec<&Recipe> {
    recipes
        .iter()
        .filter(|r| r.uses_connection(connection_id))
        .collect()
}

/// Query for listing recipes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipeQuery {
    /// `adapter_names_any`, e.g. `trackvia`.
    pub adapter_names_any: Option<String>,
    /// 1-based page.
    pub page: u32,
    /// Page size (at most 100).
    pub per_page: u32,
}

impl RecipeQuery {
    /// First page of recipes using the adapter, 100 per page.
    pub fn using_adapter(adapter: &str) -> Self {
        Self {
            adapter_names_any: Some(adapter.to_owned()),
            page: 1,
            per_page: 100,
        }
    }
}

/// A recipe job (`GET /api/recipes/:id/jobs`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Job {
    /// Job id (a handle; Workato documents it as a string).
    #[serde(default)]
    pub id: Value,
    /// Start time.
    #[serde(default)]
    pub started_at: Option<String>,
    /// End time.
    #[serde(default)]
    pub completed_at: Option<String>,
    /// Whether the job failed.
    #[serde(default)]
    pub is_error: bool,
    /// Whether the trigger poll failed.
    #[serde(default)]
    pub is_poll_error: bool,
    /// The error, if any. Workato documents a string; an object (as Workato's web UI shows
    /// structured errors) is kept as its JSON text.
    #[serde(default, deserialize_with = "error_text")]
    pub error: Option<String>,
}

impl Job {
    /// When the job finished (or started, while it runs), if Workato says.
    pub fn time(&self) -> Option<jiff::Timestamp> {
        self.completed_at
            .as_deref()
            .or(self.started_at.as_deref())
            .and_then(|t| t.parse().ok())
    }
}

/// A job's `error`: a string, or any other JSON value as its text.
fn error_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    })
}

/// A page of jobs with the recipe's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct JobPage {
    /// Succeeded jobs.
    #[serde(default)]
    pub job_succeeded_count: u64,
    /// Failed jobs.
    #[serde(default)]
    pub job_failed_count: u64,
    /// The jobs.
    #[serde(default)]
    pub items: Vec<Job>,
}

/// A standard connector as `GET /api/integrations` describes it (the fields the operator reads).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct StandardConnector {
    /// Provider name, e.g. `trackvia`.
    pub name: String,
    /// Title.
    #[serde(default)]
    pub title: Option<String>,
    /// Whether the connector authenticates with OAuth.
    #[serde(default)]
    pub oauth: bool,
    /// Whether Workato deprecated it.
    #[serde(default)]
    pub deprecated: bool,
}

/// A custom connector as `GET /api/custom_connectors` lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct CustomConnector {
    /// Id.
    pub id: i64,
    /// Name: the provider of its connections.
    pub name: String,
    /// Title.
    #[serde(default)]
    pub title: Option<String>,
    /// Latest released version.
    #[serde(default)]
    pub latest_released_version: Option<i64>,
}

/// The Workato operations the operator uses. One instance serves one workspace (base URL, API
/// client token, optional Embedded managed user); every call goes through the workspace budget.
pub trait WorkatoApi: Send + Sync {
    /// Lists connections (60/min).
    fn list_connections(
        &self,
        filter: &ConnectionFilter,
    ) -> impl Future<Output = Result<Vec<Connection>, WorkatoError>> + Send;

    /// Creates a connection (1/s). Not retried on ambiguous failures: list and look for it instead.
    fn create_connection(
        &self,
        new: &NewConnection,
    ) -> impl Future<Output = Result<Connection, WorkatoError>> + Send;

    /// Updates a connection with `shell_connection: false` (1/s): Workato tests the credentials
    /// and answers with `authorization_status` / `authorization_error`.
    fn update_connection(
        &self,
        id: i64,
        update: &ConnectionUpdate,
    ) -> impl Future<Output = Result<Connection, WorkatoError>> + Send;

    /// Disconnects a connection (1/s).
    fn disconnect_connection(&self, id: i64) -> impl Future<Output = Result<(), WorkatoError>> + Send;

    /// One page of recipes, code excluded (60/min).
    fn list_recipes(
        &self,
        query: &RecipeQuery,
    ) -> impl Future<Output = Result<Vec<Recipe>, WorkatoError>> + Send;

    /// One recipe (60/min).
    fn get_recipe(&self, id: i64) -> impl Future<Output = Result<Recipe, WorkatoError>> + Send;

    /// Starts a recipe (60/min). `success: false` is [`WorkatoError::StartFailed`]; a running
    /// recipe gives a state-transition error (see [`WorkatoApi::ensure_started`]).
    fn start_recipe(&self, id: i64) -> impl Future<Output = Result<(), WorkatoError>> + Send;

    /// Stops a recipe (60/min).
    fn stop_recipe(&self, id: i64) -> impl Future<Output = Result<(), WorkatoError>> + Send;

    /// The named standard connectors, as `GET /api/integrations?applications=` describes them;
    /// unknown names are left out (60/min).
    fn standard_connectors(
        &self,
        applications: &str,
    ) -> impl Future<Output = Result<Vec<StandardConnector>, WorkatoError>> + Send;

    /// The workspace's custom connectors (60/min).
    fn custom_connectors(&self) -> impl Future<Output = Result<Vec<CustomConnector>, WorkatoError>> + Send;

    /// A custom connector's code (latest version; 60/min). Never logged: it is the customer's.
    fn custom_connector_code(&self, id: i64) -> impl Future<Output = Result<String, WorkatoError>> + Send;

    /// The latest jobs of a recipe (60/min).
    fn list_jobs(&self, recipe_id: i64) -> impl Future<Output = Result<JobPage, WorkatoError>> + Send;

    /// Every recipe using the adapter, all pages.
    fn list_all_recipes(
        &self,
        adapter: &str,
    ) -> impl Future<Output = Result<Vec<Recipe>, WorkatoError>> + Send {
        async move {
            let mut query = RecipeQuery::using_adapter(adapter);
            let mut all = Vec::new();
            loop {
                let page = self.list_recipes(&query).await?;
                let full = page.len() as u32 >= query.per_page;
                all.extend(page);
                if !full {
                    return Ok(all);
                }
                query.page += 1;
            }
        }
    }

    /// Starts the recipe unless it already runs. Idempotent: a state-transition error is resolved
    /// by reading the recipe.
    fn ensure_started(&self, id: i64) -> impl Future<Output = Result<(), WorkatoError>> + Send {
        async move {
            match self.start_recipe(id).await {
                Err(e) if e.is_state_transition() => {
                    if self.get_recipe(id).await?.running {
                        Ok(())
                    } else {
                        Err(e)
                    }
                }
                other => other,
            }
        }
    }

    /// Stops the recipe unless it is already stopped. Idempotent like [`WorkatoApi::ensure_started`].
    fn ensure_stopped(&self, id: i64) -> impl Future<Output = Result<(), WorkatoError>> + Send {
        async move {
            match self.stop_recipe(id).await {
                Err(e) if e.is_state_transition() => {
                    if self.get_recipe(id).await?.running {
                        Err(e)
                    } else {
                        Ok(())
                    }
                }
                other => other,
            }
        }
    }
}
