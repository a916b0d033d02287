//! CredentialRotation: what a recheck means for a rotation is its periodic checks, the old token's
//! revocation probe and the held recipes' check. After an Overlap switch the rotation probes the
//! old token once per `--revocation-probe-interval`; a person who deactivated the old token in
//! TrackVia annotates, and the rotation probes now and succeeds instead of at the next probe.

use trackvia_operator::api::CredentialRotation;

use super::{QUIET, annotate};
use crate::support::operator::{Emulators, Operator, eventually};
use crate::support::world::{WAIT, get_json, phase, place_new_token, revoke_old, seed, setup, wait_phase};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_revoked_old_token_is_confirmed_right_after_the_annotation() {
    let (client, ns) = crate::support::cluster("recheck-cr").await;
    let emu = Emulators::start(&seed()).await;
    // The old token is probed once per 10 minutes.
    let _op = Operator::start_with(
        &ns,
        &format!("recheck-cr-{}", std::process::id()),
        &["--revocation-probe-interval", "10m"],
        &[],
    );
    setup(&client, &ns, &emu, None).await; // conn-1..3 Ready
    // The person creates a second token: the account's Overlap rotation switches every
    // connection, publishes, and probes the old token (still active) for the first time.
    place_new_token(&client, &ns, &emu).await;
    let r = wait_phase(&client, &ns, "AwaitingRevocation").await;
    let name = r["metadata"]["name"].as_str().unwrap().to_owned();
    eventually(WAIT, "the first probe of the old token", || async {
        let r = get_json::<CredentialRotation>(&client, &ns, &name).await?;
        r["status"]["lastCheckedTime"].is_string().then_some(())
    })
    .await;

    // The person deactivates the old token in TrackVia: with a 10-minute probe, nothing is seen.
    revoke_old(&emu).await;
    tokio::time::sleep(QUIET).await;
    let r = get_json::<CredentialRotation>(&client, &ns, &name).await.unwrap();
    assert_eq!(phase(&r), "AwaitingRevocation", "no recheck asked yet");

    // The person asks for a recheck: the probe runs now, once.
    annotate::<CredentialRotation>(&client, &ns, &name, "2026-12-01T10:00:00Z").await;
    let r = eventually(WAIT, "the revocation confirmed", || async {
        let r = get_json::<CredentialRotation>(&client, &ns, &name).await?;
        (phase(&r) == "Succeeded").then_some(r)
    })
    .await;
    assert!(r["status"]["oldTokenRevokedTime"].is_string(), "{}", r["status"]);
    assert_eq!(r["status"]["recheckHandled"], "2026-12-01T10:00:00Z");
}
