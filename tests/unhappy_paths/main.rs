//! The rotation's unhappy paths end to end, one test per behaviour that used to break the
//! rotation's promise (issue 11): the operator binary on the real API server against both
//! emulators. Statuses are read as JSON by their serialized names. Run through `make test`. One
//! module per scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)] // test code

#[path = "../support/mod.rs"]
mod support;

mod adoption;
mod approval_windows;
mod deletion;
mod guards;
mod left_stopped;
mod mid_switch;
mod monitoring;
mod outages;
mod revocation;
mod unreadable_secret;

use std::time::{Duration, Instant};

use kube::Client;
use serde_json::Value;

use support::operator::Emulators;
use support::world::{WAIT, rotations, running, states};

fn verified(r: &Value) -> usize {
    states(r, "connections")
        .iter()
        .filter(|s| **s == "Verified")
        .count()
}

/// Waits, polling fast, until a rotation has `n` verified connections.
async fn wait_verified(client: &Client, ns: &str, n: usize) {
    let deadline = Instant::now() + WAIT;
    loop {
        if rotations(client, ns).await.iter().any(|r| verified(r) >= n) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no rotation reached {n} verified connections"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn all_running(emu: &Emulators) -> bool {
    let r = running(emu).await;
    (1001..=1009).all(|id| r[&id])
}
