//! Overlap while the connections switch: the person replaces the token mid-switch; a rollback
//! that fails is recorded as such.

use serde_json::json;
use trackvia_operator::api::WorkatoConnection;

use super::wait_verified;
use crate::support::operator::eventually;
use crate::support::world::*;

/// A person fixes the token while Overlap switches: every connection ends on the token that is
/// published, none stays RotationPending (I3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_token_replaced_mid_switch_ends_with_every_connection_on_the_published_token() {
    let (client, ns, emu, _op) = set_up("replaced", 300, None).await;
    place_new_token(&client, &ns, &emu).await;
    wait_verified(&client, &ns, 1).await;
    // The person notices a typo in the token's name and creates another one.
    let fixed = place_new_token(&client, &ns, &emu).await;
    let r = wait_rotation(&client, &ns, "the rotation published", |r| {
        matches!(
            phase(r),
            "AwaitingRevocation" | "Succeeded" | "Failed" | "Aborted"
        )
    })
    .await;
    assert_eq!(phase(&r), "AwaitingRevocation", "{}", r["status"]);
    let tokens = connection_tokens(&emu).await;
    assert!(
        [100, 101, 102].iter().all(|id| tokens[id] == fixed),
        "every connection holds the newest token"
    );
    assert!(published_token(&client, &ns).await == fixed);
    for i in 1..=3 {
        eventually(
            WAIT,
            &format!("conn-{i} holds the published credentials"),
            || async {
                let wc = get_json::<WorkatoConnection>(&client, &ns, &format!("conn-{i}")).await?;
                (condition(&wc, "CredentialsCurrent")?.0 == "True").then_some(())
            },
        )
        .await;
    }
}

/// A rollback that fails is recorded as such and names the connection left on the new token (I2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_failed_rollback_is_not_recorded_as_rolled_back() {
    let (client, ns, emu, _op) = set_up("rbfail", 300, None).await;
    emu.control("faults", failed_test(101)).await;
    let new = place_new_token(&client, &ns, &emu).await;
    wait_verified(&client, &ns, 1).await;
    emu.control("faults", json!({"service": "workato", "method": "PUT", "route": "/api/connections/100", "status": 422, "count": 1}))
        .await;
    let r = wait_finished(&client, &ns).await;
    assert_eq!(r["status"]["outcome"], "RollbackFailed", "{}", r["status"]);
    assert_eq!(states(&r, "connections")[0], "RollbackFailed");
    let summary = r["status"]["planSummary"].as_str().unwrap_or_default();
    assert!(summary.contains("conn-1"), "{summary}");
    assert_eq!(
        connection_tokens(&emu).await[&100],
        new,
        "it is where the status says"
    );
}
