//! Workato data model: workspaces (one per environment) with API tokens, managed users,
//! connections, recipes and their jobs.

use std::collections::VecDeque;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{SeedError, StateError};
use crate::seed::{
    ConnectionSeed, CustomConnectorSeed, ManagedUserSeed, RecipeSeed, WorkatoSeed, WorkspaceSeed,
    ensure_unique,
};

/// A connection test: `Err` carries the text Workato shows as `authorization_error`.
pub type ConnectionTest<'a> = dyn Fn(&Connection) -> Result<(), String> + 'a;

/// At most this many jobs are kept per recipe (the counters keep counting).
pub const MAX_JOBS_KEPT: usize = 1000;

/// Default home folders are numbered from this base (plus the workspace's position in the seed).
const DEFAULT_HOME_FOLDER_BASE: u64 = 10_000;

/// All Workato workspaces plus the account-wide task-limit switch.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkatoState {
    /// Workspaces, in seed order.
    pub workspaces: Vec<Workspace>,
    /// Whether the task limit is reached (recipes stopped, starts refused).
    pub task_limit_reached: bool,
    /// The next job id to hand out.
    #[serde(skip)]
    pub(crate) next_job_id: u64,
}

/// One workspace.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Workspace {
    /// Id.
    pub id: String,
    /// Informational environment label.
    pub environment: String,
    /// Accepted API client tokens.
    pub api_tokens: Vec<String>,
    /// The `user_id` of its recipes.
    pub user_id: u64,
    /// The `folder_id` of connections and recipes without one.
    pub home_folder_id: u64,
    /// The recipes' `author_name` / `version_author_name`.
    pub owner_name: String,
    /// The recipes' `version_author_email`.
    pub owner_email: String,
    /// Embedded managed users.
    pub managed_users: Vec<ManagedUser>,
    /// Connections.
    pub connections: Vec<Connection>,
    /// Recipes.
    pub recipes: Vec<Recipe>,
    /// Custom connectors.
    pub custom_connectors: Vec<CustomConnectorSeed>,
}

/// A managed user (Embedded customer workspace).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedUser {
    /// Numeric id.
    pub id: u64,
    /// External id.
    pub external_id: Option<String>,
    /// The managed user's workspace id.
    pub workspace: String,
}

/// A connection, including its stored (never returned) input.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    /// Id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Provider.
    pub provider: String,
    /// Description.
    pub description: Option<String>,
    /// Folder id.
    pub folder_id: Option<u64>,
    /// Parent connection id.
    pub parent_id: Option<u64>,
    /// External id.
    pub external_id: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Stored credentials.
    pub input: Map<String, Value>,
    /// `success`, `failed` or none (not authorized).
    pub authorization_status: Option<String>,
    /// Error of the last failed test.
    pub authorization_error: Option<String>,
    /// Time of the last successful test.
    #[serde(with = "crate::world::clock::serde_ms::option")]
    pub authorized_at: Option<Timestamp>,
    /// Creation time.
    #[serde(with = "crate::world::clock::serde_ms")]
    pub created_at: Timestamp,
    /// Last change.
    #[serde(with = "crate::world::clock::serde_ms")]
    pub updated_at: Timestamp,
    /// When a recipe lost the connection.
    #[serde(with = "crate::world::clock::serde_ms::option")]
    pub connection_lost_at: Option<Timestamp>,
    /// Why the connection was lost.
    pub connection_lost_reason: Option<String>,
}

/// One `config` entry of a recipe: an application and the connection it uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigEntry {
    /// Provider (`trackvia`, ...).
    pub provider: String,
    /// Connection id, if selected.
    pub account_id: Option<u64>,
}

/// A recipe with its runtime counters and recent jobs.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recipe {
    /// Id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Folder id.
    pub folder_id: Option<u64>,
    /// Running flag.
    pub running: bool,
    /// Applications and connections.
    pub config: Vec<ConfigEntry>,
    /// Creation time.
    #[serde(with = "crate::world::clock::serde_ms")]
    pub created_at: Timestamp,
    /// Last change.
    #[serde(with = "crate::world::clock::serde_ms")]
    pub updated_at: Timestamp,
    /// Last stop.
    #[serde(with = "crate::world::clock::serde_ms::option")]
    pub stopped_at: Option<Timestamp>,
    /// Why Workato stopped it (none when stopped through the API).
    pub stop_cause: Option<String>,
    /// Last job.
    #[serde(with = "crate::world::clock::serde_ms::option")]
    pub last_run_at: Option<Timestamp>,
    /// Succeeded jobs.
    pub job_succeeded_count: u64,
    /// Failed jobs (poll errors included).
    pub job_failed_count: u64,
    /// Tasks used.
    pub lifetime_task_count: u64,
    /// Version.
    pub version_no: u64,
    /// Consecutive trigger errors.
    pub consecutive_errors: u32,
    /// Recent jobs, newest first.
    pub jobs: VecDeque<Job>,
}

