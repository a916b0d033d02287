//! The operator across a kube-apiserver restart, outside a rotation: a standby replica waiting for
//! the leader Lease, and a replica starting while the API server is away, both wait for it instead
//! of exiting. (The fault campaign restarts the API server mid-rotation.)
//!
//! Restarts the API server of the test run through `scripts/control-plane.sh restart-apiserver`,
//! so it has a test binary of its own: cargo runs test binaries one after the other, and no other
//! test sees the restart. `FAULT_APISERVER_RESTART=0` skips it (a cluster the script did not start).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod support;

use std::time::Duration;

use support::chaos;
use support::operator::{Emulators, Operator, eventually};
use support::sandbox;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn replicas_wait_out_an_api_server_restart_instead_of_exiting() {
    if std::env::var("FAULT_APISERVER_RESTART").is_ok_and(|v| v == "0") {
        eprintln!("skipped: FAULT_APISERVER_RESTART=0");
        return;
    }
    let (client, ns) = support::cluster("away").await;
    let emu = Emulators::start(sandbox::SEED).await;
    sandbox::admin_secret(&client, &ns).await;
    let holder = || sandbox::lease_holder(&client, &ns);
    let (mut a, mut b) = sandbox::leader_and_standby(&client, &ns).await;

    // The API server goes away for a few seconds. A third replica starts meanwhile.
    let restart = tokio::task::spawn_blocking(chaos::restart_apiserver);
    // Time is the point: the third replica starts while the API server is away.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut c = Operator::start_as(&ns, &format!("{ns}-c"));
    let away = restart.await.unwrap().unwrap_or_else(|e| panic!("{e}"));
    eprintln!("API server away {:.1} s", away.as_secs_f64());
    sandbox::account(&client, &ns, &emu, "after").await;

    // The standbys waited; the leader kept leading, or, if the API server stayed away longer than
    // its renew deadline, stopped leading and stood by again: no replica exits.
    eventually(
        Duration::from_secs(60),
        "an account created after the restart is Ready",
        || sandbox::account_ready(&client, &ns, "after"),
    )
    .await;
    for op in [&mut a, &mut b, &mut c] {
        assert!(
            op.exited().is_none(),
            "a replica exited across the API server restart:\n{}",
            op.log_tail(20)
        );
    }

    // The leader dies: a standby that waited through the restart takes over.
    a.kill();
    sandbox::account(&client, &ns, &emu, "later").await;
    eventually(Duration::from_secs(60), "a standby leads", || async {
        (holder().await? != format!("{ns}-a")).then_some(())
    })
    .await;
    eventually(
        Duration::from_secs(60),
        "an account created under the new leader is Ready",
        || sandbox::account_ready(&client, &ns, "later"),
    )
    .await;
    b.kill();
    c.kill();
}
