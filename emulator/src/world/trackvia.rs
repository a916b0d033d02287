//! TrackVia data model: accounts with apps, views, roles, users and auth tokens, plus the
//! changes a person makes in TrackVia's UI (exposed through the control API).

use std::hash::{BuildHasher, Hasher};

use jiff::Timestamp;
use serde::Serialize;

use super::behaviour::TrackviaBehaviour;
use crate::error::{SeedError, StateError};
use crate::seed::{
    AccountSeed, RoleSeed, TokenSeed, TrackviaSeed, UserRef, UserSeed, UserStatus, ensure_unique,
};

/// TrackVia allows at most this many auth tokens per account.
pub const MAX_TOKENS_PER_ACCOUNT: usize = 100;

/// All TrackVia accounts.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackviaState {
    /// Accounts, in seed order.
    pub accounts: Vec<Account>,
    /// The undocumented behaviour chosen for this run.
    pub behaviour: TrackviaBehaviour,
}

/// One TrackVia account.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// Account id.
    pub id: u64,
    /// Display name.
    pub name: String,
    /// Informational environment label.
    pub environment: String,
    /// API key (`user_key`).
    pub api_key: String,
    /// Applications.
    pub apps: Vec<App>,
    /// Views.
    pub views: Vec<View>,
    /// Roles.
    pub roles: Vec<Role>,
    /// Users.
    pub users: Vec<User>,
    /// Auth tokens.
    pub tokens: Vec<Token>,
    /// Optional request rate limit per second.
    pub rate_limit_per_second: Option<f64>,
}

/// An application.
#[derive(Debug, Clone, Serialize)]
pub struct App {
    /// Id.
    pub id: u64,
    /// Name.
    pub name: String,
}

/// A view.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    /// Id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Name of its application.
    pub app: String,
    /// The `default` flag.
    pub default: bool,
}

/// A role and what it reaches.
#[derive(Debug, Clone, Serialize)]
pub struct Role {
    /// Name.
    pub name: String,
    /// Admin: reaches everything and may manage users.
    pub admin: bool,
    /// Application names reached.
    pub apps: Vec<String>,
    /// View names reached.
    pub views: Vec<String>,
}

/// A user.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Id (also the `Record ID`).
    pub id: u64,
    /// Email.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Status.
    pub status: UserStatus,
    /// The API-user flag.
    pub api_user: bool,
    /// Role name.
    pub role: Option<String>,
    /// Time zone.
    pub time_zone: String,
    /// Creation time.
    #[serde(with = "crate::world::clock::serde_ms")]
    pub created: Timestamp,
    /// Last change.
    #[serde(with = "crate::world::clock::serde_ms")]
    pub updated: Timestamp,
}

/// An auth token.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    /// Id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Owning user id.
    pub user_id: u64,
    /// Expiry (none = never).
    #[serde(with = "crate::world::clock::serde_ms::option")]
    pub expires_at: Option<Timestamp>,
    /// Whether it is active.
    pub active: bool,
    /// The secret value (shown: the control API is a test API).
    pub value: String,
}

/// A request to create a token through the control API.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Owner.
    pub user: UserRef,
    /// Name.
    pub name: String,
    /// Expiry.
    pub expires_at: Option<Timestamp>,
    /// Chosen value; generated when absent.
    pub value: Option<String>,
}

/// A request to create a user through `POST /openapi/users`.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Email.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Time zone.
    pub time_zone: Option<String>,
}

const DEFAULT_TIME_ZONE: &str = "UTC";

impl TrackviaState {
    /// Builds and checks the state described by a seed.
    pub fn from_seed(seed: &TrackviaSeed, now: Timestamp) -> Result<Self, SeedError> {
        let accounts = seed
            .accounts
            .iter()
            .map(|account| Account::from_seed(account, now))
            .collect::<Result<Vec<_>, _>>()?;
        ensure_unique(accounts.iter().map(|a| a.id.to_string()), "TrackVia account id")?;
        ensure_unique(accounts.iter().map(|a| a.api_key.clone()), "TrackVia apiKey")?;
        Ok(Self {
            accounts,
            behaviour: TrackviaBehaviour::default(),
        })
    }

