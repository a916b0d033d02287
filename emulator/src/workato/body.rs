//! JSON shapes of Workato answers (connections, recipes, jobs).

use serde::Serialize;
use serde_json::json;

use crate::world::clock::format_ts;
use crate::world::workato::{ConfigEntry, Connection, Job, Recipe};

/// A connection as the Connections API returns it (`input` is never returned).
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionJson {
    /// Id.
    pub id: u64,
    /// Same as `provider`.
    pub application: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Last successful test.
    pub authorized_at: Option<String>,
    /// `success`, `failed` or null.
    pub authorization_status: Option<String>,
    /// Last test error.
    pub authorization_error: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// External id.
    pub external_id: Option<String>,
    /// Folder id.
    pub folder_id: Option<u64>,
    /// When a recipe lost the connection.
    pub connection_lost_at: Option<String>,
    /// Why.
    pub connection_lost_reason: Option<String>,
    /// Parent connection id.
    pub parent_id: Option<u64>,
    /// Provider.
    pub provider: String,
    /// Tags.
    pub tags: Vec<String>,
}

impl From<&Connection> for ConnectionJson {
    fn from(c: &Connection) -> Self {
        Self {
            id: c.id,
            application: c.provider.clone(),
            name: c.name.clone(),
            description: c.description.clone(),
            authorized_at: c.authorized_at.map(format_ts),
            authorization_status: c.authorization_status.clone(),
            authorization_error: c.authorization_error.clone(),
            created_at: format_ts(c.created_at),
            updated_at: format_ts(c.updated_at),
            external_id: c.external_id.clone(),
            folder_id: c.folder_id,
            connection_lost_at: c.connection_lost_at.map(format_ts),
            connection_lost_reason: c.connection_lost_reason.clone(),
            parent_id: c.parent_id,
            provider: c.provider.clone(),
            tags: c.tags.clone(),
        }
    }
}

/// One `config` entry of a recipe.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigJson {
    /// Always `application`.
    pub keyword: &'static str,
    /// Provider.
    pub name: String,
    /// Provider.
    pub provider: String,
    /// Always false.
    pub skip_validation: bool,
    /// Connection id or null.
    pub account_id: Option<u64>,
}

impl From<&ConfigEntry> for ConfigJson {
    fn from(entry: &ConfigEntry) -> Self {
        Self {
            keyword: "application",
            name: entry.provider.clone(),
            provider: entry.provider.clone(),
            skip_validation: false,
            account_id: entry.account_id,
        }
    }
}

/// A recipe as the Recipes API returns it.
#[derive(Debug, Clone, Serialize)]
pub struct RecipeJson {
    /// Id.
    pub id: u64,
    /// Owner.
    pub user_id: u64,
    /// Name.
    pub name: String,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Copies.
    pub copy_count: u64,
    /// Trigger provider.
    pub trigger_application: Option<String>,
    /// Action providers.
    pub action_applications: Vec<String>,
    /// All providers.
    pub applications: Vec<String>,
    /// Description.
    pub description: String,
    /// Folder id.
    pub folder_id: Option<u64>,
    /// Running flag.
    pub running: bool,
    /// Succeeded jobs.
    pub job_succeeded_count: u64,
    /// Failed jobs.
    pub job_failed_count: u64,
    /// Tasks used.
    pub lifetime_task_count: u64,
    /// Last job.
    pub last_run_at: Option<String>,
    /// Last stop.
    pub stopped_at: Option<String>,
    /// Version.
    pub version_no: u64,
    /// Why Workato stopped it.
    pub stop_cause: Option<String>,
    /// Applications and their connections.
    pub config: Vec<ConfigJson>,
    /// Recipe code as a JSON string (omitted with `exclude_code=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl RecipeJson {
    /// The JSON of a recipe owned by `user_id`.
    pub fn new(recipe: &Recipe, user_id: u64, include_code: bool) -> Self {
        let applications = recipe.applications();
        let trigger = applications.first().cloned();
        Self {
            id: recipe.id,
            user_id,
            name: recipe.name.clone(),
            created_at: format_ts(recipe.created_at),
            updated_at: format_ts(recipe.updated_at),
            copy_count: 0,
            action_applications: applications.iter().skip(1).cloned().collect(),
            code: include_code.then(|| recipe_code(trigger.as_deref())),
            trigger_application: trigger,
            applications,
            description: recipe.description.clone().unwrap_or_default(),
            folder_id: recipe.folder_id,
            running: recipe.running,
            job_succeeded_count: recipe.job_succeeded_count,
            job_failed_count: recipe.job_failed_count,
            lifetime_task_count: recipe.lifetime_task_count,
            last_run_at: recipe.last_run_at.map(format_ts),
            stopped_at: recipe.stopped_at.map(format_ts),
            version_no: recipe.version_no,
            stop_cause: recipe.stop_cause.clone(),
            config: recipe.config.iter().map(ConfigJson::from).collect(),
        }
    }
}

fn recipe_code(trigger: Option<&str>) -> String {
    json!({
        "number": 0,
        "provider": trigger,
        "name": "new_record",
        "as": "trigger",
        "keyword": "trigger",
        "input": {},
        "block": [],
    })
    .to_string()
}

/// One job item.
#[derive(Debug, Clone, Serialize)]
pub struct JobJson {
    /// Id.
    pub id: u64,
    /// Flow run id.
    pub flow_run_id: u64,
    /// Start.
    pub started_at: String,
    /// End.
    pub completed_at: String,
    /// Title.
    pub title: String,
    /// Failed.
    pub is_error: bool,
    /// Trigger poll failed.
    pub is_poll_error: bool,
    /// Error message.
    pub error: Option<String>,
}

impl From<&Job> for JobJson {
    fn from(job: &Job) -> Self {
        Self {
            id: job.id,
            flow_run_id: job.flow_run_id,
            started_at: format_ts(job.started_at),
            completed_at: format_ts(job.completed_at),
            title: job.title.clone(),
            is_error: job.is_error,
            is_poll_error: job.is_poll_error,
            error: job.error.clone(),
        }
    }
}

/// `GET /api/recipes/{id}/jobs` answer.
#[derive(Debug, Clone, Serialize)]
pub struct JobsJson {
    /// Succeeded jobs.
    pub job_succeeded_count: u64,
    /// Failed jobs.
    pub job_failed_count: u64,
    /// All jobs.
    pub job_count: u64,
    /// Most recent jobs first.
    pub items: Vec<JobJson>,
}
