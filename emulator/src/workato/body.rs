//! JSON shapes of Workato answers (connections, recipes, jobs), field for field as Workato
//! publishes them: `Recipe` and `Connection` from the OpenAPI document `workato-api-spec.yaml`
//! (github.com/workato-devs/workato-platform-cli), jobs from the documented answer of
//! `GET /api/recipes/:id/jobs` (docs.workato.com/en/workato-api/jobs.html). A field the schema
//! requires and does not mark nullable is never null; an optional one is left out rather than
//! sent as null. `emulator/tests/schema.rs` checks this; `docs/emulator.md#schema-fidelity`.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::world::clock::format_ts;
use crate::world::workato::{ConfigEntry, Connection, Job, Recipe, Workspace};

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
    /// Folder id (the workspace's home folder when none was given; never null).
    pub folder_id: u64,
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

impl ConnectionJson {
    /// The JSON of a connection of workspace `ws`.
    pub fn new(c: &Connection, ws: &Workspace) -> Self {
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
            folder_id: ws.folder_of(c.folder_id),
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

/// A recipe as the Recipes API returns it (`components.schemas.Recipe`).
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
    /// Trigger provider (optional in the schema, not nullable: left out when there is none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger_application: Option<String>,
    /// Action providers.
    pub action_applications: Vec<String>,
    /// All providers.
    pub applications: Vec<String>,
    /// Description (`""` when none).
    pub description: String,
    /// Recipe parameters' schema (callable recipes); always empty here.
    pub parameters_schema: Vec<Value>,
    /// Recipe parameters; always empty here.
    pub parameters: Map<String, Value>,
    /// Webhook URL of a webhook trigger; null (no webhook triggers are emulated).
    pub webhook_url: Option<String>,
    /// Folder id (the workspace's home folder when none was given; never null).
    pub folder_id: u64,
    /// Running flag.
    pub running: bool,
    /// Succeeded jobs.
    pub job_succeeded_count: u64,
    /// Failed jobs.
    pub job_failed_count: u64,
    /// Tasks used.
    pub lifetime_task_count: u64,
    /// Last job (optional, not nullable: left out before the first job).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run_at: Option<String>,
    /// Last stop (optional, not nullable: left out while never stopped or running).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<String>,
    /// Version.
    pub version_no: u64,
    /// Why Workato stopped it.
    pub stop_cause: Option<String>,
    /// Applications and their connections.
    pub config: Vec<ConfigJson>,
    /// Trigger closure (polling state); null.
    pub trigger_closure: Option<Value>,
    /// Recipe code as a JSON string; `""` with `exclude_code=true` (the schema requires the
    /// field and says it "may be truncated" then).
    pub code: String,
    /// The recipe's author (the workspace owner).
    pub author_name: String,
    /// Author of the current version.
    pub version_author_name: String,
    /// Email of the author of the current version.
    pub version_author_email: String,
    /// Comment of the current version; null.
    pub version_comment: Option<String>,
    /// Tag handles, only with `includes[]=tags`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

/// Which optional parts of a recipe an answer carries.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecipeParts {
    /// The recipe code (not `exclude_code=true`).
    pub code: bool,
    /// The `tags` field (`includes[]=tags`).
    pub tags: bool,
}

impl RecipeJson {
    /// The JSON of a recipe of workspace `ws`.
    pub fn new(recipe: &Recipe, ws: &Workspace, parts: RecipeParts) -> Self {
        let applications = recipe.applications();
        let trigger = applications.first().cloned();
        Self {
            id: recipe.id,
            user_id: ws.user_id,
            name: recipe.name.clone(),
            created_at: format_ts(recipe.created_at),
            updated_at: format_ts(recipe.updated_at),
            copy_count: 0,
            action_applications: applications.iter().skip(1).cloned().collect(),
            code: if parts.code {
                recipe_code(trigger.as_deref())
            } else {
                String::new()
            },
            trigger_application: trigger,
            applications,
            description: recipe.description.clone().unwrap_or_default(),
            parameters_schema: Vec::new(),
            parameters: Map::new(),
            webhook_url: None,
            folder_id: ws.folder_of(recipe.folder_id),
            running: recipe.running,
            job_succeeded_count: recipe.job_succeeded_count,
            job_failed_count: recipe.job_failed_count,
            lifetime_task_count: recipe.lifetime_task_count,
            last_run_at: recipe.last_run_at.map(format_ts),
            stopped_at: recipe.stopped_at.map(format_ts),
            version_no: recipe.version_no,
            stop_cause: recipe.stop_cause.clone(),
            config: recipe.config.iter().map(ConfigJson::from).collect(),
            trigger_closure: None,
            author_name: ws.owner_name.clone(),
            version_author_name: ws.owner_name.clone(),
            version_author_email: ws.owner_email.clone(),
            version_comment: None,
            tags: parts.tags.then(Vec::new),
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
    /// Job handle, a string like `j-KGAKfhsz-GYoLe` (see [`job_handle`]).
    pub id: String,
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
    /// The error in parts; only on failed jobs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_parts: Option<ErrorPartsJson>,
}

/// `error_parts` of a failed job.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorPartsJson {
    /// The connector that failed (the recipe's trigger application).
    pub adapter: Option<String>,
    /// The error class, e.g. `401 Unauthorized` (the part of `error` before the first `: `).
    pub error_type: String,
    /// The rest of `error`.
    pub message: String,
    /// An id for the error (derived from the job id).
    pub error_id: String,
    /// When it happened (the job's end).
    pub error_at: String,
    /// The failing step's input; null (polls have none).
    pub input: Option<String>,
    /// A nested error; null.
    pub inner_message: Option<String>,
}

impl JobJson {
    /// The JSON of a job of `recipe`.
    pub fn new(job: &Job, recipe: &Recipe) -> Self {
        let error_parts = job.is_error.then(|| {
            let error = job.error.clone().unwrap_or_default();
            let (error_type, message) = match error.split_once(": ") {
                Some((kind, rest)) => (kind.to_owned(), rest.to_owned()),
                None => (error.clone(), error.clone()),
            };
            ErrorPartsJson {
                adapter: recipe.applications().into_iter().next(),
                error_type,
                message,
                error_id: format!("00000000-0000-4000-8000-{:012x}", job.id),
                error_at: format_ts(job.completed_at),
                input: None,
                inner_message: None,
            }
        });
        Self {
            id: job_handle(job.id),
            flow_run_id: job.flow_run_id,
            started_at: format_ts(job.started_at),
            completed_at: format_ts(job.completed_at),
            title: job.title.clone(),
            is_error: job.is_error,
            is_poll_error: job.is_poll_error,
            error: job.error.clone(),
            error_parts,
        }
    }
}

/// The job handle Workato shows as a job's `id`: `j-` + 8 + `-` + 6 letters and digits (the
/// documented example is `j-KGAKfhsz-GYoLe`); here a stable encoding of the emulator's job number.
pub fn job_handle(id: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let encode = |mut n: u64, width: usize| {
        let mut out = vec![b'A'; width];
        for slot in out.iter_mut().rev() {
            *slot = ALPHABET[(n % 62) as usize];
            n /= 62;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    format!(
        "j-{}-{}",
        encode(id, 8),
        encode(id.wrapping_mul(0x9E37_79B9) % 56_800_235_584, 6)
    )
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
