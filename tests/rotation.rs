//! WorkatoConnection and CredentialRotation end to end: the operator binary on the real API
//! server against both emulators. Run through `make test`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)] // test code: failing loudly is the point; the run prints its call log

mod support;

use std::time::Duration;

use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use support::operator::{Emulators, Operator, eventually};
use support::world::{
    OLD, WAIT, connection_tokens, new_token, place_new_token, published_token, put_token, recipe_calls,
    regenerate_in_place, revoke_old, running, seed, setup,
};
use trackvia_operator::api::{CredentialRotation, IntegrationAccount, WorkatoConnection};

fn ready(conds: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]) -> bool {
    conds.iter().any(|c| c.type_ == "Ready" && c.status == "True")
}

async fn rotation_of(client: &Client, ns: &str) -> CredentialRotation {
    let rots = Api::<CredentialRotation>::namespaced(client.clone(), ns)
        .list(&Default::default())
        .await
        .unwrap();
    rots.items.into_iter().next().expect("a rotation")
}

async fn wait_phase(client: &Client, ns: &str, phase: &str) -> CredentialRotation {
    eventually(WAIT, &format!("a rotation in phase {phase}"), || async {
        let rots = Api::<CredentialRotation>::namespaced(client.clone(), ns)
            .list(&Default::default())
            .await
            .ok()?;
        rots.items
            .into_iter()
            .find(|r| r.status.as_ref().and_then(|s| s.phase.map(|p| p.as_str())) == Some(phase))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn connections_are_adopted_tested_inventoried_and_guarded() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::namespace(&client, "wc").await;
    let emu = Emulators::start(&seed()).await;
    let _op = Operator::start(&ns);
    setup(&client, &ns, &emu, None).await;
    // Every connection received the token and passed Workato's test; the inventory is right.
    assert!(connection_tokens(&emu).await.values().all(|t| t == OLD));
    let wc = Api::<WorkatoConnection>::namespaced(client.clone(), &ns)
        .get("conn-1")
        .await
        .unwrap();
    let st = wc.status.unwrap();
    assert_eq!(st.authorization_status.as_deref(), Some("success"));
    let mut ids: Vec<i64> = st.recipes.iter().map(|r| r.id).collect();
    ids.sort();
    assert_eq!(ids, [1001, 1004, 1007, 1010]);
    assert_eq!(st.recipe_count, Some(4));

    // By name: found; a new name: created (once).
    support::create::<WorkatoConnection>(&client, &ns, json!({
        "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "WorkatoConnection", "metadata": {"name": "by-name"},
        "spec": {"workspaceRef": {"name": "dev"}, "integrationAccountRef": {"name": "sf"}, "connection": {"name": "TrackVia (new)"}}
    })).await;
    let wcs: Api<WorkatoConnection> = Api::namespaced(client.clone(), &ns);
    let created = eventually(WAIT, "the named connection created and verified", || async {
        let wc = wcs.get("by-name").await.ok()?;
        ready(&wc.status.as_ref()?.common.conditions).then_some(wc)
    })
    .await;
    let id = created.status.unwrap().connection_id.unwrap();
    assert_eq!(connection_tokens(&emu).await[&id], OLD);
    let creates = emu
        .calls()
        .await
        .iter()
        .filter(|c| c["route"] == "POST /api/connections")
        .count();
    assert_eq!(creates, 1);

    // Crossed environments: refused before any call to Workato.
    emu.reset_calls().await;
    support::create::<WorkatoConnection>(&client, &ns, json!({
        "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "WorkatoConnection", "metadata": {"name": "crossed"},
        "spec": {"workspaceRef": {"name": "prod"}, "integrationAccountRef": {"name": "sf"}, "connection": {"id": 200}}
    })).await;
    let crossed = eventually(WAIT, "EnvironmentMismatch", || async {
        let wc = wcs.get("crossed").await.ok()?;
        wc.status?
            .common
            .conditions
            .into_iter()
            .find(|c| c.type_ == "EnvironmentMatched" && c.reason == "EnvironmentMismatch")
    })
    .await;
    assert!(
        crossed
            .message
            .contains("prod is production but TrackViaAccount acme is sandbox"),
        "{}",
        crossed.message
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let to_prod = emu
        .calls()
        .await
        .iter()
        .filter(|c| c["workspace"] == "acme-prod" && c["route"].as_str().unwrap().contains("/connections"))
        .count();
    // (The WorkatoWorkspace's own token check may list recipes there; no connection is touched.)
    assert_eq!(to_prod, 0, "no connection call reached the production workspace");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn overlap_rotation_switches_every_connection_without_stopping_a_recipe() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::namespace(&client, "overlap").await;
    let emu = Emulators::start(&seed()).await;
    let _op = Operator::start(&ns);
    setup(&client, &ns, &emu, None).await;
    let before = running(&emu).await;
    emu.reset_calls().await;

    // The person creates a second token (the first stays active) and puts it in the Secret.
    let new = place_new_token(&client, &ns, &emu).await;

    let rot = wait_phase(&client, &ns, "AwaitingRevocation").await;
    let st = rot.status.clone().unwrap();
    assert_eq!(
        st.strategy,
        Some(trackvia_operator::api::integration_account::RotationStrategy::Overlap)
    );
    assert!(
        st.connections.iter().all(|c| c.state.as_str() == "Verified"),
        "{:?}",
        st.connections
    );
    assert!(st.revocation_deadline.is_some() && st.old_token_fingerprint.is_some());
    assert!(connection_tokens(&emu).await.values().all(|t| *t == new));
    assert_eq!(published_token(&client, &ns).await, new);
    assert!(
        recipe_calls(&emu, "stop").await.is_empty() && recipe_calls(&emu, "start").await.is_empty(),
        "no recipe stops"
    );
    assert_eq!(running(&emu).await, before);

    // The person deactivates the old token: the rotation confirms it and succeeds.
    revoke_old(&emu).await;
    let done = wait_phase(&client, &ns, "Succeeded").await;
    assert!(done.status.unwrap().old_token_revoked_time.is_some());
    // Everything is Ready again, on the new token.
    let ia = Api::<IntegrationAccount>::namespaced(client.clone(), &ns);
    eventually(
        WAIT,
        "the IntegrationAccount Ready with the rotation recorded",
        || async {
            let i = ia.get("sf").await.ok()?;
            let st = i.status?;
            // The status records what the Secret the rotation published holds.
            let published = st.credentials_secret.as_ref()?.token_fingerprint.clone();
            (ready(&st.common.conditions)
                && st.rotation.as_ref()?.last_rotation_time.is_some()
                && st.rotation?.active.is_none()
                && published == st.token?.fingerprint)
                .then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_failed_test_rolls_every_switched_connection_back() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::namespace(&client, "rollback").await;
    let emu = Emulators::start(&seed()).await;
    let _op = Operator::start(&ns);
    setup(&client, &ns, &emu, None).await;
    // Workato's test of the second connection will fail once.
    emu.control(
        "faults",
        json!({
            "service": "workato", "method": "PUT", "route": "/api/connections/101", "status": 200, "count": 1,
            "body": {"id": 101, "name": "TV 2", "provider": "trackvia", "authorization_status": "failed",
                     "authorization_error": "401 Unauthorized: Invalid access token"}
        }),
    )
    .await;
    place_new_token(&client, &ns, &emu).await;

    let rot = wait_phase(&client, &ns, "Failed").await;
    let st = rot.status.unwrap();
    assert_eq!(st.outcome.map(|o| o.as_str()), Some("RolledBack"));
    let states: Vec<&str> = st.connections.iter().map(|c| c.state.as_str()).collect();
    assert_eq!(
        states,
        ["RolledBack", "RolledBack", "Pending"],
        "conn-1 switched then back, conn-2 failed, conn-3 untouched"
    );
    assert!(
        st.connections[1]
            .error
            .as_deref()
            .unwrap()
            .contains("Workato's test failed")
    );
    // Nothing left broken: every connection is on the old token, which is still published.
    assert!(connection_tokens(&emu).await.values().all(|t| t == OLD));
    assert_eq!(published_token(&client, &ns).await, OLD);
    let ready_reason = rot_condition(&client, &ns, "Ready").await;
    assert_eq!(ready_reason, ("False".to_owned(), "RolledBack".to_owned()));
}

async fn rot_condition(client: &Client, ns: &str, t: &str) -> (String, String) {
    let r = rotation_of(client, ns).await;
    let c = r
        .status
        .unwrap()
        .common
        .conditions
        .into_iter()
        .find(|c| c.type_ == t)
        .unwrap();
    (c.status, c.reason)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn stop_and_restart_stops_and_restarts_exactly_the_running_recipes() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::namespace(&client, "sar").await;
    let emu = Emulators::start(&seed()).await;
    let _op = Operator::start(&ns);
    setup(&client, &ns, &emu, None).await;
    emu.reset_calls().await;
    support::create::<CredentialRotation>(&client, &ns, json!({
        "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "CredentialRotation", "metadata": {"name": "regen"},
        "spec": {"integrationAccountRef": {"name": "sf"}, "strategy": "StopAndRestart", "reason": "suspected leak"}
    })).await;
    let waiting = wait_phase(&client, &ns, "WaitingForToken").await;
    let st = waiting.status.unwrap();
    let mut listed: Vec<i64> = st.recipes.iter().map(|r| r.id).collect();
    listed.sort();
    assert_eq!(
        listed,
        (1001..=1009).collect::<Vec<_>>(),
        "only the running recipes are recorded"
    );
    assert!(st.recipes.iter().all(|r| r.state.as_str() == "Stopped"));
    assert!(
        running(&emu).await.values().all(|r| !r),
        "every dependent recipe is stopped"
    );
    let msg = rot_message(&client, &ns).await;
    assert!(
        msg.contains("regenerate the token of Salesforce Integration") && msg.contains("Secret sf-token"),
        "{msg}"
    );

    // Regenerate in place: the old token dies, the new one goes into the Secret.
    let new = regenerate_in_place(&client, &ns, &emu).await;
    let done = wait_phase(&client, &ns, "Succeeded").await;
    let st = done.status.unwrap();
    assert!(
        st.recipes.iter().all(|r| r.state.as_str() == "Started"),
        "{:?}",
        st.recipes
    );
    let now = running(&emu).await;
    assert!(
        (1001..=1009).all(|id| now[&id]),
        "every stopped recipe runs again"
    );
    assert!(
        !now[&1010],
        "the recipe stopped before the rotation stays stopped"
    );
    let stops = recipe_calls(&emu, "stop").await;
    let starts = recipe_calls(&emu, "start").await;
    assert_eq!(stops.len(), 9);
    assert_eq!(starts.len(), 9);
    assert!(
        stops.values().chain(starts.values()).all(|n| *n == 1),
        "no recipe stopped or started twice"
    );
    assert!(!stops.contains_key("/api/recipes/1010") && !starts.contains_key("/api/recipes/1010"));
    assert!(connection_tokens(&emu).await.values().all(|t| *t == new));
    assert_eq!(published_token(&client, &ns).await, new);
    print_call_log_and_downtime(&emu).await;
}

/// The emulator's call log of the run (for the record) and each recipe's downtime, stop to start.
async fn print_call_log_and_downtime(emu: &Emulators) {
    let calls = emu.calls().await;
    let at = |c: &serde_json::Value| {
        c["at"]
            .as_str()
            .unwrap_or_default()
            .parse::<jiff::Timestamp>()
            .ok()
    };
    println!("emulator call log (Workato side of the rotation and TrackVia validation):");
    for c in &calls {
        println!(
            "  {} {:<7} {:<45} {:<28} {}",
            c["at"].as_str().unwrap_or_default(),
            c["service"].as_str().unwrap_or_default(),
            c["route"].as_str().unwrap_or_default(),
            c["path"].as_str().unwrap_or_default(),
            c["status"]
        );
    }
    let mut downtimes = Vec::new();
    for c in calls
        .iter()
        .filter(|c| c["route"] == "PUT /api/recipes/{id}/stop")
    {
        let path = c["path"]
            .as_str()
            .unwrap_or_default()
            .trim_end_matches("/stop")
            .to_owned();
        let start = calls.iter().find(|s| {
            s["route"] == "PUT /api/recipes/{id}/start"
                && s["path"].as_str().unwrap_or_default().trim_end_matches("/start") == path
        });
        if let (Some(a), Some(b)) = (at(c), start.and_then(at)) {
            downtimes.push(b.duration_since(a).as_secs_f64());
        }
    }
    let max = downtimes.iter().copied().fold(0.0, f64::max);
    let mean = downtimes.iter().sum::<f64>() / downtimes.len().max(1) as f64;
    println!(
        "recipe downtime over {} recipes: mean {mean:.2} s, max {max:.2} s",
        downtimes.len()
    );
}

async fn rot_message(client: &Client, ns: &str) -> String {
    rotation_of(client, ns)
        .await
        .status
        .unwrap()
        .plan_summary
        .unwrap_or_default()
}

/// A point in a rotation where the operator is killed: a predicate on the rotation's status.
type Boundary = (
    &'static str,
    fn(&trackvia_operator::api::credential_rotation::CredentialRotationStatus) -> bool,
);

fn count(states: impl Iterator<Item = String>, state: &str) -> usize {
    states.filter(|s| s == state).count()
}

fn sar_boundaries() -> Vec<Boundary> {
    vec![
        ("planning (listing recipes)", |s| {
            s.phase.map(|p| p.as_str()) == Some("Pending")
        }),
        ("a stop in flight", |s| {
            s.recipes.iter().any(|r| r.state.as_str() == "Stopping")
        }),
        ("some recipes stopped", |s| {
            s.phase.map(|p| p.as_str()) == Some("Stopping")
                && count(s.recipes.iter().map(|r| r.state.to_string()), "Stopped") >= 3
        }),
        ("waiting for the token", |s| {
            s.phase.map(|p| p.as_str()) == Some("WaitingForToken")
        }),
        ("validating", |s| {
            s.phase.map(|p| p.as_str()) == Some("Validating")
        }),
        ("an update in flight", |s| {
            s.connections.iter().any(|c| c.state.as_str() == "Updating")
        }),
        ("one connection switched", |s| {
            s.phase.map(|p| p.as_str()) == Some("Switching")
                && count(s.connections.iter().map(|c| c.state.to_string()), "Verified") >= 1
        }),
        ("published", |s| {
            matches!(s.phase.map(|p| p.as_str()), Some("Publishing" | "Restarting"))
        }),
        ("a start in flight", |s| {
            s.recipes.iter().any(|r| r.state.as_str() == "Starting")
        }),
        ("some recipes restarted", |s| {
            s.phase.map(|p| p.as_str()) == Some("Restarting")
                && count(s.recipes.iter().map(|r| r.state.to_string()), "Started") >= 3
        }),
    ]
}

fn overlap_boundaries() -> Vec<Boundary> {
    vec![
        ("validating", |s| {
            s.phase.map(|p| p.as_str()) == Some("Validating")
        }),
        ("an update in flight", |s| {
            s.connections.iter().any(|c| c.state.as_str() == "Updating")
        }),
        ("one connection switched", |s| {
            count(s.connections.iter().map(|c| c.state.to_string()), "Verified") == 1
        }),
        ("two connections switched", |s| {
            count(s.connections.iter().map(|c| c.state.to_string()), "Verified") == 2
        }),
        ("published", |s| {
            matches!(
                s.phase.map(|p| p.as_str()),
                Some("Publishing" | "AwaitingRevocation")
            )
        }),
    ]
}

/// Runs one rotation, SIGKILLs the operator when `boundary` is first seen, restarts it, and checks
/// the run ends as an uninterrupted one does and no recipe was stopped or started twice.
async fn killed_at(strategy: &str, boundary: &Boundary) {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::namespace(&client, &format!("kill-{}", strategy.to_ascii_lowercase())).await;
    // Slow vendors make every step long enough to be caught mid-way.
    let emu = Emulators::start_with(&seed(), Duration::from_millis(300)).await;
    let mut op = Operator::start(&ns);
    setup(&client, &ns, &emu, None).await;
    emu.reset_calls().await;
    let new = new_token(&emu).await;
    let sar = strategy == "StopAndRestart";
    if sar {
        support::create::<CredentialRotation>(&client, &ns, json!({
            "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "CredentialRotation", "metadata": {"name": "run"},
            "spec": {"integrationAccountRef": {"name": "sf"}, "strategy": "StopAndRestart"}
        })).await;
    } else {
        put_token(&client, &ns, &new).await;
    }
    let rots: Api<CredentialRotation> = Api::namespaced(client.clone(), &ns);
    let mut token_placed = !sar;
    let mut killed = false;
    let deadline = std::time::Instant::now() + WAIT;
    let final_phase = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "{strategy}, kill at {:?}: the rotation did not finish",
            boundary.0
        );
        let rot = rots
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .next();
        let status = rot.and_then(|r| r.status).unwrap_or_default();
        if !killed && (boundary.1)(&status) {
            op.kill();
            killed = true;
            op.restart();
        }
        if sar && !token_placed && status.phase.map(|p| p.as_str()) == Some("WaitingForToken") {
            // The person regenerates: the old token dies, the new one goes into the Secret.
            revoke_old(&emu).await;
            put_token(&client, &ns, &new).await;
            token_placed = true;
        }
        if !sar && status.phase.map(|p| p.as_str()) == Some("AwaitingRevocation") && killed {
            revoke_old(&emu).await;
        }
        match status.phase.map(|p| p.as_str()) {
            Some(p @ ("Succeeded" | "Failed" | "Aborted")) => break p.to_owned(),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let label = format!("{strategy}, killed at {:?}", boundary.0);
    assert!(killed, "{label}: the boundary was never seen");
    assert_eq!(final_phase, "Succeeded", "{label}");
    assert!(
        connection_tokens(&emu).await.values().all(|t| *t == new),
        "{label}: every connection on the new token"
    );
    assert_eq!(
        published_token(&client, &ns).await,
        new,
        "{label}: the new token is published"
    );
    let stops = recipe_calls(&emu, "stop").await;
    let starts = recipe_calls(&emu, "start").await;
    assert!(
        stops.values().chain(starts.values()).all(|n| *n == 1),
        "{label}: a recipe was stopped or started twice: {stops:?} {starts:?}"
    );
    let now = running(&emu).await;
    if sar {
        assert_eq!((stops.len(), starts.len()), (9, 9), "{label}");
        assert!(
            (1001..=1009).all(|id| now[&id]) && !now[&1010],
            "{label}: {now:?}"
        );
    } else {
        assert!(
            stops.is_empty() && starts.is_empty(),
            "{label}: Overlap stops nothing"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn stop_and_restart_survives_a_kill_at_every_step_boundary() {
    for b in &sar_boundaries() {
        killed_at("StopAndRestart", b).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn overlap_survives_a_kill_at_every_step_boundary() {
    for b in &overlap_boundaries() {
        killed_at("Overlap", b).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn recipes_stopped_by_workato_are_reported_and_restarted_after_the_task_limit() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::namespace(&client, "health").await;
    let emu = Emulators::start(&seed()).await;
    let _op = Operator::start(&ns);
    setup(&client, &ns, &emu, None).await;
    let wcs: Api<WorkatoConnection> = Api::namespaced(client.clone(), &ns);
    let patch = json!({"spec": {"recipes": {"restartAfterTaskLimit": true}}});
    wcs.patch("conn-2", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();

    // The task limit is reached: Workato stops every running recipe with the quota cause.
    emu.control("workato/task-limit", json!({"reached": true})).await;
    let cond = eventually(
        WAIT,
        "RecipesHealthy=False TaskLimitReached on conn-1",
        || async {
            let wc = wcs.get("conn-1").await.ok()?;
            wc.status?
                .common
                .conditions
                .into_iter()
                .find(|c| c.type_ == "RecipesHealthy" && c.reason == "TaskLimitReached")
        },
    )
    .await;
    assert!(
        cond.message.contains("Recipe 1 (1001)") && cond.message.contains("raise or reset"),
        "{}",
        cond.message
    );

    // Lifted: conn-2 (restartAfterTaskLimit) restarts its recipes; conn-1 only reports.
    emu.control("workato/task-limit", json!({"reached": false})).await;
    eventually(WAIT, "conn-2's recipes restarted", || async {
        let r = running(&emu).await;
        [1002, 1005, 1008].iter().all(|id| r[id]).then_some(())
    })
    .await;
    let r = running(&emu).await;
    assert!(
        !r[&1001] && !r[&1004] && !r[&1007],
        "conn-1 restarts nothing by itself"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_request_is_handled_once_a_dry_run_changes_nothing_and_a_lapsed_wait_aborts() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::namespace(&client, "triggers").await;
    let emu = Emulators::start(&seed()).await;
    let _op = Operator::start(&ns);
    setup(&client, &ns, &emu, None).await;
    let rots: Api<CredentialRotation> = Api::namespaced(client.clone(), &ns);
    let ias: Api<IntegrationAccount> = Api::namespaced(client.clone(), &ns);
    emu.reset_calls().await;

    // Dry run: a report, no change.
    support::create::<CredentialRotation>(&client, &ns, json!({
        "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "CredentialRotation", "metadata": {"name": "dry"},
        "spec": {"integrationAccountRef": {"name": "sf"}, "strategy": "StopAndRestart", "dryRun": true}
    })).await;
    let dry = eventually(WAIT, "the dry run finished", || async {
        let r = rots.get("dry").await.ok()?;
        r.status.clone()?.finished_time.is_some().then_some(r)
    })
    .await;
    let st = dry.status.unwrap();
    assert_eq!(
        st.outcome.map(|o| o.as_str()),
        Some("DryRunFailed"),
        "no new token yet: {:?}",
        st.plan_summary
    );
    let summary = st.plan_summary.unwrap();
    assert!(
        summary.contains("would update 3 connections") && summary.contains("18 recipe stop/start calls"),
        "{summary}"
    );
    assert!(recipe_calls(&emu, "stop").await.is_empty());
    assert!(
        emu.calls()
            .await
            .iter()
            .all(|c| !c["route"].as_str().unwrap().starts_with("PUT")),
        "a dry run changes nothing"
    );

    // A declarative request: one rotation, echoed as handled; re-applying it does nothing.
    let at = "2026-11-28T00:00:00Z";
    let patch = json!({"spec": {"rotation": {"requestedAt": at, "newTokenTimeout": "3s"}}});
    ias.patch("sf", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let requested = eventually(WAIT, "the requested rotation", || async {
        rots.list(&Default::default())
            .await
            .ok()?
            .items
            .into_iter()
            .find(|r| {
                r.metadata
                    .name
                    .as_deref()
                    .unwrap_or_default()
                    .contains("-requested-")
            })
    })
    .await;
    eventually(WAIT, "handledRequestedAt echoed", || async {
        let h = ias.get("sf").await.ok()?.status?.rotation?.handled_requested_at?;
        (h.0.to_string() == at).then_some(())
    })
    .await;
    // No new token arrives: the Overlap rotation waits 3 s, then gives up without touching anything.
    let aborted = eventually(WAIT, "the request aborted", || async {
        let r = rots.get(requested.metadata.name.as_deref()?).await.ok()?;
        (r.status.clone()?.phase.map(|p| p.as_str()) == Some("Aborted")).then_some(r)
    })
    .await;
    assert_eq!(
        aborted.status.unwrap().outcome.map(|o| o.as_str()),
        Some("Aborted")
    );
    ias.patch("sf", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let requests = rots
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|r| {
            r.metadata
                .name
                .as_deref()
                .unwrap_or_default()
                .contains("-requested-")
        })
        .count();
    assert_eq!(requests, 1, "re-applying the same requestedAt starts nothing");

    // StopAndRestart whose token never comes while the old one still works: restart and abort.
    support::create::<CredentialRotation>(&client, &ns, json!({
        "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "CredentialRotation", "metadata": {"name": "lapsed"},
        "spec": {"integrationAccountRef": {"name": "sf"}, "strategy": "StopAndRestart"}
    })).await;
    let lapsed = eventually(WAIT, "the lapsed rotation aborted", || async {
        let r = rots.get("lapsed").await.ok()?;
        (r.status.clone()?.phase.map(|p| p.as_str()) == Some("Aborted")).then_some(r)
    })
    .await;
    assert!(
        lapsed
            .status
            .unwrap()
            .recipes
            .iter()
            .all(|r| r.state.as_str() == "Started")
    );
    let now = running(&emu).await;
    assert!((1001..=1009).all(|id| now[&id]) && !now[&1010], "{now:?}");
    assert!(
        recipe_calls(&emu, "stop")
            .await
            .values()
            .chain(recipe_calls(&emu, "start").await.values())
            .all(|n| *n == 1)
    );
}

/// An IntegrationAccount reconcile sees other controllers' objects through their caches, and a
/// cache can lag behind the API server (its watch backing off after an API server restart, or a
/// change arriving through one watch before another). A lagging cache must never let the
/// reconcile overtake a running rotation: neither publish the person's new token itself nor
/// start a second rotation for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_lagging_cache_never_lets_an_account_overtake_a_running_rotation() {
    use kube::runtime::reflector::{self, Store};
    use kube::runtime::watcher::Event;
    use std::sync::Arc;
    use trackvia_operator::controller::{integration_account, run};
    use trackvia_operator::domain::caches::Caches;
    use trackvia_operator::reconcile::{Context, Scoped, Settings};

    /// A synced cache holding exactly `objects`, whatever the API server holds.
    fn frozen<K>(objects: Vec<K>) -> Store<K>
    where
        K: kube::Resource<DynamicType = ()> + Clone + 'static,
    {
        let (reader, mut writer) = reflector::store();
        writer.apply_watcher_event(&Event::Init);
        for o in objects {
            writer.apply_watcher_event(&Event::InitApply(o));
        }
        writer.apply_watcher_event(&Event::InitDone);
        reader
    }

    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::namespace(&client, "lag").await;
    let emu = Emulators::start(&seed()).await;
    let mut op = Operator::start(&ns);
    setup(&client, &ns, &emu, None).await;
    support::create::<CredentialRotation>(&client, &ns, json!({
        "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "CredentialRotation", "metadata": {"name": "regen"},
        "spec": {"integrationAccountRef": {"name": "sf"}, "strategy": "StopAndRestart", "reason": "suspected leak"}
    })).await;
    wait_phase(&client, &ns, "WaitingForToken").await;
    // The operator stops here; the person regenerates the token in place.
    op.kill();
    let new = regenerate_in_place(&client, &ns, &emu).await;

    let key = run::fingerprint_key(&client, &ns).await.unwrap();
    let ia = Api::<IntegrationAccount>::namespaced(client.clone(), &ns)
        .get("sf")
        .await
        .unwrap();
    let wcs = Api::<WorkatoConnection>::namespaced(client.clone(), &ns)
        .list(&Default::default())
        .await
        .unwrap()
        .items;
    let mut finished = rotation_of(&client, &ns).await;
    let st = finished.status.as_mut().unwrap();
    st.phase = Some(trackvia_operator::api::credential_rotation::RotationPhase::Succeeded);
    st.outcome = Some(trackvia_operator::api::credential_rotation::RotationOutcome::Succeeded);
    // Three lags: caches that have seen nothing of the kind; a connection cache that is current
    // while the rotation cache has not seen the rotation; a rotation cache that shows it finished
    // (what a reconcile sees when the rotation publishes and finishes between its reads).
    for (connections, rotations) in [
        (Vec::new(), Vec::new()),
        (wcs.clone(), Vec::new()),
        (wcs, vec![finished]),
    ] {
        let ctx = Context::new(
            client.clone(),
            Arc::new(trackvia_operator::clock::SystemClock),
            key.clone(),
            Settings::default(),
            Arc::new(trackvia_operator::metrics::Metrics::new()),
        );
        let ctx = Scoped {
            base: Arc::new(ctx),
            own: integration_account::Own {
                caches: Caches {
                    integration_accounts: None,
                    connections: Some(frozen(connections)),
                    rotations: Some(frozen(rotations)),
                },
                directory: Default::default(),
            },
        };
        integration_account::reconcile(Arc::new(ia.clone()), Arc::new(ctx))
            .await
            .unwrap();
        let rotations: Vec<String> = Api::<CredentialRotation>::namespaced(client.clone(), &ns)
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .iter()
            .map(|r| r.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(rotations, ["regen"], "no second rotation is started");
        // (Compared, not printed: the values are credentials.)
        assert!(
            published_token(&client, &ns).await == OLD,
            "the running rotation publishes the new token, not the account"
        );
    }

    // The operator comes back and the rotation finishes as usual.
    op.restart();
    wait_phase(&client, &ns, "Succeeded").await;
    assert!(published_token(&client, &ns).await == new);
    assert!(connection_tokens(&emu).await.values().all(|t| *t == new));
}
