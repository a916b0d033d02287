//! The seed: the initial state of both emulated services, loaded from YAML or JSON.
//!
//! Field names are camelCase in the file. Unknown fields are rejected so that typos in a seed
//! fail loudly instead of being ignored.

use std::path::Path;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::SeedError;

/// The whole seed: TrackVia accounts and Workato workspaces.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Seed {
    /// The emulated TrackVia service.
    #[serde(default)]
    pub trackvia: TrackviaSeed,
    /// The emulated Workato service.
    #[serde(default)]
    pub workato: WorkatoSeed,
}

/// TrackVia part of the seed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrackviaSeed {
    /// Every account served by the TrackVia listener.
    #[serde(default)]
    pub accounts: Vec<AccountSeed>,
}

/// One TrackVia account (production or sandbox), identified by its API key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountSeed {
    /// Account id (the value of the optional `account-id` header).
    pub id: u64,
    /// Display name.
    pub name: String,
    /// Free text, e.g. `sandbox` or `production` (informational).
    #[serde(default)]
    pub environment: String,
    /// The account's API key (`user_key` query parameter).
    pub api_key: String,
    /// Applications of the account.
    #[serde(default)]
    pub apps: Vec<AppSeed>,
    /// Views, each in one application.
    #[serde(default)]
    pub views: Vec<ViewSeed>,
    /// Roles.
    #[serde(default)]
    pub roles: Vec<RoleSeed>,
    /// Users.
    #[serde(default)]
    pub users: Vec<UserSeed>,
    /// Auth tokens.
    #[serde(default)]
    pub tokens: Vec<TokenSeed>,
    /// Optional per-account request rate limit (requests per second, also the burst).
    #[serde(default)]
    pub rate_limit_per_second: Option<f64>,
}

/// A TrackVia application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppSeed {
    /// Application id.
    pub id: u64,
    /// Application name (unique in the account).
    pub name: String,
}

/// A TrackVia view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ViewSeed {
    /// View id.
    pub id: u64,
    /// View name (unique in the account).
    pub name: String,
    /// Name of the application the view belongs to.
    pub app: String,
    /// The `default` flag reported by `/openapi/views`.
    #[serde(default)]
    pub default: bool,
}

/// A TrackVia role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleSeed {
    /// Role name (unique in the account).
    pub name: String,
    /// Admin roles reach every app and view and may manage users.
    #[serde(default)]
    pub admin: bool,
    /// Names of the applications the role reaches.
    #[serde(default)]
    pub apps: Vec<String>,
    /// Names of the views the role reaches.
    #[serde(default)]
    pub views: Vec<String>,
}

/// A user's verification / activation status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserStatus {
    /// Invited, invitation not accepted yet.
    Unverified,
    /// Active user.
    #[default]
    Active,
    /// Deactivated by an admin.
    Inactive,
}

impl UserStatus {
    /// The value shown in the `Status` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unverified => "Unverified",
            Self::Active => "Active",
            Self::Inactive => "Inactive",
        }
    }
}

/// A TrackVia user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserSeed {
    /// User id; allocated when absent.
    #[serde(default)]
    pub id: Option<u64>,
    /// Email (unique in the account, compared case-insensitively).
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Status; default `Active`.
    #[serde(default)]
    pub status: UserStatus,
    /// The "Set As API User" flag.
    #[serde(default)]
    pub api_user: bool,
    /// Role name.
    #[serde(default)]
    pub role: Option<String>,
    /// Time zone; default `UTC`.
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// A reference to a user: numeric id or email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum UserRef {
    /// The user's id.
    Id(u64),
    /// The user's email (or an id written as a string).
    Email(String),
}

/// A TrackVia auth token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenSeed {
    /// Token id; allocated when absent.
    #[serde(default)]
    pub id: Option<u64>,
    /// The secret token value.
    pub value: String,
    /// The owning user (must be an API user).
    pub user: UserRef,
    /// Token name.
    #[serde(default)]
    pub name: String,
    /// Expiry; none = never expires.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    /// Whether the token is active; default true.
    #[serde(default = "yes")]
    pub active: bool,
}

