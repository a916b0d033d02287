//! The CRDs on a real kube-apiserver: they install, the examples are accepted, every validation
//! rule rejects bad input with its own message, and `kubectl get` shows the printer columns.
//!
//! Run through `make test` (which starts the API server), or after `make cluster-up` with
//! `cargo test -- --include-ignored`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

#[path = "../support/mod.rs"]
mod support;

mod accepted;
mod invalid_objects;
mod printer_columns;

use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, CustomResourceExt};
use serde_json::Value;
use trackvia_operator::api::{
    CredentialRotation, IntegrationAccount, TrackViaAccount, WorkatoConnection, WorkatoWorkspace,
};

/// The five kinds with the example file of each.
fn kinds() -> Vec<(ApiResource, &'static str)> {
    vec![
        (api_resource::<TrackViaAccount>(), "trackviaaccount.yaml"),
        (api_resource::<WorkatoWorkspace>(), "workatoworkspace.yaml"),
        (api_resource::<IntegrationAccount>(), "integrationaccount.yaml"),
        (api_resource::<WorkatoConnection>(), "workatoconnection.yaml"),
        (api_resource::<CredentialRotation>(), "credentialrotation.yaml"),
    ]
}

fn api_resource<K: CustomResourceExt>() -> ApiResource {
    let crd = K::crd();
    let gvk = GroupVersionKind::gvk(&crd.spec.group, &crd.spec.versions[0].name, &crd.spec.names.kind);
    ApiResource::from_gvk_with_plural(&gvk, &crd.spec.names.plural)
}

fn example(file: &str) -> Value {
    let path = support::repo_root().join("examples").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn resource_for(kind: &str) -> (ApiResource, Value) {
    kinds()
        .into_iter()
        .find(|(ar, _)| ar.kind == kind)
        .map(|(ar, file)| (ar, example(file)))
        .unwrap_or_else(|| panic!("unknown kind {kind}"))
}

/// RFC 7386 JSON merge patch, applied locally to build invalid objects from valid examples.
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

async fn create(
    client: &Client,
    ns: &str,
    ar: &ApiResource,
    obj: &Value,
) -> Result<DynamicObject, kube::Error> {
    let obj: DynamicObject = serde_json::from_value(obj.clone()).expect("object deserializes");
    Api::<DynamicObject>::namespaced_with(client.clone(), ns, ar)
        .create(&PostParams::default(), &obj)
        .await
}

fn rejection(result: Result<DynamicObject, kube::Error>, case: &str) -> String {
    match result {
        Ok(_) => panic!("case {case:?}: the API server accepted an invalid object"),
        Err(kube::Error::Api(status)) => {
            assert_eq!(
                status.code, 422,
                "case {case:?}: expected 422 Invalid, got {status:?}"
            );
            status.message
        }
        Err(other) => panic!("case {case:?}: unexpected error {other}"),
    }
}