    /// The account whose API key is `api_key`.
    pub fn account_by_key(&self, api_key: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.api_key == api_key)
    }

    /// The account with id `id`.
    pub fn account(&self, id: u64) -> Result<&Account, StateError> {
        self.accounts
            .iter()
            .find(|a| a.id == id)
            .ok_or_else(|| StateError::NotFound(format!("no TrackVia account {id}")))
    }

    /// The account with id `id`, for changes.
    pub fn account_mut(&mut self, id: u64) -> Result<&mut Account, StateError> {
        self.accounts
            .iter_mut()
            .find(|a| a.id == id)
            .ok_or_else(|| StateError::NotFound(format!("no TrackVia account {id}")))
    }
}

impl Account {
    fn from_seed(seed: &AccountSeed, now: Timestamp) -> Result<Self, SeedError> {
        let ctx = format!("account {}", seed.id);
        let mut account = Self {
            id: seed.id,
            name: seed.name.clone(),
            environment: seed.environment.clone(),
            api_key: seed.api_key.clone(),
            apps: seed
                .apps
                .iter()
                .map(|a| App {
                    id: a.id,
                    name: a.name.clone(),
                })
                .collect(),
            views: Vec::new(),
            roles: Vec::new(),
            users: Vec::new(),
            tokens: Vec::new(),
            rate_limit_per_second: seed.rate_limit_per_second,
        };
        if seed.rate_limit_per_second.is_some_and(|r| r.is_nan() || r <= 0.0) {
            return invalid(format!("{ctx}: rateLimitPerSecond must be positive"));
        }
        ensure_unique(
            account.apps.iter().map(|a| a.id.to_string()),
            &format!("{ctx}: app id"),
        )?;
        ensure_unique(
            account.apps.iter().map(|a| a.name.clone()),
            &format!("{ctx}: app name"),
        )?;
        for view in &seed.views {
            if account.app_by_name(&view.app).is_none() {
                return invalid(format!(
                    "{ctx}: view {} is in unknown app {}",
                    view.name, view.app
                ));
            }
            let (id, name, app) = (view.id, view.name.clone(), view.app.clone());
            account.views.push(View {
                id,
                name,
                app,
                default: view.default,
            });
        }
        ensure_unique(
            account.views.iter().map(|v| v.id.to_string()),
            &format!("{ctx}: view id"),
        )?;
        ensure_unique(
            account.views.iter().map(|v| v.name.clone()),
            &format!("{ctx}: view name"),
        )?;
        for role in &seed.roles {
            account
                .upsert_role(role)
                .map_err(|e| SeedError::Invalid(format!("{ctx}: {e}")))?;
        }
        ensure_unique(
            seed.roles.iter().map(|r| r.name.clone()),
            &format!("{ctx}: role name"),
        )?;
        for user in &seed.users {
            account
                .seed_user(user, now)
                .map_err(|e| SeedError::Invalid(format!("{ctx}: {e}")))?;
        }
        for token in &seed.tokens {
            account
                .seed_token(token)
                .map_err(|e| SeedError::Invalid(format!("{ctx}: {e}")))?;
        }
        Ok(account)
    }

    fn seed_user(&mut self, seed: &UserSeed, now: Timestamp) -> Result<(), StateError> {
        if self.user_by_email(&seed.email).is_some() {
            return Err(StateError::Invalid(format!(
                "duplicate user email {}",
                seed.email
            )));
        }
        let id = seed.id.unwrap_or_else(|| self.next_user_id());
        if self.users.iter().any(|u| u.id == id) {
            return Err(StateError::Invalid(format!("duplicate user id {id}")));
        }
        if seed.api_user && seed.status == UserStatus::Unverified {
            return Err(StateError::Invalid(format!(
                "user {} is Unverified and cannot be an API user",
                seed.email
            )));
        }
        if let Some(role) = &seed.role {
            self.role(role)?;
        }
        self.users.push(User {
            id,
            email: seed.email.clone(),
            first_name: seed.first_name.clone(),
            last_name: seed.last_name.clone(),
            status: seed.status,
            api_user: seed.api_user,
            role: seed.role.clone(),
            time_zone: seed.time_zone.clone().unwrap_or_else(|| DEFAULT_TIME_ZONE.into()),
            created: now,
            updated: now,
        });
        Ok(())
    }

