//! What TrackVia really answers, end to end on the API server: a user deactivated after it was
//! active, the 3scale gateway refusing the API key with 403, and a user list longer than a page.

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use serde_json::json;
use trackvia_operator::api::{IntegrationAccount, TrackViaAccount};

use super::{SANDBOX, accounts, integration, wait_reason};
use crate::support::operator::{Emulators, Operator};
use crate::support::sandbox::{admin_secret_with, trackvia_account};
use crate::support::world::{events, wait_condition};

/// An account whose integration user (on the third page of 10 when the filler users are there)
/// has done the UI steps already.
fn seed(filler: usize) -> String {
    let users: String = (0..filler)
        .map(|i| {
            format!(
                "        - {{email: filler{i:02}@acme.example, firstName: F{i}, lastName: Filler, status: Active}}\n"
            )
        })
        .collect();
    format!(
        r#"
trackvia:
  accounts:
    - id: 21508
      name: ACME Sandbox
      environment: sandbox
      apiKey: sbx-api-key-0001
      apps: [{{id: 1, name: CRM}}]
      views: [{{id: 10, name: Accounts, app: CRM}}]
      roles:
        - {{name: Super Admin, admin: true}}
        - {{name: Salesforce Integration, apps: [CRM], views: [Accounts]}}
      users:
        - {{id: 1, email: admin@acme.example, firstName: Ada, lastName: Admin, status: Active, apiUser: true, role: Super Admin}}
{users}        - {{email: salesforce.integration@acme.example, firstName: Salesforce, lastName: Integration, status: Active, apiUser: true, role: Salesforce Integration}}
      tokens:
        - {{id: 1, value: sbx-admin-token-0001, user: admin@acme.example, name: operator, expiresAt: "2030-01-01T00:00:00Z"}}
    - id: 31000
      name: ACME
      environment: production
      apiKey: prod-api-key-0001
      apps: [{{id: 1, name: CRM}}]
      views: [{{id: 10, name: Accounts, app: CRM}}]
      roles: [{{name: Super Admin, admin: true}}]
      users:
        - {{id: 1, email: admin@acme.example, firstName: Ada, lastName: Admin, status: Active, apiUser: true, role: Super Admin}}
      tokens:
        - {{id: 1, value: prod-admin-token-0001, user: 1, name: operator, expiresAt: "2030-01-01T00:00:00Z"}}
workato:
  workspaces: []
"#
    )
}

/// The Salesforce IntegrationAccount with its token in place.
async fn salesforce(client: &kube::Client, ns: &str, emu: &Emulators) -> String {
    let token = emu
        .create_token(
            SANDBOX,
            "salesforce.integration@acme.example",
            "2030-01-01T00:00:00Z",
        )
        .await;
    crate::support::create_secret(client, ns, "salesforce-token", &[("token", &token)]).await;
    crate::support::create::<IntegrationAccount>(
        client,
        ns,
        integration(
            "salesforce",
            "Salesforce",
            "salesforce.integration@acme.example",
            "acme-sandbox",
            &["Accounts"],
        ),
    )
    .await;
    token
}