/// One job (or poll error) of a recipe.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// Id.
    pub id: u64,
    /// Flow run id.
    pub flow_run_id: u64,
    /// Start.
    #[serde(with = "crate::world::clock::serde_ms")]
    pub started_at: Timestamp,
    /// End.
    #[serde(with = "crate::world::clock::serde_ms")]
    pub completed_at: Timestamp,
    /// Title.
    pub title: String,
    /// Failed.
    pub is_error: bool,
    /// The trigger poll failed.
    pub is_poll_error: bool,
    /// Error message.
    pub error: Option<String>,
}

/// Which workspace a Workato request acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The workspace of the API token (rate limits are counted here).
    pub admin: String,
    /// The addressed workspace (a managed user's, under `/api/managed_users/{id}`).
    pub workspace: String,
}

/// Why a request's scope could not be resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeError {
    /// Missing or unknown API token.
    Unauthorized,
    /// Unknown managed user.
    UnknownManagedUser,
}

/// Fields of a new connection.
#[derive(Debug, Clone, Default)]
pub struct NewConnection {
    /// Name.
    pub name: String,
    /// Provider.
    pub provider: String,
    /// Description.
    pub description: Option<String>,
    /// Folder id.
    pub folder_id: Option<u64>,
    /// Parent id.
    pub parent_id: Option<u64>,
    /// External id.
    pub external_id: Option<String>,
    /// Input.
    pub input: Map<String, Value>,
}

impl WorkatoState {
    /// Builds and checks the state described by a seed; seeded connections with an input and
    /// no explicit status are tested with `test` (the Workato connector's connection test,
    /// which the data model does not know).
    pub fn from_seed(
        seed: &WorkatoSeed,
        now: Timestamp,
        test: &ConnectionTest<'_>,
    ) -> Result<Self, SeedError> {
        let mut state = Self {
            workspaces: Vec::new(),
            task_limit_reached: false,
            next_job_id: 1,
        };
        for (index, ws) in seed.workspaces.iter().enumerate() {
            let workspace = Workspace::from_seed(ws, index, now, test)?;
            state.workspaces.push(workspace);
        }
        state.check_seed()?;
        Ok(state)
    }

    fn check_seed(&self) -> Result<(), SeedError> {
        ensure_unique(self.workspaces.iter().map(|w| w.id.clone()), "workspace id")?;
        let tokens = self.workspaces.iter().flat_map(|w| w.api_tokens.iter().cloned());
        ensure_unique(tokens, "Workato API token")?;
        let connections = self
            .workspaces
            .iter()
            .flat_map(|w| w.connections.iter().map(|c| c.id.to_string()));
        ensure_unique(connections, "connection id")?;
        ensure_unique(
            self.workspaces
                .iter()
                .flat_map(|w| w.recipes.iter().map(|r| r.id.to_string())),
            "recipe id",
        )?;
        for ws in &self.workspaces {
            for managed in &ws.managed_users {
                if managed.workspace == ws.id || self.workspace(&managed.workspace).is_err() {
                    return Err(SeedError::Invalid(format!(
                        "workspace {}: managed user {} points at unknown workspace {}",
                        ws.id, managed.id, managed.workspace
                    )));
                }
            }
        }
        Ok(())
    }

    /// The workspace with id `id`.
    pub fn workspace(&self, id: &str) -> Result<&Workspace, StateError> {
        self.workspaces
            .iter()
            .find(|w| w.id == id)
            .ok_or_else(|| StateError::NotFound(format!("no workspace {id}")))
    }

    /// The workspace with id `id`, for changes.
    pub fn workspace_mut(&mut self, id: &str) -> Result<&mut Workspace, StateError> {
        self.workspaces
            .iter_mut()
            .find(|w| w.id == id)
            .ok_or_else(|| StateError::NotFound(format!("no workspace {id}")))
    }

    /// Resolves the API token and the optional managed-user path segment (`123` or `E<ext>`).
    pub fn resolve_scope(&self, token: Option<&str>, managed: Option<&str>) -> Result<Scope, ScopeError> {
        let token = token.ok_or(ScopeError::Unauthorized)?;
        let admin = self
            .workspaces
            .iter()
            .find(|w| w.api_tokens.iter().any(|t| t == token))
            .ok_or(ScopeError::Unauthorized)?;
        let workspace = match managed {
            None => admin.id.clone(),
            Some(segment) => admin
                .managed_user(segment)
                .ok_or(ScopeError::UnknownManagedUser)?
                .workspace
                .clone(),
        };
        Ok(Scope {
            admin: admin.id.clone(),
            workspace,
        })
    }

