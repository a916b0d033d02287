//! The operator's Kubernetes client: kube's default stack with one layer that counts every request
//! by verb, so the API-server load of a reconcile is visible (`trackvia_operator_kube_requests`).

use std::sync::Arc;

use kube::Client;
use kube::client::ClientBuilder;
use tower::util::MapRequestLayer;

use crate::metrics::{KubeRequestLabels, Metrics};

/// Builds the client from `config`, counting requests into `metrics`.
pub fn counted(config: kube::Config, metrics: Arc<Metrics>) -> Result<Client, kube::Error> {
    let count = MapRequestLayer::new(move |req: http::Request<kube::client::Body>| {
        let labels = KubeRequestLabels {
            verb: verb(req.method(), req.uri().query()).to_owned(),
        };
        metrics.kube_requests.get_or_create(&labels).inc();
        req
    });
    Ok(ClientBuilder::try_from(config)?.with_layer(&count).build())
}

/// The verb of a request as the API server counts it, coarsely: a GET with `watch=true` is a watch.
fn verb(method: &http::Method, query: Option<&str>) -> &'static str {
    let watch = query.is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    match *method {
        http::Method::GET if watch => "watch",
        http::Method::GET => "get",
        http::Method::POST => "post",
        http::Method::PUT => "put",
        http::Method::PATCH => "patch",
        http::Method::DELETE => "delete",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_are_told_apart_from_reads() {
        assert_eq!(
            verb(&http::Method::GET, Some("watch=true&resourceVersion=5")),
            "watch"
        );
        assert_eq!(verb(&http::Method::GET, Some("limit=500")), "get");
        assert_eq!(verb(&http::Method::GET, None), "get");
        assert_eq!(verb(&http::Method::PATCH, None), "patch");
    }
}
