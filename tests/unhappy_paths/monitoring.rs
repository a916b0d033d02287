//! The seed's monitoring (issue 13, point 4): the dependent recipes' failed jobs and Workato's
//! lost connection, surfaced on the WorkatoConnection. The operator reads jobs every second here
//! (`--recipe-jobs-interval 1s`; default 5m).

use serde_json::{Value, json};
use trackvia_operator::api::WorkatoConnection;

use crate::support::operator::{Emulators, Operator, eventually, metric_sum};
use crate::support::world::*;

/// The operator with a short jobs interval, and the world of [`setup`].
async fn monitored(prefix: &str) -> (kube::Client, String, Emulators, Operator) {
    let (client, ns, emu) = emulated(prefix, 0).await;
    let op = Operator::start_with(
        &ns,
        &format!("{ns}-operator"),
        &["--recipe-jobs-interval", "1s"],
        &[],
    );
    setup(&client, &ns, &emu, None).await;
    (client, ns, emu, op)
}

/// Recipe `id` of the DEV workspace runs one job now, failing with `error` (or succeeding).
async fn job(emu: &Emulators, id: i64, error: Option<&str>) {
    let body = error.map_or_else(|| json!({}), |e| json!({"error": e}));
    emu.control(&format!("workato/workspaces/acme-dev/recipes/{id}/jobs"), body)
        .await;
}

/// The value of a metric series of WorkatoConnection `name`.
async fn metric(op: &Operator, metric: &str, name: &str, kind: Option<&str>) -> f64 {
    let text = op.metrics().await.unwrap_or_default();
    let name = format!("name=\"{name}\"");
    let kind = kind.map(|k| format!("kind=\"{k}\""));
    let mut labels = vec![name.as_str()];
    labels.extend(kind.as_deref());
    metric_sum(&text, metric, &labels)
}

async fn warning_event(client: &kube::Client, ns: &str, name: &str, reason: &str) {
    eventually(WAIT, &format!("a Warning event {reason} on {name}"), || async {
        events(client, ns, name)
            .await
            .iter()
            .any(|(t, r, _)| t == "Warning" && r == reason)
            .then_some(())
    })
    .await;
}

/// A job of recipe 1001 (connection 100, `conn-1`) fails with a TrackVia 401 that echoes the
/// token, one of recipe 1004 (same connection) with another application's 503: `conn-1` reports
/// `RecipesHealthy=False AuthFailures` naming 1001 only, without the token, with Ready False, a
/// Warning event and the metrics; the 503 is counted, not alarmed; a later successful job of 1001
/// clears it, and nothing is counted twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn failed_job_auth_errors_are_surfaced_others_counted_and_cleared_by_a_success() {
    let (client, ns, emu, op) = monitored("jobs").await;
    let unauthorized = format!("401 Unauthorized: Invalid access token: {OLD}");
    job(&emu, 1001, Some(&unauthorized)).await;
    job(&emu, 1004, Some("Salesforce: 503 Service Unavailable")).await;

    let wc = wait_condition::<WorkatoConnection>(&client, &ns, "conn-1", "RecipesHealthy", |c| {
        c.1 == "AuthFailures"
    })
    .await;
    let (status, _, message) = condition(&wc, "RecipesHealthy").unwrap();
    assert_eq!(status, "False");
    assert!(message.contains("(1001)"), "{message}");
    assert!(message.contains("401 Unauthorized"), "{message}");
    assert!(
        !message.contains("1004"),
        "another failure is not alarmed: {message}"
    );
    let (ready, reason, _) = condition(&wc, "Ready").unwrap();
    assert_eq!((ready.as_str(), reason.as_str()), ("False", "AuthFailures"));
    let everything = serde_json::to_string(&wc).unwrap();
    assert!(!everything.contains(OLD), "no credential in the status");
    assert!(
        wc["status"]["recipeJobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == 1001 && e["authFailureTime"].is_string()),
        "{}",
        wc["status"]
    );
    warning_event(&client, &ns, "conn-1", "AuthFailures").await;
    for (_, _, note) in events(&client, &ns, "conn-1").await {
        assert!(!note.contains(OLD), "no credential in events: {note}");
    }
    let failures = "trackvia_operator_recipe_job_failures_total";
    let failing = "trackvia_operator_recipes_auth_failing";
    eventually(WAIT, "the failure metrics", || async {
        let auth = metric(&op, failures, "conn-1", Some("auth")).await;
        let other = metric(&op, failures, "conn-1", Some("other")).await;
        let now = metric(&op, failing, "conn-1", None).await;
        (auth, other, now).eq(&(1.0, 1.0, 1.0)).then_some(())
    })
    .await;
    // The other connections' recipes are fine.
    let other = get_json::<WorkatoConnection>(&client, &ns, "conn-2")
        .await
        .unwrap();
    assert_eq!(condition(&other, "RecipesHealthy").unwrap().1, "Healthy");

    // Recipe 1001 runs again: cleared; the 503 of 1004 stays counted, not alarmed.
    job(&emu, 1001, None).await;
    let wc = wait_condition::<WorkatoConnection>(&client, &ns, "conn-1", "RecipesHealthy", |c| c.0 == "True")
        .await;
    assert_eq!(condition(&wc, "Ready").unwrap().0, "True");
    eventually(WAIT, "the gauge back at 0", || async {
        (metric(&op, failing, "conn-1", None).await == 0.0).then_some(())
    })
    .await;
    assert_eq!(
        metric(&op, failures, "conn-1", Some("auth")).await,
        1.0,
        "not counted twice"
    );
    assert_eq!(metric(&op, failures, "conn-1", Some("other")).await, 1.0);
}

