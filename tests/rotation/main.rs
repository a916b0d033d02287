//! WorkatoConnection and CredentialRotation end to end: the operator binary on the real API
//! server against both emulators. Run through `make test`. One module per scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)] // test code: failing loudly is the point; the run prints its call log

#[path = "../support/mod.rs"]
mod support;

mod connections;
mod kills_at_step_boundaries;
mod lagging_cache;
mod overlap;
mod requests_and_dry_run;
mod stop_and_restart;

use kube::Client;
use trackvia_operator::api::CredentialRotation;

use support::world::{condition, rotations, typed, wait_phase};

/// The namespace's one rotation.
async fn rotation_of(client: &Client, ns: &str) -> CredentialRotation {
    typed(
        rotations(client, ns)
            .await
            .into_iter()
            .next()
            .expect("a rotation"),
    )
}

/// Waits for a rotation in `phase`.
async fn wait_phase_of(client: &Client, ns: &str, phase: &str) -> CredentialRotation {
    typed(wait_phase(client, ns, phase).await)
}

/// Status and reason of condition `t` of the namespace's one rotation.
async fn rot_condition(client: &Client, ns: &str, t: &str) -> (String, String) {
    let r = rotations(client, ns)
        .await
        .into_iter()
        .next()
        .expect("a rotation");
    let (status, reason, _) = condition(&r, t).unwrap();
    (status, reason)
}

/// The plan summary of the namespace's one rotation.
async fn rot_message(client: &Client, ns: &str) -> String {
    rotation_of(client, ns)
        .await
        .status
        .unwrap()
        .plan_summary
        .unwrap_or_default()
}