    fn seed_token(&mut self, seed: &TokenSeed) -> Result<(), StateError> {
        let user_id = self.user(&seed.user)?.id;
        let id = seed.id.unwrap_or_else(|| self.next_token_id());
        if self.tokens.iter().any(|t| t.id == id) {
            return Err(StateError::Invalid(format!("duplicate token id {id}")));
        }
        self.check_token_capacity(&seed.value)?;
        self.tokens.push(Token {
            id,
            name: seed.name.clone(),
            user_id,
            expires_at: seed.expires_at,
            active: seed.active,
            value: seed.value.clone(),
        });
        Ok(())
    }

    /// The application named `name`.
    pub fn app_by_name(&self, name: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.name == name)
    }

    /// The role named `name`.
    pub fn role(&self, name: &str) -> Result<&Role, StateError> {
        self.roles
            .iter()
            .find(|r| r.name == name)
            .ok_or_else(|| StateError::NotFound(format!("no role {name:?} in account {}", self.id)))
    }

    /// The user with this email (case-insensitive).
    pub fn user_by_email(&self, email: &str) -> Option<&User> {
        self.users.iter().find(|u| u.email.eq_ignore_ascii_case(email))
    }

    /// The user referenced by id or email.
    pub fn user(&self, user: &UserRef) -> Result<&User, StateError> {
        let found = match user {
            UserRef::Id(id) => self.users.iter().find(|u| u.id == *id),
            UserRef::Email(text) => match text.parse::<u64>() {
                Ok(id) => self.users.iter().find(|u| u.id == id),
                Err(_) => self.user_by_email(text),
            },
        };
        found.ok_or_else(|| {
            StateError::NotFound(format!("no user {} in account {}", user_label(user), self.id))
        })
    }

    fn user_mut(&mut self, user: &UserRef) -> Result<&mut User, StateError> {
        let id = self.user(user)?.id;
        self.users
            .iter_mut()
            .find(|u| u.id == id)
            .ok_or_else(|| StateError::NotFound(format!("no user {id}")))
    }

    /// The role of a user, if any.
    pub fn role_of(&self, user: &User) -> Option<&Role> {
        user.role.as_deref().and_then(|name| self.role(name).ok())
    }

    /// Whether the user's role is an admin role.
    pub fn is_admin(&self, user: &User) -> bool {
        self.role_of(user).is_some_and(|r| r.admin)
    }

    /// The applications a user's role reaches (admin: all).
    pub fn apps_reached(&self, user: &User) -> Vec<&App> {
        match self.role_of(user) {
            Some(role) if role.admin => self.apps.iter().collect(),
            Some(role) => self.apps.iter().filter(|a| role.apps.contains(&a.name)).collect(),
            None => Vec::new(),
        }
    }

    /// The views a user's role reaches (admin: all).
    pub fn views_reached(&self, user: &User) -> Vec<&View> {
        match self.role_of(user) {
            Some(role) if role.admin => self.views.iter().collect(),
            Some(role) => self
                .views
                .iter()
                .filter(|v| role.views.contains(&v.name))
                .collect(),
            None => Vec::new(),
        }
    }

    fn next_user_id(&self) -> u64 {
        self.users.iter().map(|u| u.id).max().unwrap_or(0) + 1
    }

    fn next_token_id(&self) -> u64 {
        self.tokens.iter().map(|t| t.id).max().unwrap_or(0) + 1
    }

    fn check_token_capacity(&self, value: &str) -> Result<(), StateError> {
        if self.tokens.len() >= MAX_TOKENS_PER_ACCOUNT {
            return Err(StateError::Conflict(format!(
                "account {} already has {MAX_TOKENS_PER_ACCOUNT} auth tokens",
                self.id
            )));
        }
        if value.is_empty() {
            return Err(StateError::Invalid("a token value must not be empty".into()));
        }
        if self.tokens.iter().any(|t| t.value == value) {
            return Err(StateError::Conflict(
                "a token with this value already exists".into(),
            ));
        }
        Ok(())
    }

    /// `POST /openapi/users`: invites a user (status Unverified, no API flag, no role).
    pub fn create_user(&mut self, new: NewUser, now: Timestamp) -> Result<&User, StateError> {
        if self.user_by_email(&new.email).is_some() {
            return Err(StateError::Conflict(format!(
                "A user with email {} already exists",
                new.email
            )));
        }
        let id = self.next_user_id();
        self.users.push(User {
            id,
            email: new.email,
            first_name: new.first_name,
            last_name: new.last_name,
            status: UserStatus::Unverified,
            api_user: false,
            role: None,
            time_zone: new.time_zone.unwrap_or_else(|| DEFAULT_TIME_ZONE.into()),
            created: now,
            updated: now,
        });
        self.user(&UserRef::Id(id))
    }

    /// The invitation was accepted: Unverified -> Active (Active stays Active).
    pub fn verify_user(&mut self, user: &UserRef, now: Timestamp) -> Result<&User, StateError> {
        let user = self.user_mut(user)?;
        match user.status {
            UserStatus::Unverified => touch(user, now, |u| u.status = UserStatus::Active),
            UserStatus::Active => {}
            UserStatus::Inactive => {
                return Err(StateError::Conflict(format!(
                    "user {} is Inactive; activate it instead",
                    user.id
                )));
            }
        }
        Ok(user)
    }

    /// Ticks or unticks "Set As API User"; refused for Unverified users.
    pub fn set_api_user(
        &mut self,
        user: &UserRef,
        enabled: bool,
        now: Timestamp,
    ) -> Result<&User, StateError> {
        let user = self.user_mut(user)?;
        if enabled && user.status == UserStatus::Unverified {
            return Err(StateError::Conflict(format!(
                "user {} is Unverified and cannot be made an API user",
                user.id
            )));
        }
        touch(user, now, |u| u.api_user = enabled);
        Ok(user)
    }

    /// Assigns a role (or none).
    pub fn set_role(
        &mut self,
        user: &UserRef,
        role: Option<&str>,
        now: Timestamp,
    ) -> Result<&User, StateError> {
        if let Some(role) = role {
            self.role(role)?;
        }
        let user = self.user_mut(user)?;
        touch(user, now, |u| u.role = role.map(str::to_owned));
        Ok(user)
    }

    /// Deactivates (`active == false`) or re-activates a user.
    pub fn set_active(&mut self, user: &UserRef, active: bool, now: Timestamp) -> Result<&User, StateError> {
        let user = self.user_mut(user)?;
        let status = match (active, user.status) {
            (false, _) => UserStatus::Inactive,
            (true, UserStatus::Unverified) => {
                return Err(StateError::Conflict(format!(
                    "user {} is Unverified; verify it instead",
                    user.id
                )));
            }
            (true, _) => UserStatus::Active,
        };
        touch(user, now, |u| u.status = status);
        Ok(user)
    }

    /// Creates an auth token for an API user.
    pub fn create_token(&mut self, new: NewToken) -> Result<&Token, StateError> {
        let owner = self.user(&new.user)?;
        if !owner.api_user {
            return Err(StateError::Conflict(format!(
                "user {} is not an API user",
                owner.id
            )));
        }
        let user_id = owner.id;
        let value = new.value.unwrap_or_else(|| generate_token_value(self.id));
        self.check_token_capacity(&value)?;
        let id = self.next_token_id();
        self.tokens.push(Token {
            id,
            name: new.name,
            user_id,
            expires_at: new.expires_at,
            active: true,
            value,
        });
        self.token(id)
    }

    /// The token with id `id`.
    pub fn token(&self, id: u64) -> Result<&Token, StateError> {
        self.tokens
            .iter()
            .find(|t| t.id == id)
            .ok_or_else(|| StateError::NotFound(format!("no token {id} in account {}", self.id)))
    }

    /// Deactivates a token.
    pub fn deactivate_token(&mut self, id: u64) -> Result<&Token, StateError> {
        let account = self.id;
        let token = self
            .tokens
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or_else(|| StateError::NotFound(format!("no token {id} in account {account}")))?;
        token.active = false;
        Ok(token)
    }

    /// Deletes a token.
    pub fn delete_token(&mut self, id: u64) -> Result<(), StateError> {
        self.token(id)?;
        self.tokens.retain(|t| t.id != id);
        Ok(())
    }

    /// Creates or replaces a role; every app and view it names must exist.
    pub fn upsert_role(&mut self, seed: &RoleSeed) -> Result<&Role, StateError> {
        if seed.name.is_empty() {
            return Err(StateError::Invalid("a role needs a name".into()));
        }
        if let Some(app) = seed.apps.iter().find(|a| self.app_by_name(a).is_none()) {
            return Err(StateError::Invalid(format!(
                "role {}: unknown app {app}",
                seed.name
            )));
        }
        if let Some(view) = seed
            .views
            .iter()
            .find(|v| !self.views.iter().any(|w| &w.name == *v))
        {
            return Err(StateError::Invalid(format!(
                "role {}: unknown view {view}",
                seed.name
            )));
        }
        let role = Role {
            name: seed.name.clone(),
            admin: seed.admin,
            apps: seed.apps.clone(),
            views: seed.views.clone(),
        };
        let index = match self.roles.iter().position(|r| r.name == seed.name) {
            Some(index) => {
                self.roles[index] = role;
                index
            }
            None => {
                self.roles.push(role);
                self.roles.len() - 1
            }
        };
        self.roles
            .get(index)
            .ok_or_else(|| StateError::NotFound(seed.name.clone()))
    }
}

