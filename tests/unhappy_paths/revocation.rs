//! The old token's revocation: a missing old-token Secret is not one, a foreign Secret at its name
//! is never deleted, an unrevoked old token is a warning, not a blocker.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use trackvia_operator::api::{CredentialRotation, IntegrationAccount};

use crate::support::operator::eventually;
use crate::support::world::*;

/// The rotation's old-token Secret disappears: that is not a revocation (I5); after the grace
/// period the rotation ends, saying the revocation cannot be confirmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_missing_old_token_secret_is_not_a_revocation() {
    let (client, ns, emu, _op) = set_up(
        "oldgone",
        0,
        Some(json!({"newTokenTimeout": "1h", "revocationGracePeriod": "20s"})),
    )
    .await;
    place_new_token(&client, &ns, &emu).await;
    let r = wait_phase(&client, &ns, "AwaitingRevocation").await;
    let kept = r["status"]["oldTokenSecret"].as_str().unwrap().to_owned();
    Api::<Secret>::namespaced(client.clone(), &ns)
        .delete(&kept, &DeleteParams::default())
        .await
        .unwrap();
    let r = wait_finished(&client, &ns).await;
    assert!(r["status"]["oldTokenRevokedTime"].is_null(), "{}", r["status"]);
    assert_ne!(condition(&r, "OldTokenRevoked").unwrap().0, "True");
}

/// Secrets at the old-token names that are not the rotation's are neither adopted nor deleted (I8).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_foreign_secret_where_the_old_token_goes_is_never_deleted() {
    let (client, ns, emu, _op) = set_up("foreign", 0, None).await;
    rotation(&client, &ns, "manual", json!({"strategy": "Overlap"})).await;
    let r = eventually(WAIT, "manual waits for a token", || async {
        let r = get_json::<CredentialRotation>(&client, &ns, "manual").await?;
        (phase(&r) == "WaitingForToken").then_some(r)
    })
    .await;
    let uid: String = r["metadata"]["uid"].as_str().unwrap().chars().take(8).collect();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let names = ["manual-old-token".to_owned(), format!("manual-old-token-{uid}")];
    for n in &names {
        secrets
            .create(
                &PostParams::default(),
                &crate::support::secret(n, &[("token", "someone-elses")], &[]),
            )
            .await
            .unwrap();
    }
    place_new_token(&client, &ns, &emu).await;
    wait_rotation(&client, &ns, "manual published", |r| {
        r["metadata"]["name"] == "manual" && matches!(phase(r), "AwaitingRevocation" | "Succeeded")
    })
    .await;
    revoke_old(&emu).await;
    let r = eventually(WAIT, "manual finished", || async {
        let r = get_json::<CredentialRotation>(&client, &ns, "manual").await?;
        (phase(&r) == "Succeeded").then_some(r)
    })
    .await;
    for n in &names {
        let s = secrets
            .get_opt(n)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{n} was deleted"));
        assert_eq!(s.data.unwrap()["token"].0, b"someone-elses", "{n} untouched");
    }
    let _ = r;
}

/// AwaitingRevocation ends after the grace period: the rotation succeeds and the account warns
/// that the old token is still active, without becoming unready or blocking the next rotation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn an_unrevoked_old_token_is_a_warning_not_a_blocker() {
    let (client, ns, emu, _op) = set_up(
        "grace",
        0,
        Some(json!({"newTokenTimeout": "1h", "revocationGracePeriod": "10s"})),
    )
    .await;
    place_new_token(&client, &ns, &emu).await;
    let r = wait_finished(&client, &ns).await;
    assert_eq!(phase(&r), "Succeeded", "{}", r["status"]);
    assert_eq!(condition(&r, "OldTokenRevoked").unwrap().1, "RevocationOverdue");
    let ia = wait_condition::<IntegrationAccount>(&client, &ns, "sf", "OldTokenRevoked", |c| {
        c.1 == "OldTokenStillActive"
    })
    .await;
    assert_eq!(
        condition(&ia, "Ready").unwrap().0,
        "True",
        "a finding, not a blocker"
    );
    // The next rotation is not held up.
    let first = r["metadata"]["name"].as_str().unwrap().to_owned();
    let newest = place_new_token(&client, &ns, &emu).await;
    wait_rotation(&client, &ns, "a second rotation succeeded", |r| {
        r["metadata"]["name"] != first.as_str() && phase(r) == "Succeeded"
    })
    .await;
    assert!(published_token(&client, &ns).await == newest);
}