/// TrackVia stops accepting the token the connections hold: the recipes' trigger polls fail with
/// 401 (the emulator's own wording), which `RecipesHealthy=False AuthFailures` reports while they
/// run; after 60 failures Workato stops them and sets the connection's `connection_lost_at` and
/// `connection_lost_reason`, which the WorkatoConnection reports as `Verified=False
/// ConnectionLost` (reason scrubbed), with Ready False and a Warning event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_lost_connection_and_its_failing_polls_are_surfaced() {
    let (client, ns, emu, _op) = monitored("lost").await;
    revoke_old(&emu).await;
    emu.control("workato/tick", json!({"count": 1})).await;
    let wc = wait_condition::<WorkatoConnection>(&client, &ns, "conn-1", "RecipesHealthy", |c| {
        c.1 == "AuthFailures"
    })
    .await;
    let message = condition(&wc, "RecipesHealthy").unwrap().2;
    for id in [1001, 1004, 1007] {
        assert!(message.contains(&format!("({id})")), "{message}");
    }
    assert!(!message.contains(OLD), "{message}");
    assert_eq!(
        condition(&wc, "Verified").unwrap().1,
        "Authorized",
        "not lost yet"
    );

    emu.control("workato/tick", json!({"count": 59})).await;
    let wc =
        wait_condition::<WorkatoConnection>(&client, &ns, "conn-1", "Verified", |c| c.1 == "ConnectionLost")
            .await;
    let (status, _, message) = condition(&wc, "Verified").unwrap();
    assert_eq!(status, "False");
    assert!(message.contains("401 Unauthorized"), "{message}");
    assert!(!message.contains(OLD), "{message}");
    let st: &Value = &wc["status"];
    assert!(st["connectionLostTime"].is_string(), "{st}");
    let reason = st["connectionLostReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("Invalid access token") && !reason.contains(OLD),
        "{reason}"
    );
    assert_eq!(condition(&wc, "Ready").unwrap().0, "False");
    // Workato stopped the recipes too: that comes first in RecipesHealthy. The recipe listing is
    // cached apart from the connection listing, so it may show the stop a reconcile later.
    wait_condition::<WorkatoConnection>(&client, &ns, "conn-1", "RecipesHealthy", |c| {
        c.1 == "StoppedByErrors"
    })
    .await;
    warning_event(&client, &ns, "conn-1", "ConnectionLost").await;
}
