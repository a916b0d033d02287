//! A lagging cache never lets an IntegrationAccount reconcile overtake a running rotation.

use kube::api::Api;
use serde_json::json;
use trackvia_operator::api::{CredentialRotation, IntegrationAccount, WorkatoConnection};

use super::rotation_of;
use crate::support::internals::reconcile_account_with_caches;
use crate::support::world::{
    OLD, connection_tokens, published_token, regenerate_in_place, rotation, set_up, wait_phase,
};

/// An IntegrationAccount reconcile sees other controllers' objects through their caches, and a
/// cache can lag behind the API server (its watch backing off after an API server restart, or a
/// change arriving through one watch before another). A lagging cache must never let the
/// reconcile overtake a running rotation: neither publish the person's new token itself nor
/// start a second rotation for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_lagging_cache_never_lets_an_account_overtake_a_running_rotation() {
    let (client, ns, emu, mut op) = set_up("lag", 0, None).await;
    rotation(
        &client,
        &ns,
        "regen",
        json!({"strategy": "StopAndRestart", "reason": "suspected leak"}),
    )
    .await;
    wait_phase(&client, &ns, "WaitingForToken").await;
    // The operator stops here; the person regenerates the token in place.
    op.kill();
    let new = regenerate_in_place(&client, &ns, &emu).await;

    let ia = Api::<IntegrationAccount>::namespaced(client.clone(), &ns)
        .get("sf")
        .await
        .unwrap();
    let wcs = Api::<WorkatoConnection>::namespaced(client.clone(), &ns)
        .list(&Default::default())
        .await
        .unwrap()
        .items;
    let mut finished = rotation_of(&client, &ns).await;
    let st = finished.status.as_mut().unwrap();
    st.phase = Some(trackvia_operator::api::credential_rotation::RotationPhase::Succeeded);
    st.outcome = Some(trackvia_operator::api::credential_rotation::RotationOutcome::Succeeded);
    // Three lags: caches that have seen nothing of the kind; a connection cache that is current
    // while the rotation cache has not seen the rotation; a rotation cache that shows it finished
    // (what a reconcile sees when the rotation publishes and finishes between its reads).
    for (connections, rotations) in [
        (Vec::new(), Vec::new()),
        (wcs.clone(), Vec::new()),
        (wcs, vec![finished]),
    ] {
        reconcile_account_with_caches(&client, &ns, &ia, connections, rotations).await;
        let rotations: Vec<String> = Api::<CredentialRotation>::namespaced(client.clone(), &ns)
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .iter()
            .map(|r| r.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(rotations, ["regen"], "no second rotation is started");
        // (Compared, not printed: the values are credentials.)
        assert!(
            published_token(&client, &ns).await == OLD,
            "the running rotation publishes the new token, not the account"
        );
    }

    // The operator comes back and the rotation finishes as usual.
    op.restart();
    wait_phase(&client, &ns, "Succeeded").await;
    assert!(published_token(&client, &ns).await == new);
    assert!(connection_tokens(&emu).await.values().all(|t| *t == new));
}
