//! The IntegrationAccount controller end to end: the real operator binary on the real API
//! server, against the TrackVia emulator. Run through `make test`. One module per scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

#[path = "../support/mod.rs"]
mod support;

mod crash;
mod deletion;
mod failures;
mod provisioning;
mod requests;
mod trackvia_answers;

use k8s_openapi::api::core::v1::Event;
use kube::Client;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};
use support::operator::{Emulators, Operator};
use support::sandbox::{admin_secret_with, trackvia_account};
use support::world::{json_of, typed, wait_condition};
use trackvia_operator::api::IntegrationAccount;

const SANDBOX: i64 = 21508;
const PRODUCTION: i64 = 31000;

const SEED: &str = r#"
trackvia:
  accounts:
    - id: 21508
      name: ACME Sandbox
      environment: sandbox
      apiKey: sbx-api-key-0001
      apps: [{id: 1, name: CRM}, {id: 2, name: HR}]
      views:
        - {id: 10, name: Accounts, app: CRM}
        - {id: 11, name: Opportunities, app: CRM}
        - {id: 20, name: Employees, app: HR}
      roles:
        - {name: Super Admin, admin: true}
        - {name: Salesforce Integration, apps: [CRM], views: [Accounts, Opportunities]}
        - {name: Accounts Only, apps: [CRM], views: [Accounts]}
        - {name: Everything Limited, apps: [CRM, HR], views: [Accounts, Opportunities, Employees]}
      users:
        - {id: 1, email: admin@acme.example, firstName: Ada, lastName: Admin, status: Active, apiUser: true, role: Super Admin}
        - {email: wrongenv.integration@acme.example, firstName: wrongenv, lastName: Integration, status: Active, apiUser: true, role: Salesforce Integration}
        - {email: expired.integration@acme.example, firstName: expired, lastName: Integration, status: Active, apiUser: true, role: Salesforce Integration}
        - {email: deactivated.integration@acme.example, firstName: deactivated, lastName: Integration, status: Active, apiUser: true, role: Salesforce Integration}
        - {email: missing.integration@acme.example, firstName: missing, lastName: Integration, status: Active, apiUser: true, role: Accounts Only}
        - {email: excess.integration@acme.example, firstName: excess, lastName: Integration, status: Active, apiUser: true, role: Everything Limited}
        - {email: nosecret.integration@acme.example, firstName: nosecret, lastName: Integration, status: Active, apiUser: true, role: Salesforce Integration}
        - {email: nokey.integration@acme.example, firstName: nokey, lastName: Integration, status: Active, apiUser: true, role: Salesforce Integration}
        - {email: foreign.integration@acme.example, firstName: foreign, lastName: Integration, status: Active, apiUser: true, role: Salesforce Integration}
      tokens:
        - {id: 1, value: sbx-admin-token-0001, user: admin@acme.example, name: operator, expiresAt: "2030-01-01T00:00:00Z"}
    - id: 31000
      name: ACME
      environment: production
      apiKey: prod-api-key-0001
      apps: [{id: 1, name: CRM}]
      views: [{id: 10, name: Accounts, app: CRM}, {id: 11, name: Opportunities, app: CRM}]
      roles:
        - {name: Super Admin, admin: true}
        - {name: Salesforce Integration, apps: [CRM], views: [Accounts, Opportunities]}
      users:
        - {id: 1, email: admin@acme.example, firstName: Ada, lastName: Admin, status: Active, apiUser: true, role: Super Admin}
        - {email: wrongenv.integration@acme.example, firstName: wrongenv, lastName: Integration, status: Active, apiUser: true, role: Salesforce Integration}
      tokens:
        - {id: 1, value: prod-admin-token-0001, user: 1, name: operator, expiresAt: "2030-01-01T00:00:00Z"}
workato:
  workspaces: []
"#;

/// Admin Secret + TrackViaAccount for the sandbox (and production) account of the emulator.
async fn accounts(client: &Client, ns: &str, emu: &Emulators) {
    admin_secret_with(
        client,
        ns,
        "tv-sandbox-admin",
        "sbx-api-key-0001",
        "sbx-admin-token-0001",
    )
    .await;
    admin_secret_with(
        client,
        ns,
        "tv-prod-admin",
        "prod-api-key-0001",
        "prod-admin-token-0001",
    )
    .await;
    for (name, env, id, secret) in [
        ("acme-sandbox", "sandbox", SANDBOX, "tv-sandbox-admin"),
        ("acme-prod", "production", PRODUCTION, "tv-prod-admin"),
    ] {
        trackvia_account(client, ns, emu, name, env, secret, Some(id)).await;
    }
}

fn integration(name: &str, system: &str, email: &str, account: &str, views: &[&str]) -> Value {
    json!({
        "apiVersion": support::API, "kind": "IntegrationAccount",
        "metadata": {"name": name},
        "spec": {
            "accountRef": {"name": account},
            "system": system,
            "email": email,
            "access": {"apps": ["CRM"], "views": views.iter().map(|v| json!({"name": v, "app": "CRM"})).collect::<Vec<_>>()},
            "tokenSecretRef": {"name": format!("{name}-token"), "key": "token"},
            "credentialsSecret": {"name": format!("{name}-credentials")},
        }
    })
}

/// Status, reason and message of condition `type_`.
fn condition(ia: &IntegrationAccount, type_: &str) -> Option<(String, String, String)> {
    support::world::condition(&json_of(ia), type_)
}

/// Waits until condition `type_` of IntegrationAccount `name` has `reason`.
async fn wait_reason(client: &Client, ns: &str, name: &str, type_: &str, reason: &str) -> IntegrationAccount {
    typed(wait_condition::<IntegrationAccount>(client, ns, name, type_, |c| c.1 == reason).await)
}

/// Every place a credential could leak to, except the published Secret that exists to hold it.
async fn assert_no_leak(client: &Client, ns: &str, op: &Operator, tokens: &[&str]) {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let events = serde_json::to_string(&events.list(&ListParams::default()).await.unwrap().items).unwrap();
    let statuses: Vec<Value> = Api::<IntegrationAccount>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|i| serde_json::to_value(&i.status).unwrap())
        .collect();
    let statuses = serde_json::to_string(&statuses).unwrap();
    let accounts = serde_json::to_string(
        &Api::<trackvia_operator::api::TrackViaAccount>::namespaced(client.clone(), ns)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items,
    )
    .unwrap();
    let log = op.log_text();
    assert!(
        !log.is_empty(),
        "the operator logged nothing: the scan would prove nothing"
    );
    for t in tokens {
        for (place, text) in [
            ("events", &events),
            ("status", &statuses),
            ("accounts", &accounts),
            ("operator log", &log),
        ] {
            assert!(!text.contains(t), "a credential appears in the {place}");
        }
    }
}
