//! Errors returned by the library API (starting the emulator, loading a seed), and the errors
//! of state changes.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The seed could not be read, parsed or is inconsistent.
    #[error(transparent)]
    Seed(#[from] SeedError),
    /// A listen address is not a loopback address.
    #[error("refusing to listen on {0}: only loopback addresses are accepted")]
    NotLoopback(SocketAddr),
    /// A configuration value is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Binding a listener failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// The underlying I/O error.
        source: std::io::Error,
    },
}

/// Why a seed could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The seed file could not be read.
    #[error("cannot read seed file {path}: {source}")]
    Read {
        /// The file that was read.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The seed is not valid YAML for the seed format.
    #[error("invalid YAML seed: {0}")]
    Yaml(#[from] serde_saphyr::Error),
    /// The seed is not valid JSON for the seed format.
    #[error("invalid JSON seed: {0}")]
    Json(#[from] serde_json::Error),
    /// The seed parses but is inconsistent (duplicate ids, unknown references, ...).
    #[error("inconsistent seed: {0}")]
    Invalid(String),
}

/// Errors of state changes, mapped to HTTP answers by the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The addressed object does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The change conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// The request is malformed.
    #[error("{0}")]
    Invalid(String),
}
