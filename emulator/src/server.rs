//! Assembles each listener's router (vendor routes + middleware + control API) and serves it.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::calls::{self, Service};
use crate::shared::Shared;
use crate::{control, faults, trackvia, workato};

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
        .layer(from_fn_with_state(ctx.clone(), faults::middleware))
        .layer(from_fn_with_state(ctx.clone(), latency))
        .layer(from_fn_with_state(ctx, calls::middleware));
    control::router().merge(vendor).with_state(shared)
}

async fn latency(State(ctx): State<VendorCtx>, request: Request, next: Next) -> Response {
    let delay = ctx.shared.config.latency;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    next.run(request).await
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
