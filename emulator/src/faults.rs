//! Fault injection for vendor calls: a canned status (with optional `Retry-After` and body),
//! added latency (a client timeout), or a dropped connection. Faults apply to the next
//! `count` matching calls, before authentication.

use std::sync::Mutex;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::calls::Service;
use crate::server::VendorCtx;
use crate::sync::lock;
use crate::trackvia::errors::app_error;
use crate::workato::ratelimit::strip_managed_prefix;

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
    fn take(&self, service: Service, method: &str, template: Option<&str>, path: &str) -> Option<FaultSpec> {
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

/// Middleware applying pending faults to vendor calls.
pub async fn middleware(State(ctx): State<VendorCtx>, request: Request, next: Next) -> Response {
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let Some(fault) = ctx
        .shared
        .faults
        .take(ctx.service, &method, template.as_deref(), &path)
    else {
        return next.run(request).await;
    };
    if let Some(ms) = fault.latency_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let (mut response, kind) = if fault.drop {
        (dropped_response(), "drop")
    } else if let Some(status) = fault.status {
        (status_response(ctx.service, status, &fault), "status")
    } else {
        (next.run(request).await, "latency")
    };
    response.extensions_mut().insert(FaultApplied(kind));
    response
}

/// Headers, then a body that fails: the client sees an incomplete answer.
fn dropped_response() -> Response {
    let chunks: [Result<Bytes, std::io::Error>; 2] = [
        Ok(Bytes::from_static(b"{\"")),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "injected fault: connection dropped",
        )),
    ];
    let mut response = Response::new(Body::from_stream(futures::stream::iter(chunks)));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn status_response(service: Service, status: u16, fault: &FaultSpec) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let reason = status.canonical_reason().unwrap_or("Error");
    let body = fault.body.clone().unwrap_or_else(|| match service {
        Service::Trackvia => app_error(status, &camel_case(reason), reason),
        Service::Workato => json!({ "message": reason }),
    });
    let mut response = (status, Json(body)).into_response();
    if let Some(secs) = fault.retry_after_secs
        && let Ok(value) = HeaderValue::from_str(&secs.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// `Service Unavailable` -> `serviceUnavailable`.
fn camel_case(text: &str) -> String {
    let mut out = String::new();
    for (index, word) in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .enumerate()
    {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            if index == 0 {
                out.extend(first.to_lowercase());
            } else {
                out.extend(first.to_uppercase());
            }
            out.extend(chars.flat_map(char::to_lowercase));
        }
    }
    out
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn camel_cases_reasons() {
        assert_eq!(camel_case("Service Unavailable"), "serviceUnavailable");
        assert_eq!(camel_case("I'm a teapot"), "iMATeapot");
    }
}
