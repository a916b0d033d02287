//! JSON shapes of TrackVia answers (record sets, users, apps, views).

use serde::Serialize;

use crate::world::clock::format_ts;
use crate::world::trackvia::{App, User, View};

/// A record set: `{"structure":[...],"data":[...],"totalCount":N}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordSet<T> {
    /// Field metadata.
    pub structure: Vec<FieldMeta>,
    /// Records.
    pub data: Vec<T>,
    /// Total number of records (before paging).
    pub total_count: usize,
}

/// One field's metadata in `structure`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldMeta {
    /// Field name (the key in `data`).
    pub name: &'static str,
    /// Field type.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Required on create.
    pub required: bool,
    /// Unique.
    pub unique: bool,
    /// Readable.
    pub can_read: bool,
    /// Updatable.
    pub can_update: bool,
    /// Settable on create.
    pub can_create: bool,
    /// Relationship size (0: not a relationship).
    pub relationship_size: u32,
    /// Property name.
    pub property_name: &'static str,
}

/// A user record as `/openapi/users` returns it.
#[derive(Debug, Clone, Serialize)]
pub struct UserRecord {
    /// User id.
    pub id: u64,
    /// Same as `id`.
    #[serde(rename = "Record ID")]
    pub record_id: u64,
    /// First name.
    #[serde(rename = "First Name")]
    pub first_name: String,
    /// Last name.
    #[serde(rename = "Last Name")]
    pub last_name: String,
    /// Email.
    #[serde(rename = "Email")]
    pub email: String,
    /// `Unverified`, `Active`, or what the run's behaviour shows for a deactivated user
    /// (default `Inactive`).
    #[serde(rename = "Status")]
    pub status: String,
    /// Time zone.
    #[serde(rename = "Time Zone")]
    pub time_zone: String,
    /// Creation time (RFC 3339).
    #[serde(rename = "Created")]
    pub created: String,
    /// Last change (RFC 3339).
    #[serde(rename = "Updated")]
    pub updated: String,
}

impl From<&User> for UserRecord {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            record_id: user.id,
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            email: user.email.clone(),
            status: user.status.as_str().to_owned(),
            time_zone: user.time_zone.clone(),
            created: format_ts(user.created),
            updated: format_ts(user.updated),
        }
    }
}

/// An application as `/openapi/apps` returns it.
#[derive(Debug, Clone, Serialize)]
pub struct AppJson {
    /// Id.
    pub id: u64,
    /// Name.
    pub name: String,
}

impl From<&App> for AppJson {
    fn from(app: &App) -> Self {
        Self {
            id: app.id,
            name: app.name.clone(),
        }
    }
}

/// A view as `/openapi/views` returns it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ViewJson {
    /// Id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Name of the view's application.
    pub application_name: String,
    /// Default view flag.
    pub default: bool,
}

impl From<&View> for ViewJson {
    fn from(view: &View) -> Self {
        Self {
            id: view.id,
            name: view.name.clone(),
            application_name: view.app.clone(),
            default: view.default,
        }
    }
}

/// The `structure` of the users record set.
pub fn user_structure() -> Vec<FieldMeta> {
    let field = |name, kind, property_name, required, unique, writable| FieldMeta {
        name,
        kind,
        required,
        unique,
        can_read: true,
        can_update: writable,
        can_create: writable,
        relationship_size: 0,
        property_name,
    };
    vec![
        field("Record ID", "identifier", "recordId", false, true, false),
        field("First Name", "shortAnswer", "firstName", true, false, true),
        field("Last Name", "shortAnswer", "lastName", true, false, true),
        field("Email", "email", "email", true, true, true),
        field("Status", "dropDown", "status", false, false, false),
        field("Time Zone", "dropDown", "timeZone", false, false, true),
        field("Created", "datetime", "created", false, false, false),
        field("Updated", "datetime", "updated", false, false, false),
    ]
}
