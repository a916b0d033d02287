//! The admin HTTP server: `/metrics` (Prometheus text), `/healthz` (the process runs) and
//! `/readyz` (this replica can serve: it stands by for the leader Lease, or it leads and its
//! caches have synced). Readiness never waits for leadership: a rolling update waits for the new
//! pod to be Ready before it stops the old leader, which then releases the Lease.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::metrics::Metrics;

/// Serves until the task is aborted. Errors are logged, not fatal: the controllers matter more.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>, ready: Arc<AtomicBool>) {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let ready = ready.clone();
                async move {
                    if ready.load(Ordering::SeqCst) {
                        (StatusCode::OK, "ready")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "starting")
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        axum::body::Body::from_stream(metrics.encode_in_pieces()),
                    )
                        .into_response()
                }
            }),
        );
    match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => {
            tracing::info!(%addr, "admin server listening");
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "admin server stopped");
            }
        }
        Err(e) => tracing::error!(%addr, error = %e, "admin server could not bind"),
    }
}
