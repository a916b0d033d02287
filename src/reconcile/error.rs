//! Errors of the reconcilers, each saying whether trying again soon can help.

use std::time::Duration;

use crate::external::Classify;
use crate::trackvia::TrackviaError;
use crate::workato::WorkatoError;

/// A reconcile that could not finish. Problems a person must fix are not errors: they are
/// conditions, and the reconcile succeeds in reporting them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Kubernetes API failed.
    #[error("Kubernetes API, {op}: {source}")]
    Kube {
        /// What was being done.
        op: &'static str,
        /// What failed.
        #[source]
        source: kube::Error,
    },
    /// TrackVia failed in a way that may pass.
    #[error(transparent)]
    Trackvia(#[from] TrackviaError),
    /// Workato failed in a way that may pass.
    #[error(transparent)]
    Workato(#[from] WorkatoError),
    /// An HTTP client could not be built.
    #[error("building an HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
    /// The object lacks something the API server always sets (namespace, uid).
    #[error("object has no {0}")]
    Malformed(&'static str),
}

impl Error {
    /// The Kubernetes API server did not answer, or answered "not now" (5xx, 429): worth waiting
    /// for (it is starting or restarting), unlike an answer that says no (403, 404, ...).
    pub fn is_api_server_away(&self) -> bool {
        matches!(self, Self::Kube { source, .. }
            if !matches!(source, kube::Error::Api(s) if s.code < 500 && s.code != 429))
    }

    /// Wraps a Kubernetes error with what was being done.
    pub fn kube(op: &'static str) -> impl FnOnce(kube::Error) -> Error {
        move |source| Error::Kube { op, source }
    }

    /// A stable label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Kube { .. } => "Kube",
            Self::Trackvia(e) => e.label(),
            Self::Workato(e) => e.label(),
            Self::HttpClient(_) => "HttpClient",
            Self::Malformed(_) => "Malformed",
        }
    }

    /// When to try again.
    pub fn requeue_after(&self) -> Duration {
        let server_hint = match self {
            Self::Trackvia(e) => e.retry_after(),
            Self::Workato(e) => e.retry_after(),
            _ => None,
        };
        match (server_hint, self) {
            (Some(d), _) => d.max(Duration::from_secs(1)),
            (None, Self::Malformed(_) | Self::HttpClient(_)) => Duration::from_secs(300),
            (None, _) => Duration::from_secs(15),
        }
    }
}
