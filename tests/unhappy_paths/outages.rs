//! TrackVia failing: a refused user creation and an outage during a rotation are reported and
//! retried after a backoff, not in a loop of calls.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use trackvia_operator::api::{IntegrationAccount, TrackViaAccount};

use std::time::{Duration, Instant};

use crate::support::evidence::*;
use crate::support::operator::{Emulators, Operator, eventually};
use crate::support::world::*;
use crate::support::{self, sandbox};

/// TrackVia refuses to create the user (403, then 400 with no such user found): the account
/// says so and calls again only after a backoff, whatever wakes it up (I10).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_refused_user_creation_is_reported_and_not_repeated_in_a_loop() {
    let (client, ns) = support::cluster("usercreate").await;
    let emu = Emulators::start(sandbox::SEED).await;
    let op = Operator::start(&ns);
    sandbox::admin_secret(&client, &ns).await;
    sandbox::account(&client, &ns, &emu, "acme").await;
    wait_ready::<TrackViaAccount>(&client, &ns, "acme").await;
    for (system, status) in [("HubSpot", 403), ("Zendesk", 400)] {
        emu.reset_calls().await;
        emu.control("faults", json!({"service": "trackvia", "method": "POST", "route": "/openapi/users", "status": status, "count": 1000}))
            .await;
        let name = system.to_ascii_lowercase();
        support::create::<IntegrationAccount>(&client, &ns, json!({
            "apiVersion": support::API, "kind": "IntegrationAccount", "metadata": {"name": name},
            "spec": {"accountRef": {"name": "acme"}, "system": system, "email": format!("{name}.integration@acme.example"),
                     "tokenSecretRef": {"name": format!("{name}-token"), "key": "token"}, "credentialsSecret": {"name": format!("{name}-credentials")}}
        }))
        .await;
        let (_, _, message) = eventually(WAIT, &format!("{system}: UserCreateFailed"), || async {
            let ia = get_json::<IntegrationAccount>(&client, &ns, &name).await?;
            condition(&ia, "UserVerified").filter(|c| c.1 == "UserCreateFailed")
        })
        .await;
        assert!(message.contains(&status.to_string()), "{message}");
        // Wake the account up six times, each time waiting for a reconcile that started after the
        // wake-up to finish (the create backoff is a minute: all of them fall inside it). (The
        // other account of the loop waits out its own backoff; nothing wakes it meanwhile.)
        let woken = Instant::now();
        for _ in 0..3 {
            operator_saw::<IntegrationAccount>(&client, &ns, &op, &name).await;
        }
        let creates = emu
            .calls()
            .await
            .iter()
            .filter(|c| c["route"] == "POST /openapi/users")
            .filter(|c| c["query"].as_str().unwrap_or_default().contains(&name))
            .count();
        println!(
            "{system}: {creates} create calls after a {status} and 6 wake-ups in {:.1} s",
            woken.elapsed().as_secs_f64()
        );
        assert!(creates <= 1, "{system}: {creates} create calls after 6 wake-ups");
        emu.delete_faults().await;
    }
}

/// TrackVia fails every call to one endpoint for 30 s after a new token arrives, while a secret
/// manager refreshes the token Secret's annotations every second (as External Secrets does): each
/// refresh wakes the account, and a validation TrackVia did not answer waits its backoff instead of
/// being retried at every wake-up (I10). Once TrackVia answers, the rotation runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_trackvia_outage_is_not_a_loop_of_calls() {
    let (client, ns, emu, op) = set_up("outage", 0, None).await;
    emu.reset_calls().await;
    emu.control("faults", json!({"service": "trackvia", "method": "GET", "route": "/openapi/apps", "status": 503, "count": 100000}))
        .await;
    let new = place_new_token(&client, &ns, &emu).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    // The bound below is a rate: calls in 30 s of refreshes, so this sleep measures time.
    let mut reconciles = 0.0;
    for i in 0..30 {
        let patch = json!({"metadata": {"annotations": {"secret-manager.example/refreshed": i.to_string()}}});
        secrets
            .patch("sf-token", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
        reconciles = op.reconciles("IntegrationAccount").await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // Evidence that the refreshes reached the account: it reconciled after the last one.
    op.reconciled_since("IntegrationAccount", reconciles).await;
    let apps = calls_of(&emu, "GET /openapi/apps").await.values().sum::<usize>();
    println!("GET /openapi/apps answered 503 {apps} times in 30 s");
    // A validation is at most 4 HTTP attempts (the client's retries); the account validates again
    // after 15 s and 30 s: at most 3 validations.
    assert!(apps <= 12, "{apps} calls in 30 s");
    emu.delete_faults().await;
    let r = wait_rotation(&client, &ns, "the rotation published after the outage", |r| {
        matches!(
            phase(r),
            "AwaitingRevocation" | "Succeeded" | "Failed" | "Aborted"
        )
    })
    .await;
    assert_eq!(phase(&r), "AwaitingRevocation", "{}", r["status"]);
    assert!(published_token(&client, &ns).await == new);
}
