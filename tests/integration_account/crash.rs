//! A SIGKILL right after the user-create call never creates a second user.

use serde_json::json;
use trackvia_operator::api::IntegrationAccount;

use super::{SANDBOX, SEED, accounts, integration, wait_reason};
use crate::support::evidence::operator_saw;
use crate::support::operator::{Emulators, Operator, eventually};
use crate::support::world::WAIT;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_crash_right_after_the_create_call_never_creates_a_second_user() {
    let (client, ns) = crate::support::cluster("ia-crash").await;
    let emu = Emulators::start(SEED).await;
    accounts(&client, &ns, &emu).await;
    // Slow the create down so the kill lands while the call is in flight or just after it.
    emu.control("faults", json!({"service": "trackvia", "method": "POST", "route": "/openapi/users", "latencyMs": 1500, "count": 1})).await;
    crate::support::create::<IntegrationAccount>(
        &client,
        &ns,
        integration(
            "crash",
            "Crash",
            "crash.integration@acme.example",
            "acme-sandbox",
            &["Accounts"],
        ),
    )
    .await;
    let mut op = Operator::start(&ns);

    let creates = || async {
        emu.calls()
            .await
            .into_iter()
            .filter(|c| c["route"] == "POST /openapi/users")
            .count()
    };
    eventually(WAIT, "the create call", || async {
        (creates().await >= 1).then_some(())
    })
    .await;
    op.kill();
    op.restart();

    let ia = wait_reason(&client, &ns, "crash", "UserVerified", "Unverified").await;
    assert!(ia.status.unwrap().user.unwrap().id.is_some());
    // Evidence that the restarted operator reconciled the account again before counting.
    operator_saw::<IntegrationAccount>(&client, &ns, &op, "crash").await;
    assert_eq!(creates().await, 1, "exactly one create call");
    let state = emu.get("state").await;
    let n = state["trackvia"]["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == SANDBOX)
        .unwrap()["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["email"] == "crash.integration@acme.example")
        .count();
    assert_eq!(n, 1, "exactly one TrackVia user");
}
