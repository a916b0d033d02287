//! What the API server accepts: the CRDs install and become Established, every example, the
//! loopback and by-id edge cases; connections and rotations are selectable by their account.

use kube::api::{Api, DynamicObject};
use serde_json::json;

use super::{create, example, kinds, merge, resource_for};

#[tokio::test]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn crds_install_and_become_established() {
    let client = crate::support::client().await;
    crate::support::install_crds(&client).await;
    let api: Api<
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    > = Api::all(client);
    let mut ours = Vec::new();
    for crd in api.list(&Default::default()).await.expect("listing CRDs") {
        if crd.spec.group != trackvia_operator::api::GROUP {
            continue;
        }
        let status = crd.status.as_ref().expect("CRD has status");
        let established = status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Established" && c.status == "True");
        assert!(established, "{} is not Established", crd.spec.names.kind);
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(
            crd.spec.names.categories.as_deref(),
            Some(&["trackvia".to_string()][..])
        );
        assert!(crd.spec.names.short_names.as_ref().is_some_and(|s| !s.is_empty()));
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some()
        );
        ours.push(crd.spec.names.kind.clone());
    }
    ours.sort();
    assert_eq!(
        ours,
        [
            "CredentialRotation",
            "IntegrationAccount",
            "TrackViaAccount",
            "WorkatoConnection",
            "WorkatoWorkspace"
        ]
    );
}

#[tokio::test]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn every_example_is_accepted() {
    let (client, ns) = crate::support::cluster("examples").await;
    for (ar, file) in kinds() {
        let obj = example(file);
        let created = create(&client, &ns, &ar, &obj)
            .await
            .unwrap_or_else(|e| panic!("example {file} rejected: {e}"));
        // Nothing is added server-side: what was applied is what is stored (no GitOps drift).
        assert_eq!(
            created.data["spec"], obj["spec"],
            "{file}: spec changed on the server"
        );
    }
}

#[tokio::test]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn loopback_http_and_connection_by_id_are_accepted() {
    let (client, ns) = crate::support::cluster("edges").await;
    let cases = [
        (
            "TrackViaAccount",
            json!({"spec": {"baseUrl": "http://127.0.0.1:18080"}}),
        ),
        (
            "WorkatoWorkspace",
            json!({"spec": {"baseUrl": "http://localhost:18081"}}),
        ),
        (
            "WorkatoConnection",
            json!({"spec": {"connection": {"name": null, "id": 4711}}}),
        ),
        (
            "IntegrationAccount",
            json!({"spec": {"rotation": null, "access": null, "deletionPolicy": "Orphan"}}),
        ),
    ];
    for (i, (kind, patch)) in cases.iter().enumerate() {
        let (ar, mut obj) = resource_for(kind);
        merge(&mut obj, patch);
        merge(&mut obj, &json!({"metadata": {"name": format!("edge-{i}")}}));
        create(&client, &ns, &ar, &obj)
            .await
            .unwrap_or_else(|e| panic!("{kind} {patch}: {e}"));
    }
}

/// The operator finds an account's connections and rotations by field selector when it must not
/// rely on its caches: the API server must serve exactly those.
#[tokio::test]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn connections_and_rotations_are_selectable_by_their_account() {
    let (client, ns) = crate::support::cluster("select").await;
    for kind in ["WorkatoConnection", "CredentialRotation"] {
        let (ar, example) = resource_for(kind);
        for (name, account) in [("a-1", "a"), ("a-2", "a"), ("b-1", "b")] {
            let mut obj = example.clone();
            merge(
                &mut obj,
                &json!({"metadata": {"name": name}, "spec": {"integrationAccountRef": {"name": account}}}),
            );
            create(&client, &ns, &ar, &obj).await.unwrap();
        }
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ar);
        let selected = api
            .list(&kube::api::ListParams::default().fields("spec.integrationAccountRef.name=a"))
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        let mut names: Vec<String> = selected
            .items
            .iter()
            .filter_map(|o| o.metadata.name.clone())
            .collect();
        names.sort();
        assert_eq!(names, ["a-1", "a-2"], "{kind}");
    }
}