    /// A fresh connection id (ids are unique across workspaces).
    pub fn next_connection_id(&self) -> u64 {
        let max = self
            .workspaces
            .iter()
            .flat_map(|w| w.connections.iter().map(|c| c.id))
            .max();
        max.unwrap_or(0) + 1
    }

    /// A fresh recipe id (ids are unique across workspaces).
    pub fn next_recipe_id(&self) -> u64 {
        let max = self
            .workspaces
            .iter()
            .flat_map(|w| w.recipes.iter().map(|r| r.id))
            .max();
        max.unwrap_or(0) + 1
    }

    /// Creates a recipe in a workspace (control API); every connection must be in it.
    pub fn create_recipe(
        &mut self,
        workspace: &str,
        seed: RecipeSeed,
        now: Timestamp,
    ) -> Result<&Recipe, StateError> {
        let id = if seed.id == 0 {
            self.next_recipe_id()
        } else {
            seed.id
        };
        if self
            .workspaces
            .iter()
            .any(|w| w.recipes.iter().any(|r| r.id == id))
        {
            return Err(StateError::Conflict(format!("recipe {id} already exists")));
        }
        let ws = self.workspace_mut(workspace)?;
        let recipe = Recipe::new(&RecipeSeed { id, ..seed }, &ws.connections, now)?;
        ws.recipes.push(recipe);
        ws.recipes
            .last()
            .ok_or_else(|| StateError::NotFound(format!("recipe {id}")))
    }
}

impl Workspace {
    fn from_seed(
        seed: &WorkspaceSeed,
        index: usize,
        now: Timestamp,
        test: &ConnectionTest<'_>,
    ) -> Result<Self, SeedError> {
        let connections = seed
            .connections
            .iter()
            .map(|c| Connection::from_seed(c, now, test))
            .collect::<Vec<_>>();
        let recipes = seed
            .recipes
            .iter()
            .map(|r| Recipe::new(r, &connections, now))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SeedError::Invalid(format!("workspace {}: {e}", seed.id)))?;
        let managed_users = seed
            .managed_users
            .iter()
            .map(ManagedUser::from)
            .collect::<Vec<_>>();
        ensure_unique(managed_users.iter().map(|m| m.id.to_string()), "managed user id")?;
        Ok(Self {
            id: seed.id.clone(),
            environment: seed.environment.clone(),
            api_tokens: seed.api_tokens.clone(),
            user_id: seed.user_id.unwrap_or(1),
            home_folder_id: seed
                .home_folder_id
                .unwrap_or(DEFAULT_HOME_FOLDER_BASE + index as u64 + 1),
            owner_name: seed
                .owner_name
                .clone()
                .unwrap_or_else(|| format!("{} owner", seed.id)),
            owner_email: seed
                .owner_email
                .clone()
                .unwrap_or_else(|| format!("owner@{}.example", seed.id)),
            managed_users,
            connections,
            recipes,
            custom_connectors: seed.custom_connectors.clone(),
        })
    }

    /// The managed user addressed by `123` (id) or `E<external id>`.
    pub fn managed_user(&self, segment: &str) -> Option<&ManagedUser> {
        if let Ok(id) = segment.parse::<u64>() {
            return self.managed_users.iter().find(|m| m.id == id);
        }
        let external = segment.strip_prefix('E')?;
        self.managed_users
            .iter()
            .find(|m| m.external_id.as_deref() == Some(external))
    }

    /// The folder an object with `folder_id` lives in: its own, else the home folder.
    pub fn folder_of(&self, folder_id: Option<u64>) -> u64 {
        folder_id.unwrap_or(self.home_folder_id)
    }

    /// The connection with id `id`.
    pub fn connection(&self, id: u64) -> Option<&Connection> {
        self.connections.iter().find(|c| c.id == id)
    }

    /// The connection with id `id`, for changes.
    pub fn connection_mut(&mut self, id: u64) -> Option<&mut Connection> {
        self.connections.iter_mut().find(|c| c.id == id)
    }

    /// The recipe with id `id`.
    pub fn recipe(&self, id: u64) -> Option<&Recipe> {
        self.recipes.iter().find(|r| r.id == id)
    }

    /// The recipe with id `id`, for changes.
    pub fn recipe_mut(&mut self, id: u64) -> Option<&mut Recipe> {
        self.recipes.iter_mut().find(|r| r.id == id)
    }
}

impl From<&ManagedUserSeed> for ManagedUser {
    fn from(seed: &ManagedUserSeed) -> Self {
        Self {
            id: seed.id,
            external_id: seed.external_id.clone(),
            workspace: seed.workspace.clone(),
        }
    }
}

