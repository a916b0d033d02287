//! TrackVia: what the operator needs from its public API, behind a small trait, and the reqwest
//! implementation ([`HttpTrackvia`]). Facts and sources: `docs/vendors.md#trackvia`.
//!
//! What the API can do: list and create users, and every data call with an API key + auth token
//! (used here to validate a token and to see which apps and views it reaches). What it cannot do
//! (UI only): verify a user, set the API-user flag, assign roles, create or deactivate tokens.

mod client;
mod error;

use std::future::Future;

pub use client::{HttpTrackvia, TokenPlacement, TrackviaConfig};
pub use error::{AuthFailure, TrackviaError};

use crate::secret::Sensitive;

/// An auth token (a TrackVia "access token" created under API Access).
pub type AuthToken = Sensitive<String>;

/// A TrackVia user as `GET /openapi/users` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The user's id.
    pub id: i64,
    /// Email address.
    pub email: String,
    /// First Name.
    pub first_name: String,
    /// Last Name.
    pub last_name: String,
    /// `Status`, e.g. `Unverified` or `Active` (only `Unverified` is documented).
    pub status: String,
}

impl User {
    /// Whether the invitation is still pending (the user cannot become an API user yet).
    pub fn is_unverified(&self) -> bool {
        self.status.eq_ignore_ascii_case("unverified")
    }
}

/// One page of users.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserPage {
    /// The users on this page.
    pub users: Vec<User>,
    /// `totalCount`, when the server gave it.
    pub total: Option<u64>,
}

/// A user to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewUser {
    /// Email (the invitation goes there).
    pub email: String,
    /// First Name (the external system).
    pub first_name: String,
    /// Last Name ("Integration").
    pub last_name: String,
    /// Time zone, e.g. `America/Denver`.
    pub time_zone: Option<String>,
}

/// An app the token's user reaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct App {
    /// App id.
    pub id: i64,
    /// App name.
    pub name: String,
}

/// A view the token's user reaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    /// View id.
    pub id: i64,
    /// View name.
    pub name: String,
    /// The app it belongs to (`applicationName`).
    pub app: Option<String>,
}

/// What a token reaches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reach {
    /// Apps.
    pub apps: Vec<App>,
    /// Views.
    pub views: Vec<View>,
}

/// The TrackVia operations the operator uses. One instance serves one account (base URL,
/// optional account id, API key); tokens are passed per call.
pub trait TrackviaApi: Send + Sync {
    /// One page of users (`start` is a 0-based offset). Needs an admin token.
    fn list_users(
        &self,
        admin: &AuthToken,
        start: u64,
        max: u64,
    ) -> impl Future<Output = Result<UserPage, TrackviaError>> + Send;

    /// Creates a user (Status `Unverified`; TrackVia emails the invitation). Needs an admin token.
    /// Not retried on ambiguous failures: the caller must look the user up instead.
    fn create_user(
        &self,
        admin: &AuthToken,
        user: &NewUser,
    ) -> impl Future<Output = Result<User, TrackviaError>> + Send;

    /// The views the token reaches. This is the Workato TrackVia connector's connection test, so
    /// it doubles as token validation.
    fn list_views(&self, token: &AuthToken) -> impl Future<Output = Result<Vec<View>, TrackviaError>> + Send;

    /// The apps the token reaches.
    fn list_apps(&self, token: &AuthToken) -> impl Future<Output = Result<Vec<App>, TrackviaError>> + Send;

    /// Page size used by [`TrackviaApi::find_user_by_email`].
    fn page_size(&self) -> u64 {
        100
    }

    /// Every user of the account, paging through the list: until `totalCount` when the server
    /// sends it (a server may cut a page shorter than `max` asked for), else until a short page;
    /// an empty page always ends it.
    fn list_all_users(
        &self,
        admin: &AuthToken,
    ) -> impl Future<Output = Result<Vec<User>, TrackviaError>> + Send {
        async move {
            let max = self.page_size().max(1);
            let mut all = Vec::new();
            loop {
                let page = self.list_users(admin, all.len() as u64, max).await?;
                let n = page.users.len() as u64;
                all.extend(page.users);
                let done = match page.total {
                    Some(total) => all.len() as u64 >= total,
                    None => n < max,
                };
                if n == 0 || done {
                    return Ok(all);
                }
            }
        }
    }

    /// Finds a user by email (case-insensitive) across every page of the user list.
    fn find_user_by_email(
        &self,
        admin: &AuthToken,
        email: &str,
    ) -> impl Future<Output = Result<Option<User>, TrackviaError>> + Send {
        async move {
            Ok(self
                .list_all_users(admin)
                .await?
                .into_iter()
                .find(|u| u.email.eq_ignore_ascii_case(email)))
        }
    }

    /// Validates the token and reads what it reaches (views, then apps).
    fn reach(&self, token: &AuthToken) -> impl Future<Output = Result<Reach, TrackviaError>> + Send {
        async move {
            let views = self.list_views(token).await?;
            let apps = self.list_apps(token).await?;
            Ok(Reach { apps, views })
        }
    }
}

impl<T: TrackviaApi> TrackviaApi for std::sync::Arc<T> {
    fn list_users(
        &self,
        admin: &AuthToken,
        start: u64,
        max: u64,
    ) -> impl Future<Output = Result<UserPage, TrackviaError>> + Send {
        (**self).list_users(admin, start, max)
    }
    fn create_user(
        &self,
        admin: &AuthToken,
        user: &NewUser,
    ) -> impl Future<Output = Result<User, TrackviaError>> + Send {
        (**self).create_user(admin, user)
    }
    fn list_views(&self, token: &AuthToken) -> impl Future<Output = Result<Vec<View>, TrackviaError>> + Send {
        (**self).list_views(token)
    }
    fn list_apps(&self, token: &AuthToken) -> impl Future<Output = Result<Vec<App>, TrackviaError>> + Send {
        (**self).list_apps(token)
    }
    fn page_size(&self) -> u64 {
        (**self).page_size()
    }
}
