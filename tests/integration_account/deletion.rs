//! Deleting an IntegrationAccount keeps its TrackVia user, says how to deactivate it, and never
//! waits on TrackVia.

use k8s_openapi::api::core::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use serde_json::json;
use trackvia_operator::api::IntegrationAccount;

use super::{SANDBOX, SEED, accounts, integration, wait_reason};
use crate::support::operator::{Emulators, Operator, eventually};
use crate::support::world::WAIT;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn deletion_keeps_the_user_says_how_to_deactivate_it_and_never_waits_on_trackvia() {
    let (client, ns) = crate::support::cluster("ia-delete").await;
    let emu = Emulators::start(SEED).await;
    accounts(&client, &ns, &emu).await;
    let mut orphan = integration(
        "orphaned",
        "Orphaned",
        "orphaned.integration@acme.example",
        "acme-sandbox",
        &["Accounts"],
    );
    orphan["spec"]["deletionPolicy"] = json!("Orphan");
    crate::support::create::<IntegrationAccount>(
        &client,
        &ns,
        integration(
            "kept",
            "Kept",
            "kept.integration@acme.example",
            "acme-sandbox",
            &["Accounts"],
        ),
    )
    .await;
    crate::support::create::<IntegrationAccount>(&client, &ns, orphan).await;
    let _op = Operator::start(&ns);
    let api: Api<IntegrationAccount> = Api::namespaced(client.clone(), &ns);
    for name in ["kept", "orphaned"] {
        let ia = wait_reason(&client, &ns, name, "UserVerified", "Unverified").await;
        assert!(
            ia.finalizers()
                .iter()
                .any(|f| f == "integrations.trackvia-operator.dev/trackvia-user")
        );
    }
    // TrackVia is unreachable from now on: deletion must not wait on it.
    emu.control(
        "faults",
        json!({"service": "trackvia", "route": "*", "status": 503, "count": 1000}),
    )
    .await;
    for name in ["kept", "orphaned"] {
        api.delete(name, &Default::default()).await.unwrap();
    }
    eventually(WAIT, "both deleted", || async {
        let left = api.list(&ListParams::default()).await.ok()?.items.len();
        (left == 0).then_some(())
    })
    .await;
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    let retained = eventually(WAIT, "the UserRetained event", || async {
        events
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("UserRetained"))
    })
    .await;
    let note = retained.message.unwrap_or_default();
    assert!(
        note.contains("kept.integration@acme.example") && note.contains("Deactivate"),
        "{note}"
    );
    assert_eq!(retained.type_.as_deref(), Some("Warning"));
    // The users are still there: TrackVia's API cannot deactivate them.
    let state = emu.get("state").await;
    let users = state["trackvia"]["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == SANDBOX)
        .unwrap()["users"]
        .to_string();
    assert!(
        users.contains("kept.integration@acme.example")
            && users.contains("orphaned.integration@acme.example")
    );
}