async fn wait_ready(client: &kube::Client, ns: &str) -> IntegrationAccount {
    wait_reason(client, ns, "salesforce", "Ready", "Ready").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_user_deactivated_after_it_was_active_is_seen() {
    let (client, ns) = crate::support::cluster("ia-deact").await;
    let emu = Emulators::start(&seed(0)).await;
    accounts(&client, &ns, &emu).await;
    salesforce(&client, &ns, &emu).await;
    let identity = format!("{ns}-operator");
    let op = Operator::start_with(&ns, &identity, &["--user-recheck-interval", "1s"], &[]);
    wait_ready(&client, &ns).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let published = secrets.get("salesforce-credentials").await.unwrap().data;

    // A person deactivates the user in TrackVia's UI.
    emu.control(
        &format!("trackvia/accounts/{SANDBOX}/users/salesforce.integration@acme.example/deactivate"),
        json!({}),
    )
    .await;
    let ia = wait_reason(&client, &ns, "salesforce", "UserVerified", "UserInactive").await;
    let status = ia.status.clone().unwrap();
    let ready = super::condition(&ia, "Ready").unwrap();
    assert_eq!(ready.0, "False", "{ready:?}");
    let next = status.next_action.unwrap();
    assert!(
        next.contains("reactivate the user in TrackVia") && next.contains("Salesforce Integration"),
        "{next}"
    );
    assert_eq!(status.user.unwrap().state.as_deref(), Some("Inactive"));
    let warned = events(&client, &ns, "salesforce").await;
    assert!(
        warned
            .iter()
            .any(|(kind, reason, _)| kind == "Warning" && reason == "UserInactive"),
        "{warned:?}"
    );
    // The credentials Secret is left as it is.
    assert_eq!(
        secrets.get("salesforce-credentials").await.unwrap().data,
        published
    );

    // Reactivated: Ready again.
    emu.control(
        &format!("trackvia/accounts/{SANDBOX}/users/salesforce.integration@acme.example/activate"),
        json!({}),
    )
    .await;
    wait_reason(&client, &ns, "salesforce", "UserVerified", "Verified").await;
    drop(op);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_gateway_403_for_a_bad_api_key_reads_as_an_invalid_api_key() {
    let (client, ns) = crate::support::cluster("tv-gateway").await;
    let emu = Emulators::start(&seed(0)).await;
    // The 3scale gateway in front of TrackVia answers the bad key, with its default 403.
    emu.control("trackvia/behaviour", json!({"invalidKey": "gateway"}))
        .await;
    admin_secret_with(
        &client,
        &ns,
        "tv-admin",
        "not-the-api-key",
        "sbx-admin-token-0001",
    )
    .await;
    trackvia_account(
        &client,
        &ns,
        &emu,
        "acme-sandbox",
        "sandbox",
        "tv-admin",
        Some(SANDBOX),
    )
    .await;
    let _op = Operator::start(&ns);
    let account = wait_condition::<TrackViaAccount>(&client, &ns, "acme-sandbox", "CredentialsValid", |c| {
        c.0 == "False"
    })
    .await;
    let (_, reason, message) = crate::support::world::condition(&account, "CredentialsValid").unwrap();
    assert_eq!(reason, "ApiKeyInvalid", "not NotAdmin: {message}");
    assert!(message.contains("403"), "{message}");
    assert!(message.contains("API key"), "{message}");
    assert!(!message.contains("not-the-api-key"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_user_on_the_third_page_of_the_list_is_found_not_created() {
    let (client, ns) = crate::support::cluster("ia-pages").await;
    let emu = Emulators::start(&seed(25)).await;
    // TrackVia cuts each page at 10 users, whatever `max` the operator asks for: the user is
    // the 27th, on the third page.
    emu.control("trackvia/behaviour", json!({"maxPageSize": 10}))
        .await;
    accounts(&client, &ns, &emu).await;
    salesforce(&client, &ns, &emu).await;
    let _op = Operator::start(&ns);
    let ia = wait_ready(&client, &ns).await;
    let user = ia.status.unwrap().user.unwrap();
    assert_eq!(user.state.as_deref(), Some("Active"));
    assert_eq!(user.created_by_operator, Some(false), "adopted, not created");
    let calls = emu.calls().await;
    assert!(
        !calls.iter().any(|c| c["route"] == "POST /openapi/users"),
        "the operator tried to create a user the list holds"
    );
    let pages: Vec<String> = calls
        .iter()
        .filter(|c| c["route"] == "GET /openapi/users")
        .map(|c| c["query"].to_string())
        .collect();
    assert!(
        pages.iter().any(|q| q.contains("start=20")),
        "the third page was read: {pages:?}"
    );
}
