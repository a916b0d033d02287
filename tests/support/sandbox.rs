//! The smallest TrackVia setup the operational tests share: one sandbox account in the emulator
//! (an admin and a Salesforce integration user), its admin Secret `tv-admin`, and TrackViaAccounts
//! pointing at it; and who holds the leader Lease.

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};
use serde_json::json;
use trackvia_operator::api::TrackViaAccount;

use super::operator::Emulators;

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

/// Creates Secret `tv-admin` with the account's admin credentials.
pub async fn admin_secret(client: &Client, ns: &str) {
    Api::<Secret>::namespaced(client.clone(), ns)
        .create(
            &Default::default(),
            &super::secret(
                "tv-admin",
                &[
                    ("apiKey", "sbx-api-key-0001"),
                    ("authToken", "sbx-admin-token-0001"),
                ],
                &[],
            ),
        )
        .await
        .unwrap();
}

/// Creates TrackViaAccount `name` on the emulator, with the admin Secret `tv-admin`.
pub async fn account(client: &Client, ns: &str, emu: &Emulators, name: &str) {
    super::create::<TrackViaAccount>(client, ns, json!({
        "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "TrackViaAccount", "metadata": {"name": name},
        "spec": {"baseUrl": emu.trackvia(), "environment": "sandbox",
                 "adminCredentials": {"apiKey": {"name": "tv-admin", "key": "apiKey"}, "authToken": {"name": "tv-admin", "key": "authToken"}}}
    })).await;
}

/// `Some` once TrackViaAccount `name` is Ready.
pub async fn account_ready(client: &Client, ns: &str, name: &str) -> Option<()> {
    let a = Api::<TrackViaAccount>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .ok()?;
    a.status?
        .common
        .conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True")
        .then_some(())
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
