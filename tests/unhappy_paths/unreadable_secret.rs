//! The API server refuses to read the token Secret for a while mid-switch (the operator runs
//! under RBAC of its own, impersonated, and loses the right to read that Secret).

use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

use std::time::Duration;

use super::wait_verified;
use crate::support::operator::Operator;
use crate::support::world::*;

async fn apply_rbac(client: &Client, ns: &str, user: &str) {
    let roles: Api<Role> = Api::namespaced(client.clone(), ns);
    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "tvo"},
        "rules": [
            {"apiGroups": ["integrations.trackvia-operator.dev"], "resources": ["*"], "verbs": ["*"]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list", "watch", "create", "patch", "update", "delete"]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"],
             "resourceNames": ["tv-admin", "wk-dev", "wk-prod", "sf-credentials", "trackvia-operator-fingerprint-key"]},
            {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch", "update"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["*"]}
        ]
    }))
    .unwrap();
    roles.create(&PostParams::default(), &role).await.unwrap();
    let token_role: Role = serde_json::from_value(json!({
        "metadata": {"name": "tvo-token"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["sf-token"]}]
    }))
    .unwrap();
    roles.create(&PostParams::default(), &token_role).await.unwrap();
    bind(client, ns, "tvo", user).await;
    bind(client, ns, "tvo-token", user).await;
}

async fn bind(client: &Client, ns: &str, role: &str, user: &str) {
    let b: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": role},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &b)
        .await
        .unwrap();
}

/// The API server refuses to read the token Secret for a while mid-switch (longer than
/// `newTokenTimeout`): a failed read is not a missing Secret, so the rotation waits and then
/// finishes the switch instead of giving up with connections on the new token (I5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_failed_read_of_the_token_secret_is_not_taken_as_a_missing_one() {
    let (client, ns, emu) = emulated("unreadable", 300).await;
    let user = format!("tvo-{ns}");
    apply_rbac(&client, &ns, &user).await;
    // The same API server, impersonating `user`.
    let kubeconfig = crate::support::kubeconfig_copy(&user, |kc| {
        for u in kc["users"].as_array_mut().unwrap() {
            u["user"]["as"] = json!(user);
        }
    });
    let _op = Operator::start_with_env(
        &ns,
        &format!("{ns}-operator"),
        &[("KUBECONFIG", kubeconfig.to_str().unwrap())],
    );
    setup_with(
        &client,
        &ns,
        &emu,
        json!({"newTokenTimeout": "5s", "revocationGracePeriod": "1h"}),
    )
    .await;
    let new = place_new_token(&client, &ns, &emu).await;
    wait_verified(&client, &ns, 1).await;
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &ns);
    bindings
        .delete("tvo-token", &DeleteParams::default())
        .await
        .unwrap();
    // Time is the point here: unreadable for longer than newTokenTimeout (5 s).
    tokio::time::sleep(Duration::from_secs(12)).await;
    bind(&client, &ns, "tvo-token", &user).await;
    let r = wait_rotation(&client, &ns, "the rotation published", |r| {
        matches!(
            phase(r),
            "AwaitingRevocation" | "Succeeded" | "Failed" | "Aborted"
        )
    })
    .await;
    assert_eq!(phase(&r), "AwaitingRevocation", "{}", r["status"]);
    assert!(connection_tokens(&emu).await.values().all(|t| *t == new));
    assert!(published_token(&client, &ns).await == new);
}
