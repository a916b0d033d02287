//! Adopting existing Workato connections: another connector's is never written, a live one only
//! in stages.

use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use trackvia_operator::api::WorkatoConnection;

use crate::support::evidence::*;
use crate::support::operator::Operator;
use crate::support::world::*;

/// A connection named like the TrackVia one but of another connector is never written, and a
/// live adopted connection is never overwritten by a plain update; opted in, it is taken over
/// in stages (I9).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn adoption_never_writes_another_connector_nor_a_live_connection_unstaged() {
    let extra_connections = "        - {id: 110, name: TV shared, provider: salesforce, authorizationStatus: success, input: {token: sf-crm-0001}}\n        - {id: 111, name: TV live, provider: trackvia, authorizationStatus: success, input: {user_key: sbx-api-key-0001, access_token: sbx-admin-token-0001}}\n";
    let extra_recipes = "        - {id: 1101, name: Live recipe, running: true, connections: [111]}\n";
    let (client, ns, emu) =
        emulated_with_seed("adopt", 0, &seed_with(extra_connections, extra_recipes)).await;
    let _op = Operator::start(&ns);
    setup(&client, &ns, &emu, None).await;
    emu.reset_calls().await;
    connection(&client, &ns, "shared", json!({"name": "TV shared"})).await;
    connection(&client, &ns, "live", json!({"id": 111})).await;
    wait_condition::<WorkatoConnection>(&client, &ns, "shared", "ConnectionFound", |c| {
        c.1 == "ProviderMismatch"
    })
    .await;
    wait_condition::<WorkatoConnection>(&client, &ns, "live", "CredentialsCurrent", |c| {
        c.1 == "AdoptionPending"
    })
    .await;
    // Evidence that both were reconciled again after saying so (a spec change they do not care
    // about, seen in status.observedGeneration), before asserting nothing was written.
    for name in ["shared", "live"] {
        operator_saw_spec::<WorkatoConnection>(
            &client,
            &ns,
            name,
            json!({"recipes": {"restartAfterTaskLimit": true}}),
        )
        .await;
    }
    let writes = calls_of(&emu, "PUT /api/connections/{id}").await;
    assert!(writes.is_empty(), "nothing written: {writes:?}");
    assert!(running(&emu).await[&1101]);

    // Opted in: stop, update, test, restart.
    Api::<WorkatoConnection>::namespaced(client.clone(), &ns)
        .patch(
            "live",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"adoption": "StopAndRestart"}})),
        )
        .await
        .unwrap();
    wait_rotation(&client, &ns, "the takeover succeeded", |r| {
        !r["spec"]["takeOver"].is_null() && phase(r) == "Succeeded"
    })
    .await;
    wait_ready::<WorkatoConnection>(&client, &ns, "live").await;
    assert_eq!(connection_tokens(&emu).await[&111], OLD);
    assert!(running(&emu).await[&1101]);
    assert_staged(&emu, 1101, 111).await;
    assert!(
        !calls_of(&emu, "PUT /api/connections/{id}")
            .await
            .contains_key("/api/connections/110")
    );
}
