//! What a rotation must never do whatever happens: switch to the disruptive strategy on an answer
//! that is not a rejection, or push into a production workspace.

use kube::api::{Api, DeleteParams};
use serde_json::json;
use trackvia_operator::api::{CredentialRotation, WorkatoConnection, WorkatoWorkspace};

use super::all_running;
use crate::support::operator::eventually;
use crate::support::world::*;

/// A TrackVia answer that is not a rejection of the old token (here a 403) does not switch the
/// automatic strategy to the disruptive StopAndRestart: the rotation asks again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn only_a_rejected_old_token_means_stop_and_restart() {
    let (client, ns, emu, _op) = set_up("strategy", 0, None).await;
    emu.reset_calls().await;
    emu.control(
        "faults",
        json!({"service": "trackvia", "method": "GET", "route": "/openapi/views", "status": 403, "count": 1}),
    )
    .await;
    rotation(&client, &ns, "auto", json!({})).await;
    let r = eventually(WAIT, "auto decided", || async {
        let r = get_json::<CredentialRotation>(&client, &ns, "auto").await?;
        (!r["status"]["strategy"].is_null() && phase(&r) != "Pending").then_some(r)
    })
    .await;
    assert_eq!(r["status"]["strategy"], "Overlap", "{}", r["status"]);
    assert!(recipe_calls(&emu, "stop").await.is_empty());
    assert!(all_running(&emu).await);
}

/// The environment guard holds on the rotation's own pushes: a workspace recreated under the same
/// name in production receives nothing, even from connections bound before (I7).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn the_environment_guard_holds_on_every_push_of_a_rotation() {
    let (client, ns, emu, _op) = set_up("envguard", 0, None).await;
    // Someone recreates workspace `dev` as production: the connections bound to it stay bound.
    let workspaces: Api<WorkatoWorkspace> = Api::namespaced(client.clone(), &ns);
    workspaces.delete("dev", &DeleteParams::default()).await.unwrap();
    eventually(WAIT, "dev gone", || async {
        workspaces.get_opt("dev").await.ok()?.is_none().then_some(())
    })
    .await;
    workspace(&client, &ns, &emu, "dev", "production", "wk-dev").await;
    wait_condition::<WorkatoConnection>(&client, &ns, "conn-1", "EnvironmentMatched", |c| c.0 == "False")
        .await;
    emu.reset_calls().await;
    place_new_token(&client, &ns, &emu).await;
    let r = wait_rotation(&client, &ns, "the rotation published or finished", |r| {
        matches!(
            phase(r),
            "AwaitingRevocation" | "Succeeded" | "Failed" | "Aborted"
        )
    })
    .await;
    let writes = calls_of(&emu, "PUT /api/connections/{id}").await;
    assert!(
        writes.is_empty(),
        "nothing pushed into the production workspace: {writes:?}"
    );
    assert!(matches!(phase(&r), "Failed" | "Aborted"), "{}", r["status"]);
    assert!(connection_tokens(&emu).await.values().all(|t| t == OLD));
}
