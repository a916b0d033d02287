//! TrackVia behaviour that the vendor does not document, chosen per run: how a bad `user_key` is
//! answered, how a deactivated user is listed, and the largest page of users. Set from the
//! binary's flags ([`crate::Config`]) and changed at run time through
//! `/_emulator/trackvia/behaviour` (docs/emulator.md).

use serde::{Deserialize, Serialize};

/// Who answers a request whose `user_key` is missing or unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum InvalidKeyAnswer {
    /// TrackVia's application: 401 with its JSON error body (the documented status).
    #[default]
    Trackvia,
    /// The 3scale API gateway in front of TrackVia, with APIcast's default answers: an unknown key
    /// gets 403 `Authentication failed`, a missing one 401 `Authentication parameters missing`,
    /// both as plain text.
    Gateway,
}

/// The undocumented parts of TrackVia's behaviour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrackviaBehaviour {
    /// How a bad `user_key` is answered.
    #[serde(default)]
    pub invalid_key: InvalidKeyAnswer,
    /// The `Status` `GET /openapi/users` shows for a deactivated user; `None`: such users are not
    /// listed at all.
    #[serde(default = "default_inactive_status")]
    pub inactive_status: Option<String>,
    /// The largest page `GET /openapi/users` answers, whatever `max` asks for.
    #[serde(default = "default_max_page")]
    pub max_page_size: usize,
}

fn default_inactive_status() -> Option<String> {
    Some("Inactive".into())
}

fn default_max_page() -> usize {
    1000
}

impl Default for TrackviaBehaviour {
    fn default() -> Self {
        Self {
            invalid_key: InvalidKeyAnswer::default(),
            inactive_status: default_inactive_status(),
            max_page_size: default_max_page(),
        }
    }
}

impl TrackviaBehaviour {
    /// Checks the values the types allow but the emulator cannot serve.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_page_size == 0 {
            return Err("maxPageSize must be at least 1".into());
        }
        if self
            .inactive_status
            .as_deref()
            .is_some_and(|s| s.trim().is_empty())
        {
            return Err("inactiveStatus must not be empty (null hides inactive users)".into());
        }
        Ok(())
    }
}
