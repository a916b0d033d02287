//! TrackViaAccount: the admin credential check runs right after the annotation (here: the admin
//! token deactivated in TrackVia's UI is seen without waiting for the 10-minute check).

use serde_json::json;
use trackvia_operator::api::TrackViaAccount;

use super::{QUIET, annotate};
use crate::support::operator::{Emulators, Operator};
use crate::support::world::{SANDBOX, condition, get_json, seed, wait_condition, wait_ready};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_deactivated_admin_token_is_seen_right_after_the_annotation() {
    let (client, ns) = crate::support::cluster("recheck-tva").await;
    let emu = Emulators::start(&seed()).await;
    crate::support::sandbox::admin_secret(&client, &ns).await;
    crate::support::sandbox::account(&client, &ns, &emu, "acme").await;
    // Admin credentials are checked every 10 minutes (the test operator's default).
    let _op = Operator::start(&ns);
    wait_ready::<TrackViaAccount>(&client, &ns, "acme").await;

    emu.control(
        &format!("trackvia/accounts/{SANDBOX}/tokens/1/deactivate"),
        json!({}),
    )
    .await;
    tokio::time::sleep(QUIET).await;
    let a = get_json::<TrackViaAccount>(&client, &ns, "acme").await.unwrap();
    assert_eq!(condition(&a, "Ready").unwrap().0, "True", "no recheck asked yet");

    annotate::<TrackViaAccount>(&client, &ns, "acme", "after-deactivation").await;
    let a = wait_condition::<TrackViaAccount>(&client, &ns, "acme", "Ready", |c| c.0 == "False").await;
    assert_eq!(
        a["status"]["recheckHandled"], "after-deactivation",
        "{}",
        a["status"]
    );
}
