//! Shared harness for tests that run against the real kube-apiserver started by
//! `scripts/control-plane.sh` (`make test` starts one; or `make cluster-up` and export KUBECONFIG).
//! Each test works in a namespace of its own.
#![allow(dead_code)] // each test binary uses a part of it

pub mod chaos;
pub mod evidence;
pub mod internals;
pub mod operator;
pub mod partition;
pub mod sandbox;
pub mod world;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, Config};

/// The API version of every kind of the operator.
pub const API: &str = "integrations.trackvia-operator.dev/v1alpha1";

/// The five kinds, as the operator's metrics labels and the Argo CD health checks name them.
pub const KINDS: [&str; 5] = [
    "TrackViaAccount",
    "WorkatoWorkspace",
    "IntegrationAccount",
    "WorkatoConnection",
    "CredentialRotation",
];

/// The test's kubeconfig (`KUBECONFIG`).
pub fn kubeconfig() -> serde_json::Value {
    let path = std::env::var("KUBECONFIG").expect("KUBECONFIG");
    serde_saphyr::from_str(&std::fs::read_to_string(&path).expect("reading KUBECONFIG"))
        .expect("parsing KUBECONFIG")
}

/// A copy of the test's kubeconfig changed by `edit`, for an operator started with it, written as
/// `kubeconfig-<name>` under `target/test-kubeconfigs`: not among the logs the secret scan reads,
/// since it holds the test cluster's client key.
pub fn kubeconfig_copy(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let dir = repo_root().join("target/test-kubeconfigs");
    std::fs::create_dir_all(&dir).expect("creating target/test-kubeconfigs");
    let mut kc = kubeconfig();
    edit(&mut kc);
    let out = dir.join(format!("kubeconfig-{name}"));
    std::fs::write(&out, serde_json::to_string(&kc).expect("a kubeconfig is JSON"))
        .expect("writing a kubeconfig");
    out
}

/// A client for the test API server named by `KUBECONFIG`. Fails with instructions when there is none.
pub async fn client() -> Client {
    assert!(
        std::env::var_os("KUBECONFIG").is_some(),
        "this test needs a kube-apiserver: run `make test`, or `make cluster-up` and export the KUBECONFIG it prints"
    );
    let mut config = Config::infer().await.expect("reading KUBECONFIG");
    config.read_timeout = Some(Duration::from_secs(30));
    Client::try_from(config).expect("building a client from KUBECONFIG")
}

/// Installs (server-side apply) every CRD generated from the Rust types and waits until each is
/// Established.
pub async fn install_crds(client: &Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let pp = PatchParams::apply("trackvia-operator-tests").force();
    for crd in trackvia_operator::api::crds() {
        let name = crd.metadata.name.clone().expect("CRD has a name");
        api.patch(&name, &pp, &Patch::Apply(&crd))
            .await
            .expect("applying CRD");
        tokio::time::timeout(
            Duration::from_secs(30),
            await_condition(api.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .expect("CRD established within 30s")
        .expect("watching CRD");
    }
}

/// A client, the CRDs installed, and a fresh namespace named after `prefix`: how every test on
/// the API server starts.
pub async fn cluster(prefix: &str) -> (Client, String) {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, prefix).await;
    (client, ns)
}

/// Whether conditions hold `Ready=True`.
pub fn is_ready(conds: &[trackvia_operator::api::Condition]) -> bool {
    conds.iter().any(|c| c.type_ == "Ready" && c.status == "True")
}

/// Creates a fresh namespace named after the test.
pub async fn namespace(client: &Client, prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let name = format!(
        "{prefix}-{:x}{:x}-{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("creating test namespace");
    name
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The kubectl to use: `$KUBECTL`, else the pinned one in `.cache/bin`, else `kubectl` on PATH.
pub fn kubectl() -> PathBuf {
    if let Some(k) = std::env::var_os("KUBECTL") {
        return PathBuf::from(k);
    }
    let cached = repo_root().join(".cache/bin/kubectl");
    if cached.exists() {
        cached
    } else {
        PathBuf::from("kubectl")
    }
}

/// A Secret with string data and annotations.
pub fn secret(
    name: &str,
    data: &[(&str, &str)],
    annotations: &[(&str, &str)],
) -> k8s_openapi::api::core::v1::Secret {
    k8s_openapi::api::core::v1::Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            annotations: Some(
                annotations
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| ((*k).to_owned(), k8s_openapi::ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Default::default()
    }
}

/// Creates Secret `name` with string `data` in `ns`.
pub async fn create_secret(client: &Client, ns: &str, name: &str, data: &[(&str, &str)]) {
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &secret(name, data, &[]))
        .await
        .expect("creating a Secret");
}

/// Creates a namespaced object from JSON.
pub async fn create<K>(client: &Client, ns: &str, obj: serde_json::Value)
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let obj: K = serde_json::from_value(obj).expect("object");
    Api::<K>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &obj)
        .await
        .expect("create");
}
