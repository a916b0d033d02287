//! The call log: every vendor call (not control calls) with its route template, status and
//! the account or workspace it addressed (recorded by the middleware in `server.rs`).

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::sync::lock;

/// At most this many calls are kept (oldest dropped first).
const MAX_CALLS_KEPT: usize = 10_000;

/// Which emulated service answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    /// The TrackVia API.
    Trackvia,
    /// The Workato API.
    Workato,
}

/// Whom a call addressed: a TrackVia account or a Workato workspace (null if unknown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Subject {
    /// TrackVia account id (from `user_key`).
    Account(Option<u64>),
    /// Workato workspace id (the managed user's under `/api/managed_users/{id}`).
    Workspace(Option<String>),
}

/// One logged vendor call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Call {
    /// Sequence number, from 1, never reused.
    pub seq: u64,
    /// Service.
    pub service: Service,
    /// HTTP method.
    pub method: String,
    /// `METHOD /route/{template}` (the raw path when no route matched).
    pub route: String,
    /// Request path.
    pub path: String,
    /// Raw query string.
    pub query: Option<String>,
    /// Answer status.
    pub status: u16,
    /// Time (RFC 3339, milliseconds).
    pub at: String,
    /// Account or workspace.
    #[serde(flatten)]
    pub subject: Subject,
    /// Injected fault, if any: `status`, `latency` or `drop`.
    pub fault: Option<&'static str>,
}

#[derive(Debug, Default)]
struct Inner {
    next_seq: u64,
    calls: VecDeque<Call>,
}

/// The log (thread-safe).
#[derive(Debug, Default)]
pub struct CallLog {
    inner: Mutex<Inner>,
}

impl CallLog {
    /// Appends a call, assigning its sequence number.
    pub fn record(&self, mut call: Call) {
        let mut inner = lock(&self.inner);
        inner.next_seq += 1;
        call.seq = inner.next_seq;
        inner.calls.push_back(call);
        if inner.calls.len() > MAX_CALLS_KEPT {
            inner.calls.pop_front();
        }
    }

    /// Calls with `seq > since`, oldest first.
    pub fn since(&self, since: u64) -> Vec<Call> {
        lock(&self.inner)
            .calls
            .iter()
            .filter(|c| c.seq > since)
            .cloned()
            .collect()
    }

    /// Forgets every call (sequence numbers keep increasing).
    pub fn clear(&self) -> usize {
        let mut inner = lock(&self.inner);
        let cleared = inner.calls.len();
        inner.calls.clear();
        cleared
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(service: Service, subject: Subject) -> Call {
        Call {
            seq: 0,
            service,
            method: "GET".into(),
            route: "GET /x".into(),
            path: "/x".into(),
            query: None,
            status: 200,
            at: "t".into(),
            subject,
            fault: None,
        }
    }

    #[test]
    fn sequence_numbers_survive_clearing() {
        let log = CallLog::default();
        log.record(call(Service::Trackvia, Subject::Account(Some(1))));
        log.record(call(Service::Workato, Subject::Workspace(None)));
        assert_eq!(log.since(1).len(), 1);
        assert_eq!(log.clear(), 2);
        log.record(call(Service::Trackvia, Subject::Account(None)));
        assert_eq!(log.since(0)[0].seq, 3);
    }

    #[test]
    fn subject_is_flattened() {
        let json = serde_json::to_value(call(Service::Trackvia, Subject::Account(Some(7)))).unwrap();
        assert_eq!(json["account"], 7);
        assert_eq!(json["service"], "trackvia");
        let json = serde_json::to_value(call(Service::Workato, Subject::Workspace(None))).unwrap();
        assert!(json["workspace"].is_null() && json.get("account").is_none());
    }
}
