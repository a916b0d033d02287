//! Runtime configuration of the emulator (the binary's flags map onto it one to one).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::error::Error;
pub use crate::world::behaviour::{InvalidKeyAnswer, TrackviaBehaviour};

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
    /// TrackVia behaviour the vendor does not document (bad `user_key` answer, how inactive
    /// users are listed, largest user page); changeable at run time.
    pub trackvia_behaviour: TrackviaBehaviour,
}

/// Names of the TrackVia connection input fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputKeys {
    /// Field holding the account API key (default `user_key`).
    pub user_key: String,
    /// Field holding the auth token (default `access_token`).
    pub access_token: String,
}

impl Default for InputKeys {
    fn default() -> Self {
        Self {
            user_key: "user_key".into(),
            access_token: "access_token".into(),
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
            trackvia_behaviour: TrackviaBehaviour::default(),
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
        self.trackvia_behaviour.validate().map_err(Error::Config)?;
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
