//! SIGKILLs of the operator at every step boundary of both strategies: each run ends as an
//! uninterrupted one does, and no recipe is stopped or started twice.

use std::time::Duration;

use kube::api::Api;
use serde_json::json;
use trackvia_operator::api::CredentialRotation;

use crate::support::operator::Operator;
use crate::support::world::{
    WAIT, connection_tokens, emulated, new_token, published_token, put_token, recipe_calls, revoke_old,
    rotation, running, setup,
};

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
    // Slow vendors make every step long enough to be caught mid-way.
    let (client, ns, emu) = emulated(&format!("kill-{}", strategy.to_ascii_lowercase()), 300).await;
    let mut op = Operator::start(&ns);
    setup(&client, &ns, &emu, None).await;
    emu.reset_calls().await;
    let new = new_token(&emu).await;
    let sar = strategy == "StopAndRestart";
    if sar {
        rotation(&client, &ns, "run", json!({"strategy": "StopAndRestart"})).await;
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