/// Workato part of the seed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkatoSeed {
    /// Every workspace served by the Workato listener.
    #[serde(default)]
    pub workspaces: Vec<WorkspaceSeed>,
}

/// One Workato workspace (one environment), identified by its API client tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkspaceSeed {
    /// Workspace id (free text, unique).
    pub id: String,
    /// Free text, e.g. `sandbox`, `dev`, `production` (informational).
    #[serde(default)]
    pub environment: String,
    /// API client tokens accepted as `Authorization: Bearer`.
    #[serde(default)]
    pub api_tokens: Vec<String>,
    /// The `user_id` reported on recipes; default 1.
    #[serde(default)]
    pub user_id: Option<u64>,
    /// The workspace's home folder: the `folder_id` of connections and recipes seeded or created
    /// without one (Workato's schema has no null `folder_id`). Default `10000 + <position of the
    /// workspace in the seed, from 1>`.
    #[serde(default)]
    pub home_folder_id: Option<u64>,
    /// The recipes' `author_name` and `version_author_name`; default `<id> owner`.
    #[serde(default)]
    pub owner_name: Option<String>,
    /// The recipes' `version_author_email`; default `owner@<id>.example`.
    #[serde(default)]
    pub owner_email: Option<String>,
    /// Embedded: managed users (customer workspaces) reachable under `/api/managed_users/{id}`.
    #[serde(default)]
    pub managed_users: Vec<ManagedUserSeed>,
    /// Connections.
    #[serde(default)]
    pub connections: Vec<ConnectionSeed>,
    /// Recipes.
    #[serde(default)]
    pub recipes: Vec<RecipeSeed>,
    /// Custom connectors (`GET /api/custom_connectors`).
    #[serde(default)]
    pub custom_connectors: Vec<CustomConnectorSeed>,
}

/// A custom connector: its listing, its code, and which of its connection fields hold the
/// TrackVia API key and auth token (the emulator does not run the code; these stand in for its
/// `authorization.apply`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomConnectorSeed {
    /// Id.
    pub id: u64,
    /// Name: the provider of its connections and recipes' adapter name.
    pub name: String,
    /// Title.
    pub title: String,
    /// Its code (Workato connector SDK, Ruby), served by `GET /api/custom_connectors/:id/code`.
    pub code: String,
    /// The connection field holding the API key.
    pub api_key_field: String,
    /// The connection field holding the auth token.
    pub auth_token_field: String,
}

/// An Embedded managed user, pointing at another seeded workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManagedUserSeed {
    /// Numeric managed-user id.
    pub id: u64,
    /// External id (addressed as `E<externalId>`).
    #[serde(default)]
    pub external_id: Option<String>,
    /// Id of the workspace this managed user owns.
    pub workspace: String,
}

/// A Workato connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectionSeed {
    /// Connection id (unique across all workspaces).
    pub id: u64,
    /// Name.
    pub name: String,
    /// Provider, e.g. `trackvia`.
    pub provider: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Folder id.
    #[serde(default)]
    pub folder_id: Option<u64>,
    /// Parent connection id.
    #[serde(default)]
    pub parent_id: Option<u64>,
    /// External id.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Stored connection input (credentials). Never returned by the Workato API.
    #[serde(default)]
    pub input: serde_json::Map<String, serde_json::Value>,
    /// Initial `authorization_status`. When absent, a connection with a non-empty input is
    /// tested at start and one with an empty input starts unauthorized (null).
    #[serde(default)]
    pub authorization_status: Option<String>,
}