fn touch(user: &mut User, now: Timestamp, change: impl FnOnce(&mut User)) {
    change(user);
    user.updated = now;
}

fn user_label(user: &UserRef) -> String {
    match user {
        UserRef::Id(id) => id.to_string(),
        UserRef::Email(email) => email.clone(),
    }
}

/// A fresh, hard-to-guess token value (hex, 32 characters).
fn generate_token_value(account: u64) -> String {
    let state = std::collections::hash_map::RandomState::new();
    let mut first = state.build_hasher();
    first.write_u64(account);
    let mut second = std::collections::hash_map::RandomState::new().build_hasher();
    second.write_u128(Timestamp::now().as_nanosecond().unsigned_abs());
    format!("{:016x}{:016x}", first.finish(), second.finish())
}

fn invalid<T>(message: String) -> Result<T, SeedError> {
    Err(SeedError::Invalid(message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::{AppSeed, ViewSeed};

    fn account() -> Account {
        let seed = AccountSeed {
            id: 7,
            name: "A".into(),
            environment: "sandbox".into(),
            api_key: "k".into(),
            apps: vec![AppSeed {
                id: 1,
                name: "CRM".into(),
            }],
            views: vec![ViewSeed {
                id: 10,
                name: "Accounts".into(),
                app: "CRM".into(),
                default: false,
            }],
            roles: vec![RoleSeed {
                name: "Limited".into(),
                admin: false,
                apps: vec![],
                views: vec!["Accounts".into()],
            }],
            users: vec![],
            tokens: vec![],
            rate_limit_per_second: None,
        };
        Account::from_seed(&seed, Timestamp::UNIX_EPOCH).unwrap()
    }

    fn new_user(email: &str) -> NewUser {
        NewUser {
            email: email.into(),
            first_name: "F".into(),
            last_name: "L".into(),
            time_zone: None,
        }
    }

    #[test]
    fn unverified_users_cannot_become_api_users() {
        let mut account = account();
        let id = account
            .create_user(new_user("x@y"), Timestamp::UNIX_EPOCH)
            .unwrap()
            .id;
        let err = account
            .set_api_user(&UserRef::Id(id), true, Timestamp::UNIX_EPOCH)
            .unwrap_err();
        assert!(matches!(err, StateError::Conflict(_)));
        account
            .verify_user(&UserRef::Email("X@Y".into()), Timestamp::UNIX_EPOCH)
            .unwrap();
        assert!(
            account
                .set_api_user(&UserRef::Id(id), true, Timestamp::UNIX_EPOCH)
                .unwrap()
                .api_user
        );
    }

    #[test]
    fn generated_token_values_differ() {
        assert_ne!(generate_token_value(1), generate_token_value(1));
        assert_eq!(generate_token_value(1).len(), 32);
    }

    #[test]
    fn roles_must_name_existing_views() {
        let mut account = account();
        let role = RoleSeed {
            name: "R".into(),
            admin: false,
            apps: vec![],
            views: vec!["Nope".into()],
        };
        assert!(matches!(account.upsert_role(&role), Err(StateError::Invalid(_))));
    }
}
