//! Assembles each listener's router (vendor routes + middleware + control API) and serves it.
//! The vendor middleware lives here: the call log, the configured latency and fault injection
//! (a canned status with optional `Retry-After` and body, added latency, or a dropped
//! connection, applied to the next `count` matching calls before authentication).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::trackvia::errors::app_error;
use crate::world::Shared;
use crate::world::calls::{Call, Service, Subject};
use crate::world::clock::format_ts;
use crate::world::faults::{FaultApplied, FaultSpec};
use crate::{control, trackvia, workato};

/// State of the vendor middleware: the shared state and which service it wraps.
#[derive(Debug, Clone)]
pub struct VendorCtx {
    /// Shared state.
    pub shared: Arc<Shared>,
    /// The wrapped service.
    pub service: Service,
}

/// The full router of one listener. Vendor calls pass (outermost first) the call log, the
/// configured latency and fault injection; control calls pass none of them.
pub fn app(shared: Arc<Shared>, service: Service) -> Router {
    let vendor = match service {
        Service::Trackvia => trackvia::router(),
        Service::Workato => workato::router(),
    };
    let ctx = VendorCtx {
        shared: Arc::clone(&shared),
        service,
    };
    let vendor = vendor
        .layer(from_fn_with_state(ctx.clone(), inject_fault))
        .layer(from_fn_with_state(ctx.clone(), latency))
        .layer(from_fn_with_state(ctx, log_call));
    control::router().merge(vendor).with_state(shared)
}

/// Middleware logging every vendor call in the call log.
async fn log_call(State(ctx): State<VendorCtx>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let method = parts.method.to_string();
    let template = parts
        .extensions
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(str::to_owned);
    crate::world::ledger::record_request(&parts.uri, &parts.headers);
    let subject = subject_of(&ctx, &mut parts).await;
    let response = next.run(Request::from_parts(parts, body)).await;
    ctx.shared.calls.record(Call {
        seq: 0,
        service: ctx.service,
        route: format!("{method} {}", template.as_deref().unwrap_or(&path)),
        method,
        path,
        query,
        status: response.status().as_u16(),
        at: format_ts(ctx.shared.clock.now()),
        subject,
        fault: response.extensions().get::<FaultApplied>().map(|f| f.0),
    });
    response
}

async fn subject_of(ctx: &VendorCtx, parts: &mut Parts) -> Subject {
    match ctx.service {
        Service::Trackvia => {
            let world = ctx.shared.world();
            Subject::Account(trackvia::auth::account_of_request(&world.trackvia, &parts.uri))
        }
        Service::Workato => {
            let managed = workato::auth::managed_param(parts, &ctx.shared).await;
            let world = ctx.shared.world();
            let scope = workato::auth::resolve(&world.workato, &parts.headers, managed.as_deref());
            Subject::Workspace(scope.ok().map(|s| s.workspace))
        }
    }
}

/// Middleware adding the configured latency to every vendor call.
async fn latency(State(ctx): State<VendorCtx>, request: Request, next: Next) -> Response {
    let delay = ctx.shared.config.latency;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    next.run(request).await
}

/// Middleware applying pending faults to vendor calls.
async fn inject_fault(State(ctx): State<VendorCtx>, request: Request, next: Next) -> Response {
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

/// Serves `app` on `listener` until `shutdown` changes or its sender is dropped.
pub async fn serve(listener: TcpListener, app: Router, mut shutdown: watch::Receiver<bool>) {
    let signal = async move {
        let _ = shutdown.changed().await;
    };
    if let Err(error) = axum::serve(listener, app).with_graceful_shutdown(signal).await {
        tracing::error!(%error, "listener failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_cases_reasons() {
        assert_eq!(camel_case("Service Unavailable"), "serviceUnavailable");
        assert_eq!(camel_case("I'm a teapot"), "iMATeapot");
    }
}
