//! The objects of each case: wrong in context, right by the schema.

use kube::Client;
use serde_json::json;
use trackvia_operator::api::{CredentialRotation, IntegrationAccount, WorkatoConnection};

use crate::support::create_secret as secret;
use crate::support::operator::Emulators;
use crate::support::sandbox::trackvia_account;
use crate::support::world::workspace as named_workspace;

/// TrackViaAccount `name` on the emulator's TrackVia.
async fn account(client: &Client, ns: &str, emu: &Emulators, name: &str, env: &str, secret_name: &str) {
    trackvia_account(client, ns, emu, name, env, secret_name, None).await;
}

/// WorkatoWorkspace `dev` (sandbox) with its token in Secret `secret_name`.
async fn workspace(client: &Client, ns: &str, emu: &Emulators, secret_name: &str) {
    named_workspace(client, ns, emu, "dev", "sandbox", secret_name).await;
}

async fn integration(client: &Client, ns: &str, account_ref: &str, token_secret: &str) {
    crate::support::create::<IntegrationAccount>(client, ns, json!({
        "apiVersion": crate::support::API, "kind": "IntegrationAccount", "metadata": {"name": "sf"},
        "spec": {"accountRef": {"name": account_ref}, "system": "Salesforce", "email": "salesforce.integration@acme.example",
                 "tokenSecretRef": {"name": token_secret, "key": "token"}, "credentialsSecret": {"name": "sf-credentials"}}
    })).await;
}

/// A working sandbox account, workspace and IntegrationAccount (for the cases about what builds
/// on them).
async fn good_base(client: &Client, ns: &str, emu: &Emulators) {
    secret(
        client,
        ns,
        "tv-admin",
        &[
            ("apiKey", "sbx-api-key-0001"),
            ("authToken", "sbx-admin-token-0001"),
        ],
    )
    .await;
    secret(client, ns, "wk-dev", &[("token", "wk-dev-token-0001")]).await;
    secret(client, ns, "sf-token", &[("token", "sf-sandbox-token-0001")]).await;
    account(client, ns, emu, "acme", "sandbox", "tv-admin").await;
    workspace(client, ns, emu, "wk-dev").await;
    integration(client, ns, "acme", "sf-token").await;
}

/// Creates the case's objects in `ns` (`other` is a second namespace for cross-namespace cases).
pub(crate) async fn arrange(i: usize, client: &Client, ns: &str, other: &str, emu: &Emulators) {
    match i {
        0 => {
            secret(client, ns, "sf-token", &[("token", "sf-sandbox-token-0001")]).await;
            integration(client, ns, "nope", "sf-token").await;
        }
        1 => {
            // The account exists, but in another namespace: references are namespace-local.
            secret(
                client,
                other,
                "tv-admin",
                &[
                    ("apiKey", "sbx-api-key-0001"),
                    ("authToken", "sbx-admin-token-0001"),
                ],
            )
            .await;
            account(client, other, emu, "elsewhere", "sandbox", "tv-admin").await;
            secret(client, ns, "sf-token", &[("token", "sf-sandbox-token-0001")]).await;
            integration(client, ns, "elsewhere", "sf-token").await;
        }
        2 => {
            secret(
                client,
                ns,
                "tv-admin",
                &[("api-key", "sbx-api-key-0001"), ("token", "sbx-admin-token-0001")],
            )
            .await;
            account(client, ns, emu, "acme", "sandbox", "tv-admin").await;
        }
        3 => {
            secret(
                client,
                ns,
                "tv-admin",
                &[
                    ("apiKey", "sbx-api-key-0001"),
                    ("authToken", "sbx-admin-token-0001"),
                ],
            )
            .await;
            account(client, ns, emu, "acme", "sandbox", "tv-admin").await;
            secret(client, ns, "sf-token", &[("value", "sf-sandbox-token-0001")]).await;
            integration(client, ns, "acme", "sf-token").await;
        }
        4 => {
            secret(
                client,
                ns,
                "tv-admin",
                &[
                    ("apiKey", "sbx-api-key-0001"),
                    ("authToken", "sbx-admin-token-0001"),
                ],
            )
            .await;
            secret(
                client,
                ns,
                "tv-prod-admin",
                &[
                    ("apiKey", "prod-api-key-0001"),
                    ("authToken", "prod-admin-token-0001"),
                ],
            )
            .await;
            account(client, ns, emu, "acme", "sandbox", "tv-admin").await;
            account(client, ns, emu, "acme-prod", "production", "tv-prod-admin").await;
            secret(client, ns, "sf-token", &[("token", "sf-prod-token-0001")]).await;
            integration(client, ns, "acme", "sf-token").await;
        }
        5 => workspace(client, ns, emu, "wk-absent").await,
        6 | 7 => {
            good_base(client, ns, emu).await;
            let (ws, conn) = if i == 6 { ("nope", 100) } else { ("dev", 999_999) };
            crate::support::create::<WorkatoConnection>(client, ns, json!({
                "apiVersion": crate::support::API, "kind": "WorkatoConnection", "metadata": {"name": "conn"},
                "spec": {"workspaceRef": {"name": ws}, "integrationAccountRef": {"name": "sf"}, "connection": {"id": conn}}
            })).await;
        }
        8 => {
            crate::support::create::<CredentialRotation>(
                client,
                ns,
                json!({
                    "apiVersion": crate::support::API, "kind": "CredentialRotation", "metadata": {"name": "rot"},
                    "spec": {"integrationAccountRef": {"name": "nope"}, "strategy": "StopAndRestart"}
                }),
            )
            .await;
        }
        _ => unreachable!(),
    }
}
