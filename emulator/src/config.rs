//! Runtime configuration of the emulator (the binary's flags map onto it one to one).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::error::Error;

/// How the emulator behaves where the vendors' documentation leaves a choice.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Listen address of the TrackVia emulator (loopback only; port 0 = any free port).
    pub trackvia_addr: SocketAddr,
    /// Listen address of the Workato emulator (loopback only; port 0 = any free port).
    pub workato_addr: SocketAddr,
    /// Latency added to every vendor call (not to control API calls).
    pub latency: Duration,
    /// How often running recipes poll their trigger; zero = only on `/_emulator/workato/tick`.
    pub recipe_poll_interval: Duration,
    /// Consecutive trigger errors after which a recipe is stopped (`trigger_errors_limit`);
    /// zero = never stop.
    pub auth_error_stop_threshold: u32,
    /// Connection input field names the emulated TrackVia connector reads.
    pub trackvia_input_keys: InputKeys,
    /// `Retry-After` seconds sent with Workato 429 answers; zero = no header.
    pub workato_retry_after_secs: u64,
    /// `stop_cause` given to recipes stopped because the task limit was reached.
    pub task_limit_stop_cause: String,
}

/// What the emulated TrackVia connectors read from a connection's input: the built-in
/// connector's field names and authentication types, and each seeded custom connector's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputKeys {
    /// Field holding the account API key (default `user_key`).
    pub user_key: String,
    /// Field holding the auth token (default `access_token`).
    pub access_token: String,
    /// The built-in connector's authentication-type field and values (unpublished: see
    /// docs/emulator.md).
    pub auth_type: AuthTypeKeys,
    /// Custom connectors by provider name (filled from the seed, not from flags).
    pub custom: Vec<CustomKeys>,
}

/// The built-in TrackVia connector's authentication-type field. Workato does not publish it;
/// these defaults follow the convention of its other connectors (docs/decisions.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthTypeKeys {
    /// Field name (default `auth_type`).
    pub field: String,
    /// Value selecting OAuth (default `oauth`).
    pub oauth: String,
    /// Value selecting Auth Token (default `auth_token`).
    pub auth_token: String,
    /// Whether a connection whose input names no type is OAuth. Unknown for the real connector;
    /// default `false` (Auth Token, as the seeds and older clients assume). Set it to see what
    /// an operator that never names the type meets if Workato defaults to OAuth, the only type
    /// its published metadata shows.
    pub default_oauth: bool,
}

/// A custom connector's credential fields (what its code's `connection.fields` declare).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomKeys {
    /// Provider name (the connector's `name`).
    pub provider: String,
    /// Field holding the API key.
    pub user_key: String,
    /// Field holding the auth token.
    pub access_token: String,
}

impl Default for AuthTypeKeys {
    fn default() -> Self {
        Self {
            field: "auth_type".into(),
            oauth: "oauth".into(),
            auth_token: "auth_token".into(),
            default_oauth: false,
        }
    }
}

impl Default for InputKeys {
    fn default() -> Self {
        Self {
            user_key: "user_key".into(),
            access_token: "access_token".into(),
            auth_type: AuthTypeKeys::default(),
            custom: Vec::new(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        let any_loopback_port = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        Self {
            trackvia_addr: any_loopback_port,
            workato_addr: any_loopback_port,
            latency: Duration::ZERO,
            recipe_poll_interval: Duration::from_millis(1000),
            auth_error_stop_threshold: 60,
            trackvia_input_keys: InputKeys::default(),
            workato_retry_after_secs: 1,
            task_limit_stop_cause: "txn_quota_limit".into(),
        }
    }
}

impl Config {
    /// Checks the values that cannot be expressed by the types.
    pub fn validate(&self) -> Result<(), Error> {
        for addr in [self.trackvia_addr, self.workato_addr] {
            if !addr.ip().is_loopback() {
                return Err(Error::NotLoopback(addr));
            }
        }
        let keys = &self.trackvia_input_keys;
        if keys.user_key.is_empty() || keys.access_token.is_empty() || keys.user_key == keys.access_token {
            return Err(Error::Config(
                "the two TrackVia input keys must be distinct and non-empty".into(),
            ));
        }
        if self.task_limit_stop_cause.is_empty() {
            return Err(Error::Config(
                "the task-limit stop cause must not be empty".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn non_loopback_is_refused() {
        let config = Config {
            workato_addr: "0.0.0.0:0".parse().unwrap(),
            ..Config::default()
        };
        assert!(matches!(config.validate(), Err(Error::NotLoopback(_))));
    }
}
