//! What a fresh process exports before it has reconciled anything: `build_info`, and every counter
//! whose label values are known, at 0 (so `increase()` sees the first event), and no per-object
//! series of a namespace with no objects.

use std::time::Duration;

use crate::support::KINDS;
use crate::support::operator::{Operator, eventually, samples, try_scrape};
use crate::value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn counters_start_at_zero_and_build_info_is_there_before_any_reconcile() {
    let (_client, ns) = crate::support::cluster("metrics-fresh").await;
    let op = Operator::start(&ns);
    // The first scrape that answers: before, during or after the caches' first list, with
    // nothing in the namespace to reconcile.
    let text = eventually(Duration::from_secs(60), "/metrics answers", || async {
        try_scrape(&op.metrics_url()).await
    })
    .await;
    let build = samples(&text, "trackvia_operator_build_info", &[]);
    assert_eq!(build.len(), 1, "{text}");
    assert_eq!(build[0].1, 1.0);
    assert!(
        build[0]
            .0
            .contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION")))
            && build[0].0.contains("commit=\""),
        "{}",
        build[0].0
    );
    for c in KINDS {
        let label = format!("controller=\"{c}\"");
        assert_eq!(
            value(&text, "trackvia_operator_reconciles_total", &[&label]),
            Some(0.0),
            "{c}: {text}"
        );
    }
    for outcome in [
        "Succeeded",
        "RolledBack",
        "RollbackFailed",
        "Aborted",
        "RecipeStartFailed",
        "ApprovalExpired",
    ] {
        let label = format!("outcome=\"{outcome}\"");
        assert_eq!(
            value(&text, "trackvia_operator_rotations_total", &[&label]),
            Some(0.0),
            "{outcome}: {text}"
        );
    }
    for (system, status) in [
        ("trackvia", "401"),
        ("trackvia", "403"),
        ("workato", "401"),
        ("workato", "403"),
    ] {
        let labels = [format!("system=\"{system}\""), format!("status=\"{status}\"")];
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        let found = samples(&text, "trackvia_operator_external_requests_total", &labels);
        assert!(
            !found.is_empty() && found.iter().all(|(_, v)| *v == 0.0),
            "{system} {status}: {text}"
        );
    }
    assert!(!text.contains("ready_status"), "no objects, no series: {text}");
    // Once the caches have synced, the namespace still has no objects: still no series.
    let text = eventually(Duration::from_secs(60), "readiness", || async {
        (op.readyz().await == Some(200)).then_some(())?;
        try_scrape(&op.metrics_url()).await
    })
    .await;
    assert!(!text.contains("ready_status"), "{text}");
    assert_eq!(value(&text, "trackvia_operator_leader", &[]), Some(1.0), "{text}");
}
