//! What an IntegrationAccount costs the API server (issue 16): it is reconciled once per change
//! that matters, not again for its own status writes nor for anyone's status-only update, and a
//! reconcile that changes nothing reads nothing (its object, Secrets and account come from the
//! caches). The counts come from the operator's own `/metrics`; the targets (requests per object
//! to Ready, reconciles per object) are measured by `make bench`, not asserted here.

use std::time::Duration;

use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use trackvia_operator::api::IntegrationAccount;

use super::{SANDBOX, SEED, accounts, integration, wait_reason};
use crate::support::operator::{Emulators, Operator, eventually, metric_sum};

/// The operator's counters of interest, read once.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    reconciles: f64,
    gets: f64,
    writes: f64,
}

async fn counts(op: &Operator) -> Counts {
    let m = eventually(Duration::from_secs(30), "the operator's /metrics", || {
        op.metrics()
    })
    .await;
    let requests = |verb: &str| {
        metric_sum(
            &m,
            "trackvia_operator_kube_requests_total",
            &[&format!("verb=\"{verb}\"")],
        )
    };
    Counts {
        reconciles: metric_sum(
            &m,
            "trackvia_operator_reconciles_total",
            &[r#"controller="IntegrationAccount""#],
        ),
        gets: requests("get"),
        writes: ["post", "put", "patch", "delete"]
            .iter()
            .map(|v| requests(v))
            .sum(),
    }
}

/// Waits until the counts have not moved for 3 s; returns them.
async fn settled(op: &Operator) -> Counts {
    let mut last = counts(op).await;
    let mut still = 0;
    while still < 3 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = counts(op).await;
        if now.reconciles == last.reconciles && now.gets == last.gets && now.writes == last.writes {
            still += 1;
        } else {
            still = 0;
        }
        last = now;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn one_reconcile_per_change_and_no_reads_when_nothing_changed() {
    let (client, ns) = crate::support::cluster("ia-requests").await;
    let emu = Emulators::start(SEED).await;
    accounts(&client, &ns, &emu).await;
    // Without leader election: its Lease renewals are requests too.
    let op = Operator::start_with(&ns, &format!("{ns}-operator"), &["--leader-elect", "false"], &[]);
    // The accounts are checked and nothing else is going on.
    let before = settled(&op).await;

    // A user that went through the UI steps, and its token: from creation to Ready.
    let token = emu
        .create_token(
            SANDBOX,
            "nosecret.integration@acme.example",
            "2030-01-01T00:00:00Z",
        )
        .await;
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), &ns)
        .create(
            &PostParams::default(),
            &crate::support::secret("sf-token", &[("token", &token)], &[]),
        )
        .await
        .unwrap();
    crate::support::create::<IntegrationAccount>(
        &client,
        &ns,
        // (a system named as its email says: no naming-convention warning)
        integration(
            "sf",
            "nosecret",
            "nosecret.integration@acme.example",
            "acme-sandbox",
            &["Accounts", "Opportunities"],
        ),
    )
    .await;
    wait_reason(&client, &ns, "sf", "Ready", "Ready").await;
    let ready = settled(&op).await;
    // (printed; the targets are `make bench`'s: docs/performance.md)
    eprintln!(
        "to Ready: {} reconciles, {} GETs, {} writes (posts, patches)",
        ready.reconciles - before.reconciles,
        ready.gets - before.gets,
        ready.writes - before.writes
    );
    // Created once, its token Secret present: its own status writes wake it no more.
    assert!(
        ready.reconciles - before.reconciles <= 2.0,
        "reconciles to Ready: {}",
        ready.reconciles - before.reconciles
    );

    // A status-only update (anyone's) reconciles nothing.
    let api: Api<IntegrationAccount> = Api::namespaced(client.clone(), &ns);
    api.patch_status(
        "sf",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"nextAction": "written by someone else"}})),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after_status = settled(&op).await;
    assert_eq!(
        after_status.reconciles, ready.reconciles,
        "a status-only update started a reconcile"
    );
    // (Put back: a Ready account has no next action, and server-side apply leaves a field
    // another manager wrote.)
    api.patch_status(
        "sf",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"nextAction": null}})),
    )
    .await
    .unwrap();
    let after_status = settled(&op).await;
    assert_eq!(after_status.reconciles, ready.reconciles);

    // A change that wakes it but changes nothing it depends on: a reconcile with no read and
    // no write (the object, its Secrets and its account come from the caches).
    api.patch(
        "sf",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"example.com/touched": "1"}}})),
    )
    .await
    .unwrap();
    let noop = settled(&op).await;
    assert!(
        noop.reconciles > after_status.reconciles,
        "an annotation change reconciles"
    );
    assert_eq!(
        (noop.gets, noop.writes),
        (after_status.gets, after_status.writes),
        "a reconcile that changes nothing reads and writes nothing"
    );
}
