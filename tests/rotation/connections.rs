//! WorkatoConnections: adopted, tested and inventoried; a new name created once; crossed
//! environments refused; recipes Workato stopped at the task limit reported and restarted.

use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use trackvia_operator::api::WorkatoConnection;

use crate::support::evidence::operator_saw_spec;
use crate::support::operator::eventually;
use crate::support::world::{OLD, WAIT, connection_tokens, running, set_up};
use crate::support::{self, is_ready};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn connections_are_adopted_tested_inventoried_and_guarded() {
    let (client, ns, emu, _op) = set_up("wc", 0, None).await;
    // Every connection received the token and passed Workato's test; the inventory is right.
    assert!(connection_tokens(&emu).await.values().all(|t| t == OLD));
    let wc = Api::<WorkatoConnection>::namespaced(client.clone(), &ns)
        .get("conn-1")
        .await
        .unwrap();
    let st = wc.status.unwrap();
    assert_eq!(st.authorization_status.as_deref(), Some("success"));
    let mut ids: Vec<i64> = st.recipes.iter().map(|r| r.id).collect();
    ids.sort();
    assert_eq!(ids, [1001, 1004, 1007, 1010]);
    assert_eq!(st.recipe_count, Some(4));

    // By name: found; a new name: created (once).
    support::create::<WorkatoConnection>(&client, &ns, json!({
        "apiVersion": support::API, "kind": "WorkatoConnection", "metadata": {"name": "by-name"},
        "spec": {"workspaceRef": {"name": "dev"}, "integrationAccountRef": {"name": "sf"}, "connection": {"name": "TrackVia (new)"}}
    })).await;
    let wcs: Api<WorkatoConnection> = Api::namespaced(client.clone(), &ns);
    let created = eventually(WAIT, "the named connection created and verified", || async {
        let wc = wcs.get("by-name").await.ok()?;
        is_ready(&wc.status.as_ref()?.common.conditions).then_some(wc)
    })
    .await;
    let id = created.status.unwrap().connection_id.unwrap();
    assert_eq!(connection_tokens(&emu).await[&id], OLD);
    let creates = emu
        .calls()
        .await
        .iter()
        .filter(|c| c["route"] == "POST /api/connections")
        .count();
    assert_eq!(creates, 1);

    // Crossed environments: refused before any call to Workato.
    emu.reset_calls().await;
    support::create::<WorkatoConnection>(&client, &ns, json!({
        "apiVersion": support::API, "kind": "WorkatoConnection", "metadata": {"name": "crossed"},
        "spec": {"workspaceRef": {"name": "prod"}, "integrationAccountRef": {"name": "sf"}, "connection": {"id": 200}}
    })).await;
    let crossed = eventually(WAIT, "EnvironmentMismatch", || async {
        let wc = wcs.get("crossed").await.ok()?;
        wc.status?
            .common
            .conditions
            .into_iter()
            .find(|c| c.type_ == "EnvironmentMatched" && c.reason == "EnvironmentMismatch")
    })
    .await;
    assert!(
        crossed
            .message
            .contains("prod is production but TrackViaAccount acme is sandbox"),
        "{}",
        crossed.message
    );
    // Evidence that the operator reconciled `crossed` once more after refusing it (a spec change
    // it does not care about, seen in status.observedGeneration), before asserting it called
    // nothing.
    operator_saw_spec::<WorkatoConnection>(
        &client,
        &ns,
        "crossed",
        json!({"recipes": {"restartAfterTaskLimit": true}}),
    )
    .await;
    let to_prod = emu
        .calls()
        .await
        .iter()
        .filter(|c| c["workspace"] == "acme-prod" && c["route"].as_str().unwrap().contains("/connections"))
        .count();
    // (The WorkatoWorkspace's own token check may list recipes there; no connection is touched.)
    assert_eq!(to_prod, 0, "no connection call reached the production workspace");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn recipes_stopped_by_workato_are_reported_and_restarted_after_the_task_limit() {
    let (client, ns, emu, _op) = set_up("health", 0, None).await;
    let wcs: Api<WorkatoConnection> = Api::namespaced(client.clone(), &ns);
    let patch = json!({"spec": {"recipes": {"restartAfterTaskLimit": true}}});
    wcs.patch("conn-2", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();

    // The task limit is reached: Workato stops every running recipe with the quota cause.
    emu.control("workato/task-limit", json!({"reached": true})).await;
    let cond = eventually(
        WAIT,
        "RecipesHealthy=False TaskLimitReached on conn-1",
        || async {
            let wc = wcs.get("conn-1").await.ok()?;
            wc.status?
                .common
                .conditions
                .into_iter()
                .find(|c| c.type_ == "RecipesHealthy" && c.reason == "TaskLimitReached")
        },
    )
    .await;
    assert!(
        cond.message.contains("Recipe 1 (1001)") && cond.message.contains("raise or reset"),
        "{}",
        cond.message
    );

    // Lifted: conn-2 (restartAfterTaskLimit) restarts its recipes; conn-1 only reports.
    emu.control("workato/task-limit", json!({"reached": false})).await;
    eventually(WAIT, "conn-2's recipes restarted", || async {
        let r = running(&emu).await;
        [1002, 1005, 1008].iter().all(|id| r[id]).then_some(())
    })
    .await;
    // Evidence that conn-1 was reconciled after the limit was lifted (the restarts above show the
    // operator saw it lifted; setting conn-1's default explicitly bumps its generation).
    operator_saw_spec::<WorkatoConnection>(
        &client,
        &ns,
        "conn-1",
        json!({"recipes": {"restartAfterTaskLimit": false}}),
    )
    .await;
    let r = running(&emu).await;
    assert!(
        !r[&1001] && !r[&1004] && !r[&1007],
        "conn-1 restarts nothing by itself"
    );
}