/// A Workato recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecipeSeed {
    /// Recipe id (unique across all workspaces).
    pub id: u64,
    /// Name.
    pub name: String,
    /// Whether the recipe runs at start.
    #[serde(default)]
    pub running: bool,
    /// Connection ids of the workspace, one `config` entry each; `null` is a TrackVia entry
    /// with no connection selected (`account_id: null`).
    #[serde(default)]
    pub connections: Vec<Option<u64>>,
    /// Folder id.
    #[serde(default)]
    pub folder_id: Option<u64>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Initial `lifetime_task_count`.
    #[serde(default)]
    pub lifetime_task_count: u64,
}

fn yes() -> bool {
    true
}

/// Fails with [`SeedError::Invalid`] on the first repeated value.
pub(crate) fn ensure_unique(values: impl Iterator<Item = String>, what: &str) -> Result<(), SeedError> {
    let mut seen = std::collections::HashSet::new();
    for value in values {
        if !seen.insert(value.clone()) {
            return Err(SeedError::Invalid(format!("duplicate {what} {value}")));
        }
    }
    Ok(())
}

impl Seed {
    /// Reads a seed file; `.json` files are parsed as JSON, everything else as YAML.
    pub fn from_path(path: &Path) -> Result<Self, SeedError> {
        let text = std::fs::read_to_string(path).map_err(|source| SeedError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let is_json = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
        if is_json {
            Self::from_json_str(&text)
        } else {
            Self::from_yaml_str(&text)
        }
    }

    /// Parses a YAML seed.
    pub fn from_yaml_str(text: &str) -> Result<Self, SeedError> {
        Ok(serde_saphyr::from_str(text)?)
    }

    /// Parses a JSON seed.
    pub fn from_json_str(text: &str) -> Result<Self, SeedError> {
        Ok(serde_json::from_str(text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"
trackvia:
  accounts:
    - id: 21508
      name: ACME Sandbox
      environment: sandbox
      apiKey: sbx-api-key
      apps: [{id: 1, name: CRM}]
      views: [{id: 10, name: Accounts, app: CRM}]
      roles:
        - {name: Super Admin, admin: true}
      users:
        - {id: 1, email: admin@acme.example, firstName: Ada, lastName: Admin, status: Active, apiUser: true, role: Super Admin}
      tokens:
        - {id: 1, value: sbx-admin-token, user: admin@acme.example, name: operator, expiresAt: "2030-01-01T00:00:00Z"}
        - {value: t2, user: 1}
workato:
  workspaces:
    - id: acme-dev
      apiTokens: [wk-dev-token]
      connections:
        - {id: 100, name: "TrackVia", provider: trackvia, folderId: 4012, input: {}}
      recipes:
        - {id: 500, name: Sync accounts, running: true, connections: [100, null], folderId: 4012}
"#;

    #[test]
    fn parses_the_documented_yaml_format() {
        let seed = Seed::from_yaml_str(YAML).unwrap();
        let account = &seed.trackvia.accounts[0];
        assert_eq!(account.api_key, "sbx-api-key");
        assert_eq!(account.users[0].status, UserStatus::Active);
        assert_eq!(
            account.tokens[0].user,
            UserRef::Email("admin@acme.example".into())
        );
        assert_eq!(account.tokens[1].user, UserRef::Id(1));
        assert!(account.tokens[1].active);
        assert_eq!(
            account.tokens[0].expires_at,
            Some("2030-01-01T00:00:00Z".parse().unwrap())
        );
        let ws = &seed.workato.workspaces[0];
        assert_eq!(ws.recipes[0].connections, vec![Some(100), None]);
    }

    #[test]
    fn json_round_trip_matches_yaml() {
        let seed = Seed::from_yaml_str(YAML).unwrap();
        let json = serde_json::to_string(&seed).unwrap();
        assert_eq!(Seed::from_json_str(&json).unwrap(), seed);
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = Seed::from_yaml_str("trackvia:\n  acounts: []\n").unwrap_err();
        assert!(matches!(err, SeedError::Yaml(_)), "{err}");
    }
}
