//! WorkatoWorkspace: the API token check runs right after the annotation (here: Workato starts
//! refusing the token, seen without waiting for the 10-minute check).

use serde_json::json;
use trackvia_operator::api::WorkatoWorkspace;

use super::{QUIET, annotate};
use crate::support::operator::{Emulators, Operator};
use crate::support::world::{WK_DEV_TOKEN, condition, get_json, seed, wait_condition, wait_ready, workspace};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_refused_token_is_seen_right_after_the_annotation() {
    let (client, ns) = crate::support::cluster("recheck-wkws").await;
    let emu = Emulators::start(&seed()).await;
    crate::support::create_secret(&client, &ns, "wk-dev", &[("token", WK_DEV_TOKEN)]).await;
    workspace(&client, &ns, &emu, "dev", "sandbox", "wk-dev").await;
    let _op = Operator::start_with(
        &ns,
        &format!("recheck-wkws-{}", std::process::id()),
        &["--workspace-check-interval", "10m"],
        &[],
    );
    wait_ready::<WorkatoWorkspace>(&client, &ns, "dev").await;

    // Workato refuses the token from now on (as after it was revoked in Workato's UI).
    emu.control(
        "faults",
        json!({"service": "workato", "route": "/api/recipes", "status": 401, "count": 1000}),
    )
    .await;
    tokio::time::sleep(QUIET).await;
    let ws = get_json::<WorkatoWorkspace>(&client, &ns, "dev").await.unwrap();
    assert_eq!(condition(&ws, "Ready").unwrap().0, "True", "no recheck asked yet");

    annotate::<WorkatoWorkspace>(&client, &ns, "dev", "after-revocation").await;
    let ws = wait_condition::<WorkatoWorkspace>(&client, &ns, "dev", "Ready", |c| c.0 == "False").await;
    assert_eq!(
        ws["status"]["recheckHandled"], "after-revocation",
        "{}",
        ws["status"]
    );
}
