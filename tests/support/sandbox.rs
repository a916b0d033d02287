//! The smallest TrackVia setup the operational tests share: one sandbox account in the emulator
//! (an admin and a Salesforce integration user), its admin Secret `tv-admin`, and TrackViaAccounts
//! pointing at it; and who holds the leader Lease.

use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use serde_json::json;
use trackvia_operator::api::TrackViaAccount;

use std::time::Duration;

use super::operator::{Emulators, Operator, eventually};

/// The emulator's seed.
pub const SEED: &str = r#"
trackvia:
  accounts:
    - id: 21508
      name: ACME Sandbox
      environment: sandbox
      apiKey: sbx-api-key-0001
      apps: [{id: 1, name: CRM}]
      views: [{id: 10, name: Accounts, app: CRM}]
      roles:
        - {name: Super Admin, admin: true}
        - {name: Salesforce Integration, apps: [CRM], views: [Accounts]}
      users:
        - {id: 1, email: admin@acme.example, firstName: Ada, lastName: Admin, status: Active, apiUser: true, role: Super Admin}
        - {id: 2, email: salesforce.integration@acme.example, firstName: Salesforce, lastName: Integration, status: Active, apiUser: true, role: Salesforce Integration}
      tokens:
        - {id: 1, value: sbx-admin-token-0001, user: 1, name: operator, expiresAt: "2030-01-01T00:00:00Z"}
        - {id: 2, value: sf-token-0000000001, user: 2, name: sf, expiresAt: "2030-01-01T00:00:00Z"}
workato:
  workspaces: []
"#;

/// Creates Secret `tv-admin` with the sandbox account's admin credentials.
pub async fn admin_secret(client: &Client, ns: &str) {
    admin_secret_with(client, ns, "tv-admin", "sbx-api-key-0001", "sbx-admin-token-0001").await;
}

/// Creates Secret `name` with TrackVia admin credentials under the keys a TrackViaAccount reads.
pub async fn admin_secret_with(client: &Client, ns: &str, name: &str, api_key: &str, auth_token: &str) {
    super::create_secret(
        client,
        ns,
        name,
        &[("apiKey", api_key), ("authToken", auth_token)],
    )
    .await;
}

/// Creates TrackViaAccount `name` on the emulator, sandbox, with the admin Secret `tv-admin`.
pub async fn account(client: &Client, ns: &str, emu: &Emulators, name: &str) {
    trackvia_account(client, ns, emu, name, "sandbox", "tv-admin", None).await;
}

/// Creates TrackViaAccount `name` on the emulator: environment `env`, admin credentials in Secret
/// `secret` (keys `apiKey`, `authToken`), and the account id when given.
pub async fn trackvia_account(
    client: &Client,
    ns: &str,
    emu: &Emulators,
    name: &str,
    env: &str,
    secret: &str,
    account_id: Option<i64>,
) {
    let mut spec = json!({"baseUrl": emu.trackvia(), "environment": env,
        "adminCredentials": {"apiKey": {"name": secret, "key": "apiKey"}, "authToken": {"name": secret, "key": "authToken"}}});
    if let Some(id) = account_id {
        spec["accountId"] = json!(id.to_string());
    }
    super::create::<TrackViaAccount>(
        client,
        ns,
        json!({"apiVersion": super::API, "kind": "TrackViaAccount", "metadata": {"name": name}, "spec": spec}),
    )
    .await;
}

/// `Some` once TrackViaAccount `name` is Ready.
pub async fn account_ready(client: &Client, ns: &str, name: &str) -> Option<()> {
    let a = Api::<TrackViaAccount>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .ok()?;
    super::is_ready(&a.status?.common.conditions).then_some(())
}

/// The identity holding the operator's leader Lease in `ns`.
pub async fn lease_holder(client: &Client, ns: &str) -> Option<String> {
    Api::<Lease>::namespaced(client.clone(), ns)
        .get_opt("trackvia-operator-leader")
        .await
        .ok()
        .flatten()?
        .spec?
        .holder_identity
}

/// Two replicas in `ns`: `<ns>-a` leading, then `<ns>-b` standing by (it said it waits).
pub async fn leader_and_standby(client: &Client, ns: &str) -> (Operator, Operator) {
    leader_and_standby_with(client, ns, &[]).await
}

/// Like [`leader_and_standby`], both replicas with `extra` flags.
pub async fn leader_and_standby_with(client: &Client, ns: &str, extra: &[&str]) -> (Operator, Operator) {
    let a = Operator::start_with(ns, &format!("{ns}-a"), extra, &[]);
    eventually(Duration::from_secs(30), "replica a leads", || async {
        (lease_holder(client, ns).await? == format!("{ns}-a")).then_some(())
    })
    .await;
    let b = Operator::start_with(ns, &format!("{ns}-b"), extra, &[]);
    eventually(
        Duration::from_secs(30),
        "replica b waits for leadership",
        || async { b.log_text().contains("waiting for leadership").then_some(()) },
    )
    .await;
    (a, b)
}
