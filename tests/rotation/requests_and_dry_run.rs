//! Requests: a dry run reports and changes nothing; a declarative `requestedAt` starts one
//! rotation, once; a StopAndRestart whose token never comes restarts the recipes and aborts.

use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use trackvia_operator::api::{CredentialRotation, IntegrationAccount};

use crate::support::evidence::operator_saw;
use crate::support::operator::eventually;
use crate::support::world::{WAIT, recipe_calls, rotation, running, set_up};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_request_is_handled_once_a_dry_run_changes_nothing_and_a_lapsed_wait_aborts() {
    let (client, ns, emu, op) = set_up("triggers", 0, None).await;
    let rots: Api<CredentialRotation> = Api::namespaced(client.clone(), &ns);
    let ias: Api<IntegrationAccount> = Api::namespaced(client.clone(), &ns);
    emu.reset_calls().await;

    // Dry run: a report, no change.
    rotation(
        &client,
        &ns,
        "dry",
        json!({"strategy": "StopAndRestart", "dryRun": true}),
    )
    .await;
    let dry = eventually(WAIT, "the dry run finished", || async {
        let r = rots.get("dry").await.ok()?;
        r.status.clone()?.finished_time.is_some().then_some(r)
    })
    .await;
    let st = dry.status.unwrap();
    assert_eq!(
        st.outcome.map(|o| o.as_str()),
        Some("DryRunFailed"),
        "no new token yet: {:?}",
        st.plan_summary
    );
    let summary = st.plan_summary.unwrap();
    assert!(
        summary.contains("would update 3 connections") && summary.contains("18 recipe stop/start calls"),
        "{summary}"
    );
    // Evidence that the finished dry run was reconciled once more before asserting it did nothing.
    operator_saw::<CredentialRotation>(&client, &ns, &op, "dry").await;
    assert!(recipe_calls(&emu, "stop").await.is_empty());
    assert!(
        emu.calls()
            .await
            .iter()
            .all(|c| !c["route"].as_str().unwrap().starts_with("PUT")),
        "a dry run changes nothing"
    );

    // A declarative request: one rotation, echoed as handled; re-applying it does nothing.
    let at = "2026-11-28T00:00:00Z";
    let patch = json!({"spec": {"rotation": {"requestedAt": at, "newTokenTimeout": "3s"}}});
    ias.patch("sf", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let requested = eventually(WAIT, "the requested rotation", || async {
        rots.list(&Default::default())
            .await
            .ok()?
            .items
            .into_iter()
            .find(|r| {
                r.metadata
                    .name
                    .as_deref()
                    .unwrap_or_default()
                    .contains("-requested-")
            })
    })
    .await;
    eventually(WAIT, "handledRequestedAt echoed", || async {
        let h = ias.get("sf").await.ok()?.status?.rotation?.handled_requested_at?;
        (h.0.to_string() == at).then_some(())
    })
    .await;
    // No new token arrives: the Overlap rotation waits 3 s, then gives up without touching anything.
    let aborted = eventually(WAIT, "the request aborted", || async {
        let r = rots.get(requested.metadata.name.as_deref()?).await.ok()?;
        (r.status.clone()?.phase.map(|p| p.as_str()) == Some("Aborted")).then_some(r)
    })
    .await;
    assert_eq!(
        aborted.status.unwrap().outcome.map(|o| o.as_str()),
        Some("Aborted")
    );
    ias.patch("sf", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    // Evidence that the account was reconciled with the re-applied request before counting.
    operator_saw::<IntegrationAccount>(&client, &ns, &op, "sf").await;
    let requests = rots
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|r| {
            r.metadata
                .name
                .as_deref()
                .unwrap_or_default()
                .contains("-requested-")
        })
        .count();
    assert_eq!(requests, 1, "re-applying the same requestedAt starts nothing");

    // StopAndRestart whose token never comes while the old one still works: restart and abort.
    rotation(&client, &ns, "lapsed", json!({"strategy": "StopAndRestart"})).await;
    let lapsed = eventually(WAIT, "the lapsed rotation aborted", || async {
        let r = rots.get("lapsed").await.ok()?;
        (r.status.clone()?.phase.map(|p| p.as_str()) == Some("Aborted")).then_some(r)
    })
    .await;
    assert!(
        lapsed
            .status
            .unwrap()
            .recipes
            .iter()
            .all(|r| r.state.as_str() == "Started")
    );
    let now = running(&emu).await;
    assert!((1001..=1009).all(|id| now[&id]) && !now[&1010], "{now:?}");
    assert!(
        recipe_calls(&emu, "stop")
            .await
            .values()
            .chain(recipe_calls(&emu, "start").await.values())
            .all(|n| *n == 1)
    );
}
