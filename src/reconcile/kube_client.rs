//! The operator's Kubernetes client: kube's default stack with one layer that counts every request
//! by verb and resource, so the API-server load of a reconcile is visible, and which kind of
//! request it is (`trackvia_operator_kube_requests`).

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
            resource: resource(req.uri().path()),
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

/// The resource (and subresource) a request path names, never an object's name or namespace:
/// `/api/v1/namespaces/{ns}/{resource}[/{name}[/{sub}]]`, `/apis/{group}/{version}/...` alike, and
/// the cluster-scoped `/api/v1/{resource}[/{name}[/{sub}]]`.
fn resource(path: &str) -> String {
    let mut parts = path.trim_matches('/').split('/');
    let rest: Vec<&str> = match parts.next() {
        Some("api") => parts.skip(1).collect(),
        Some("apis") => parts.skip(2).collect(),
        _ => return "other".to_owned(),
    };
    let scoped = match rest.as_slice() {
        // A namespace itself: `namespaces` or `namespaces/{name}[/{sub}]`.
        ["namespaces"] | ["namespaces", _] => return "namespaces".to_owned(),
        ["namespaces", _, scoped @ ..] => scoped,
        cluster => cluster,
    };
    match scoped {
        [resource] | [resource, _] => (*resource).to_owned(),
        [resource, _, sub, ..] => format!("{resource}/{sub}"),
        [] => "other".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resource_is_named_never_the_object() {
        for (path, want) in [
            ("/api/v1/namespaces/ns/secrets/sf-token", "secrets"),
            ("/api/v1/namespaces/ns/secrets", "secrets"),
            ("/api/v1/namespaces/ns", "namespaces"),
            ("/api/v1/namespaces", "namespaces"),
            ("/api/v1/nodes/n1", "nodes"),
            ("/apis/events.k8s.io/v1/namespaces/ns/events", "events"),
            (
                "/apis/integrations.trackvia-operator.dev/v1alpha1/namespaces/ns/integrationaccounts/sf/status",
                "integrationaccounts/status",
            ),
            (
                "/apis/integrations.trackvia-operator.dev/v1alpha1/integrationaccounts",
                "integrationaccounts",
            ),
            ("/apis/coordination.k8s.io/v1/namespaces/ns/leases/op", "leases"),
            ("/version", "other"),
            (
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                "selfsubjectaccessreviews",
            ),
        ] {
            assert_eq!(resource(path), want, "{path}");
        }
    }

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
