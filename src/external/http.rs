//! The HTTP plumbing both vendor clients share: one reqwest client per process (rustls with the
//! ring provider, timeouts, user agent), `Retry-After` parsing, and transport-error
//! classification that never carries a URL (TrackVia URLs hold credentials in the query).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Timeouts and identity of outgoing requests.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// Time to establish a connection.
    pub connect_timeout: Duration,
    /// Time for a whole request, response body included.
    pub request_timeout: Duration,
}

impl HttpSettings {
    /// Defaults for TrackVia, which publishes no timeout.
    pub fn trackvia() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
        }
    }

    /// Defaults for Workato: its own request timeout is 40 s, so wait a little longer to receive
    /// its answer rather than cut it off.
    pub fn workato() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(45),
        }
    }
}

/// The client for `settings`: one per distinct settings in the process, shared by every account
/// and workspace (a reqwest client is a handle; its connection pool is per host). Building one per
/// account cost each its own TLS configuration and root store, and its own idle connections:
/// with 200 accounts and 200 workspaces, about 100 MiB.
pub fn client(settings: &HttpSettings) -> Result<reqwest::Client, reqwest::Error> {
    type Key = (Duration, Duration);
    static CLIENTS: OnceLock<Mutex<HashMap<Key, reqwest::Client>>> = OnceLock::new();
    let key = (settings.connect_timeout, settings.request_timeout);
    let clients = CLIENTS.get_or_init(Mutex::default);
    // Each critical section is one map operation: a poisoned map is still consistent.
    let lock = || clients.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(c) = lock().get(&key) {
        return Ok(c.clone());
    }
    let built = build(settings)?;
    Ok(lock().entry(key).or_insert(built).clone())
}

/// Builds a client. reqwest is built without a TLS crypto provider of its own; this installs
/// rustls' ring provider (the one kube uses) as the process default, once.
fn build(settings: &HttpSettings) -> Result<reqwest::Client, reqwest::Error> {
    install_crypto_provider();
    reqwest::Client::builder()
        .user_agent(concat!(env!("CARGO_PKG_NAME"), "/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.request_timeout)
        .build()
}

/// Installs rustls' ring provider as the process default unless one is installed already. Every
/// reqwest client needs it (reqwest is built without a provider of its own).
pub fn install_crypto_provider() {
    // Err means a provider is installed already, which is all we need.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// `Retry-After` in seconds or as an HTTP date; capped at an hour.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
            let secs = at.as_second() - jiff::Timestamp::now().as_second();
            Duration::from_secs(u64::try_from(secs).unwrap_or(0))
        }
    };
    Some(wait.min(Duration::from_secs(3600)))
}

/// What went wrong below HTTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportFailure {
    /// No answer within the request timeout.
    Timeout,
    /// The connection could not be established: the request never reached the server.
    Connect,
    /// The connection broke or the response was incomplete: the server may have acted.
    Broken,
}

/// Classifies a reqwest error and describes it without its URL.
pub fn transport_failure(err: reqwest::Error) -> (TransportFailure, String) {
    let kind = if err.is_timeout() {
        TransportFailure::Timeout
    } else if err.is_connect() {
        TransportFailure::Connect
    } else {
        TransportFailure::Broken
    };
    let err = err.without_url();
    let mut message = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    (kind, message)
}

impl TransportFailure {
    /// How errors describe it to people.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Timeout => "timed out",
            Self::Connect => "unreachable",
            Self::Broken => "connection broken",
        }
    }

    /// The outcome label of metrics.
    pub fn label(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Connect => "unreachable",
            Self::Broken => "broken",
        }
    }
}

/// Keeps a server message short enough for an error or a status field.
pub fn trim_message(message: &str, max_chars: usize) -> String {
    let message = message.trim();
    if message.chars().count() <= max_chars {
        return message.to_owned();
    }
    let mut out: String = message.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(RETRY_AFTER, "Mon, 01 Jan 2001 00:00:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn trims_long_messages() {
        assert_eq!(trim_message("  short  ", 10), "short");
        assert_eq!(trim_message("abcdefghijkl", 5), "abcd…");
    }
}
