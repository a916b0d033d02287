//! The force-recheck annotation (`integrations.trackvia-operator.dev/recheck`, issue 15): a
//! person who just did a step in a vendor's UI annotates the object, and its periodic checks run
//! now instead of at their next interval. The operator runs with long intervals, so without the
//! annotation each test would time out. The operator binary on the real API server against both
//! emulators; run through `make test`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[path = "../support/mod.rs"]
mod support;

mod credential_rotation;
mod integration_account;
mod trackvia_account;
mod workato_connection;
mod workato_workspace;

use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use serde_json::json;
use trackvia_operator::api::common::RECHECK_ANNOTATION;

/// How long a test watches that nothing happens without the annotation (the intervals are 10m).
const QUIET: Duration = Duration::from_secs(4);

/// What a person (or `kubectl trackvia recheck`) does: sets the annotation to a new value.
async fn annotate<K>(client: &Client, ns: &str, name: &str, value: &str)
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let patch = json!({"metadata": {"annotations": {RECHECK_ANNOTATION: value}}});
    Api::<K>::namespaced(client.clone(), ns)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}