impl Connection {
    /// A new, untested connection.
    pub fn new(id: u64, new: NewConnection, now: Timestamp) -> Self {
        Self {
            id,
            name: new.name,
            provider: new.provider,
            description: new.description,
            folder_id: new.folder_id,
            parent_id: new.parent_id,
            external_id: new.external_id,
            tags: Vec::new(),
            input: new.input,
            authorization_status: None,
            authorization_error: None,
            authorized_at: None,
            created_at: now,
            updated_at: now,
            connection_lost_at: None,
            connection_lost_reason: None,
        }
    }

    fn from_seed(seed: &ConnectionSeed, now: Timestamp, test: &ConnectionTest<'_>) -> Self {
        let new = NewConnection {
            name: seed.name.clone(),
            provider: seed.provider.clone(),
            description: seed.description.clone(),
            folder_id: seed.folder_id,
            parent_id: seed.parent_id,
            external_id: seed.external_id.clone(),
            input: seed.input.clone(),
        };
        let mut connection = Self {
            tags: seed.tags.clone(),
            ..Self::new(seed.id, new, now)
        };
        match &seed.authorization_status {
            Some(status) => {
                connection.authorization_status = Some(status.clone());
                connection.authorized_at = (status == "success").then_some(now);
            }
            None if !seed.input.is_empty() => {
                let result = test(&connection);
                connection.record_test(result, now);
            }
            None => {}
        }
        connection
    }

    /// Records the outcome of a connection test.
    pub fn record_test(&mut self, result: Result<(), String>, now: Timestamp) {
        match result {
            Ok(()) => {
                self.authorization_status = Some("success".into());
                self.authorization_error = None;
                self.authorized_at = Some(now);
                self.connection_lost_at = None;
                self.connection_lost_reason = None;
            }
            Err(error) => {
                self.authorization_status = Some("failed".into());
                self.authorization_error = Some(error);
                self.authorized_at = None;
            }
        }
        self.updated_at = now;
    }

    /// Disconnects: credentials are dropped and the connection is no longer authorized.
    pub fn disconnect(&mut self, now: Timestamp) {
        self.input.clear();
        self.authorization_status = None;
        self.authorization_error = None;
        self.authorized_at = None;
        self.updated_at = now;
    }
}

impl Recipe {
    /// A recipe built from a seed entry, resolving its connections in `connections`.
    pub fn new(seed: &RecipeSeed, connections: &[Connection], now: Timestamp) -> Result<Self, StateError> {
        let config = seed
            .connections
            .iter()
            .map(|id| match id {
                None => Ok(ConfigEntry {
                    provider: "trackvia".into(),
                    account_id: None,
                }),
                Some(id) => connections
                    .iter()
                    .find(|c| c.id == *id)
                    .map(|c| ConfigEntry {
                        provider: c.provider.clone(),
                        account_id: Some(c.id),
                    })
                    .ok_or_else(|| {
                        StateError::Invalid(format!("recipe {}: unknown connection {id}", seed.id))
                    }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            id: seed.id,
            name: seed.name.clone(),
            description: seed.description.clone(),
            folder_id: seed.folder_id,
            running: seed.running,
            config,
            created_at: now,
            updated_at: now,
            stopped_at: None,
            stop_cause: None,
            last_run_at: None,
            job_succeeded_count: 0,
            job_failed_count: 0,
            lifetime_task_count: seed.lifetime_task_count,
            version_no: 1,
            consecutive_errors: 0,
            jobs: VecDeque::new(),
        })
    }

    /// Whether any `config` entry uses connection `id`.
    pub fn uses_connection(&self, id: u64) -> bool {
        self.config.iter().any(|c| c.account_id == Some(id))
    }

    /// The distinct providers of the recipe, trigger first.
    pub fn applications(&self) -> Vec<String> {
        let mut apps: Vec<String> = Vec::new();
        for entry in &self.config {
            if !apps.contains(&entry.provider) {
                apps.push(entry.provider.clone());
            }
        }
        apps
    }

    /// Stops the recipe (`cause` none = stopped through the API).
    pub fn stop(&mut self, cause: Option<String>, now: Timestamp) {
        self.running = false;
        self.stopped_at = Some(now);
        self.stop_cause = cause;
        self.updated_at = now;
    }

    /// Starts the recipe.
    pub fn start(&mut self, now: Timestamp) {
        self.running = true;
        self.stopped_at = None;
        self.stop_cause = None;
        self.consecutive_errors = 0;
        self.updated_at = now;
    }

    /// Records a job, keeping at most [`MAX_JOBS_KEPT`].
    pub fn record_job(&mut self, job: Job) {
        if job.is_error {
            self.job_failed_count += 1;
        } else {
            self.job_succeeded_count += 1;
            self.lifetime_task_count += 1;
        }
        self.last_run_at = Some(job.completed_at);
        self.jobs.push_front(job);
        self.jobs.truncate(MAX_JOBS_KEPT);
    }
}
