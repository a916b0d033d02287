//! The pending fault injections for vendor calls: a canned status (with optional `Retry-After`
//! and body), added latency (a client timeout), or a dropped connection. Faults apply to the
//! next `count` matching calls, before authentication (the middleware is in `server.rs`).

use std::sync::Mutex;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::calls::Service;
use super::sync::lock;
use super::workato_limits::strip_managed_prefix;

/// A fault as posted to `/_emulator/faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultSpec {
    /// `trackvia`, `workato` or `*`.
    #[serde(default = "any")]
    pub service: String,
    /// HTTP method or `*`.
    #[serde(default = "any")]
    pub method: String,
    /// Route template as in the call log (e.g. `/api/connections/{id}`), a concrete path, or `*`.
    #[serde(default = "any")]
    pub route: String,
    /// Status to answer with.
    #[serde(default)]
    pub status: Option<u16>,
    /// How many matching calls the fault applies to (default 1).
    #[serde(default = "one")]
    pub count: u32,
    /// `Retry-After` seconds sent with the status.
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
    /// Body sent with the status (default: the vendor's error shape).
    #[serde(default)]
    pub body: Option<Value>,
    /// Delay before answering (a client-side timeout when long enough).
    #[serde(default)]
    pub latency_ms: Option<u64>,
    /// Close the connection without a complete answer.
    #[serde(default)]
    pub drop: bool,
}

/// A pending fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    /// Id (for `DELETE /_emulator/faults/{id}`).
    pub id: u64,
    /// Matching calls still to be hit.
    pub remaining: u32,
    /// The fault.
    #[serde(flatten)]
    pub spec: FaultSpec,
}

/// Marks a response produced or delayed by a fault (read by the call log).
#[derive(Debug, Clone, Copy)]
pub struct FaultApplied(pub &'static str);

fn any() -> String {
    "*".into()
}

fn one() -> u32 {
    1
}

impl FaultSpec {
    /// Checks the fault makes sense.
    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.service.as_str(), "trackvia" | "workato" | "*") {
            return Err(format!(
                "unknown service {:?} (trackvia, workato or *)",
                self.service
            ));
        }
        if self.status.is_none() && self.latency_ms.is_none() && !self.drop {
            return Err("a fault needs status, latencyMs or drop".into());
        }
        if let Some(status) = self.status
            && StatusCode::from_u16(status).is_err()
        {
            return Err(format!("invalid status {status}"));
        }
        if self.count == 0 {
            return Err("count must be at least 1".into());
        }
        Ok(())
    }

    fn matches(&self, service: Service, method: &str, template: Option<&str>, path: &str) -> bool {
        let service_name = match service {
            Service::Trackvia => "trackvia",
            Service::Workato => "workato",
        };
        let route_matches = self.route == "*"
            || self.route == path
            || template.is_some_and(|t| self.route == t || self.route == strip_managed_prefix(t));
        (self.service == "*" || self.service == service_name)
            && (self.method == "*" || self.method.eq_ignore_ascii_case(method))
            && route_matches
    }
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    faults: Vec<Fault>,
}

/// The pending faults (thread-safe).
#[derive(Debug, Default)]
pub struct Faults {
    inner: Mutex<Inner>,
}

impl Faults {
    /// Adds a fault after validating it.
    pub fn add(&self, spec: FaultSpec) -> Result<Fault, String> {
        spec.validate()?;
        let mut inner = lock(&self.inner);
        inner.next_id += 1;
        let fault = Fault {
            id: inner.next_id,
            remaining: spec.count,
            spec,
        };
        inner.faults.push(fault.clone());
        Ok(fault)
    }

    /// The pending faults.
    pub fn list(&self) -> Vec<Fault> {
        lock(&self.inner).faults.clone()
    }

    /// Removes every fault; returns how many there were.
    pub fn clear(&self) -> usize {
        let mut inner = lock(&self.inner);
        std::mem::take(&mut inner.faults).len()
    }

    /// Removes one fault; false if unknown.
    pub fn remove(&self, id: u64) -> bool {
        let mut inner = lock(&self.inner);
        let before = inner.faults.len();
        inner.faults.retain(|f| f.id != id);
        inner.faults.len() != before
    }

    /// Consumes one use of the first fault matching the call.
    pub fn take(
        &self,
        service: Service,
        method: &str,
        template: Option<&str>,
        path: &str,
    ) -> Option<FaultSpec> {
        let mut inner = lock(&self.inner);
        let index = inner
            .faults
            .iter()
            .position(|f| f.spec.matches(service, method, template, path))?;
        let fault = inner.faults.get_mut(index)?;
        fault.remaining = fault.remaining.saturating_sub(1);
        let spec = fault.spec.clone();
        if fault.remaining == 0 {
            inner.faults.remove(index);
        }
        Some(spec)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(route: &str) -> FaultSpec {
        serde_json::from_value(
            json!({"service": "workato", "method": "PUT", "route": route, "status": 503, "count": 2}),
        )
        .unwrap()
    }

    #[test]
    fn matches_templates_paths_and_managed_variants() {
        let s = spec("/api/connections/{id}");
        assert!(s.matches(
            Service::Workato,
            "put",
            Some("/api/connections/{id}"),
            "/api/connections/7"
        ));
        assert!(s.matches(
            Service::Workato,
            "PUT",
            Some("/api/managed_users/{managed_user}/connections/{id}"),
            "/api/managed_users/1/connections/7"
        ));
        assert!(!s.matches(
            Service::Trackvia,
            "PUT",
            Some("/api/connections/{id}"),
            "/api/connections/7"
        ));
        assert!(!s.matches(
            Service::Workato,
            "GET",
            Some("/api/connections/{id}"),
            "/api/connections/7"
        ));
        assert!(spec("/api/connections/7").matches(Service::Workato, "PUT", None, "/api/connections/7"));
    }

    #[test]
    fn count_is_consumed() {
        let faults = Faults::default();
        faults.add(spec("*")).unwrap();
        assert!(faults.take(Service::Workato, "PUT", None, "/x").is_some());
        assert_eq!(faults.list()[0].remaining, 1);
        assert!(faults.take(Service::Workato, "PUT", None, "/x").is_some());
        assert!(faults.take(Service::Workato, "PUT", None, "/x").is_none());
    }

    #[test]
    fn validation() {
        let mut s = spec("*");
        s.status = None;
        assert!(s.validate().is_err());
        s.drop = true;
        assert!(s.validate().is_ok());
        s.service = "other".into();
        assert!(s.validate().is_err());
    }
}
