//! Overlap: the person places a second token, every connection switches without a recipe stop;
//! a failed test rolls every switched connection back.

use kube::api::Api;
use trackvia_operator::api::IntegrationAccount;

use super::{rot_condition, wait_phase_of};
use crate::support::is_ready;
use crate::support::operator::eventually;
use crate::support::world::{
    OLD, WAIT, connection_tokens, failed_test, place_new_token, published_token, recipe_calls, revoke_old,
    running, set_up,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn overlap_rotation_switches_every_connection_without_stopping_a_recipe() {
    let (client, ns, emu, _op) = set_up("overlap", 0, None).await;
    let before = running(&emu).await;
    emu.reset_calls().await;

    // The person creates a second token (the first stays active) and puts it in the Secret.
    let new = place_new_token(&client, &ns, &emu).await;

    let rot = wait_phase_of(&client, &ns, "AwaitingRevocation").await;
    let st = rot.status.clone().unwrap();
    assert_eq!(
        st.strategy,
        Some(trackvia_operator::api::integration_account::RotationStrategy::Overlap)
    );
    assert!(
        st.connections.iter().all(|c| c.state.as_str() == "Verified"),
        "{:?}",
        st.connections
    );
    assert!(st.revocation_deadline.is_some() && st.old_token_fingerprint.is_some());
    assert!(connection_tokens(&emu).await.values().all(|t| *t == new));
    assert_eq!(published_token(&client, &ns).await, new);
    assert!(
        recipe_calls(&emu, "stop").await.is_empty() && recipe_calls(&emu, "start").await.is_empty(),
        "no recipe stops"
    );
    assert_eq!(running(&emu).await, before);

    // The person deactivates the old token: the rotation confirms it and succeeds.
    revoke_old(&emu).await;
    let done = wait_phase_of(&client, &ns, "Succeeded").await;
    assert!(done.status.unwrap().old_token_revoked_time.is_some());
    // Everything is Ready again, on the new token.
    let ia = Api::<IntegrationAccount>::namespaced(client.clone(), &ns);
    eventually(
        WAIT,
        "the IntegrationAccount Ready with the rotation recorded",
        || async {
            let i = ia.get("sf").await.ok()?;
            let st = i.status?;
            // The status records what the Secret the rotation published holds.
            let published = st.credentials_secret.as_ref()?.token_fingerprint.clone();
            (is_ready(&st.common.conditions)
                && st.rotation.as_ref()?.last_rotation_time.is_some()
                && st.rotation?.active.is_none()
                && published == st.token?.fingerprint)
                .then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_failed_test_rolls_every_switched_connection_back() {
    let (client, ns, emu, _op) = set_up("rollback", 0, None).await;
    // Workato's test of the second connection will fail once.
    emu.control("faults", failed_test(101)).await;
    place_new_token(&client, &ns, &emu).await;

    let rot = wait_phase_of(&client, &ns, "Failed").await;
    let st = rot.status.unwrap();
    assert_eq!(st.outcome.map(|o| o.as_str()), Some("RolledBack"));
    let states: Vec<&str> = st.connections.iter().map(|c| c.state.as_str()).collect();
    assert_eq!(
        states,
        ["RolledBack", "RolledBack", "Pending"],
        "conn-1 switched then back, conn-2 failed, conn-3 untouched"
    );
    assert!(
        st.connections[1]
            .error
            .as_deref()
            .unwrap()
            .contains("Workato's test failed")
    );
    // Nothing left broken: every connection is on the old token, which is still published.
    assert!(connection_tokens(&emu).await.values().all(|t| t == OLD));
    assert_eq!(published_token(&client, &ns).await, OLD);
    let ready_reason = rot_condition(&client, &ns, "Ready").await;
    assert_eq!(ready_reason, ("False".to_owned(), "RolledBack".to_owned()));
}
