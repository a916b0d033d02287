//! The connector behind a WorkatoConnection (issue 13): what Workato says of it is read before
//! the first push; the Auth Token type is set explicitly; a connector that cannot take the
//! credentials is refused with nothing pushed; custom connectors are discovered and used; an
//! OAuth connection is migrated to the dedicated user only on opt-in, in stages. The operator
//! binary on the real API server against both emulators; run through `make test`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)] // test code

#[path = "../support/mod.rs"]
mod support;

mod auth_type;
mod custom;
mod oauth_migration;

use std::time::Duration;

use kube::Client;
use serde_json::Value;
use trackvia_emulator::Seed;

use support::operator::Emulators;
use support::world::{dev_workspace, seed_with};

/// A fresh namespace and the emulators with `extra` connections, recipes and custom connectors
/// in the dev workspace; `oauth_default`: an input that names no authentication type is OAuth.
async fn world(
    prefix: &str,
    connections: &str,
    recipes: &str,
    custom: &str,
    oauth_default: bool,
) -> (Client, String, Emulators) {
    let (client, ns) = support::cluster(prefix).await;
    let mut yaml = seed_with(connections, recipes);
    if !custom.is_empty() {
        yaml = yaml.replacen(
            "      connections:\n",
            &format!("      customConnectors:\n{custom}      connections:\n"),
            1,
        );
    }
    let seed = Seed::from_yaml_str(&yaml).expect("valid seed");
    let emu = Emulators::start_configured(seed, Duration::ZERO, |c| {
        c.trackvia_input_keys.auth_type.default_oauth = oauth_default;
    })
    .await;
    (client, ns, emu)
}

/// The input a connection of the dev workspace holds (the emulator's state; never a vendor API).
async fn input_of(emu: &Emulators, id: i64) -> Value {
    let state = emu.get("state").await;
    dev_workspace(&state)["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .map(|c| c["input"].clone())
        .unwrap_or_default()
}
