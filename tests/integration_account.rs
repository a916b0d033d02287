//! The IntegrationAccount controller end to end: the real operator binary on the real API
//! server, against the TrackVia emulator. Run through `make test`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use support::operator::{Emulators, Operator, eventually};
use trackvia_operator::api::IntegrationAccount;

const SANDBOX: i64 = 21508;
const PRODUCTION: i64 = 31000;
const WAIT: Duration = Duration::from_secs(60);

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
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    for (name, key, token) in [
        ("tv-sandbox-admin", "sbx-api-key-0001", "sbx-admin-token-0001"),
        ("tv-prod-admin", "prod-api-key-0001", "prod-admin-token-0001"),
    ] {
        secrets
            .create(
                &PostParams::default(),
                &support::secret(name, &[("apiKey", key), ("authToken", token)], &[]),
            )
            .await
            .unwrap();
    }
    for (name, env, id, secret) in [
        ("acme-sandbox", "sandbox", SANDBOX, "tv-sandbox-admin"),
        ("acme-prod", "production", PRODUCTION, "tv-prod-admin"),
    ] {
        support::create::<trackvia_operator::api::TrackViaAccount>(
            client,
            ns,
            json!({
                "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "TrackViaAccount",
                "metadata": {"name": name},
                "spec": {"baseUrl": emu.trackvia(), "accountId": id.to_string(), "environment": env,
                         "adminCredentials": {"apiKey": {"name": secret, "key": "apiKey"}, "authToken": {"name": secret, "key": "authToken"}}}
            }),
        )
        .await;
    }
}

fn integration(name: &str, system: &str, email: &str, account: &str, views: &[&str]) -> Value {
    json!({
        "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "IntegrationAccount",
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

fn condition(ia: &IntegrationAccount, type_: &str) -> Option<(String, String, String)> {
    ia.status
        .as_ref()?
        .common
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

async fn wait_reason(
    api: &Api<IntegrationAccount>,
    name: &str,
    type_: &str,
    reason: &str,
) -> IntegrationAccount {
    eventually(WAIT, &format!("{name}: {type_} reason {reason}"), || async {
        let ia = api.get(name).await.ok()?;
        (condition(&ia, type_)?.1 == reason).then_some(ia)
    })
    .await
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn provisions_guides_verifies_and_publishes() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::namespace(&client, "ia-path").await;
    let emu = Emulators::start(SEED).await;
    accounts(&client, &ns, &emu).await;
    support::create::<IntegrationAccount>(
        &client,
        &ns,
        integration(
            "salesforce",
            "Salesforce",
            "salesforce.integration@acme.example",
            "acme-sandbox",
            &["Accounts", "Opportunities"],
        ),
    )
    .await;
    let op = Operator::start(&ns);
    let api: Api<IntegrationAccount> = Api::namespaced(client.clone(), &ns);

    // The operator creates the user, which waits for its invitation to be accepted.
    let ia = wait_reason(&api, "salesforce", "UserVerified", "Unverified").await;
    let user = ia.status.as_ref().unwrap().user.clone().unwrap();
    assert_eq!(user.state.as_deref(), Some("Unverified"));
    assert_eq!(user.created_by_operator, Some(true));
    assert!(
        ia.finalizers()
            .iter()
            .any(|f| f == "integrations.trackvia-operator.dev/trackvia-user")
    );
    let next = ia.status.as_ref().unwrap().next_action.clone().unwrap();
    assert!(
        next.contains("accept the TrackVia invitation sent to salesforce.integration@acme.example"),
        "{next}"
    );
    let state = emu.get("state").await;
    let users: Vec<&Value> = state["trackvia"]["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == SANDBOX)
        .unwrap()["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["email"] == "salesforce.integration@acme.example")
        .collect();
    assert_eq!(users.len(), 1);
    assert_eq!(
        (users[0]["firstName"].as_str(), users[0]["lastName"].as_str()),
        (Some("Salesforce"), Some("Integration"))
    );

    // The person accepts the invitation; the operator now asks for the API-user steps and the token.
    emu.control(
        &format!("trackvia/accounts/{SANDBOX}/users/salesforce.integration@acme.example/verify"),
        json!({}),
    )
    .await;
    wait_reason(&api, "salesforce", "UserVerified", "Verified").await;
    let ia = wait_reason(&api, "salesforce", "TokenProvided", "TokenSecretMissing").await;
    let next = ia.status.as_ref().unwrap().next_action.clone().unwrap();
    assert!(
        next.contains("Set As API User")
            && next.contains(&format!(
                "kubectl create secret generic salesforce-token -n {ns} --from-literal=token=<token>"
            )),
        "{next}"
    );

    // API user, role, token; the token goes into the Secret with its expiry.
    emu.control(
        &format!("trackvia/accounts/{SANDBOX}/users/salesforce.integration@acme.example/api-user"),
        json!({"enabled": true}),
    )
    .await;
    emu.control(
        &format!("trackvia/accounts/{SANDBOX}/users/salesforce.integration@acme.example/role"),
        json!({"role": "Salesforce Integration"}),
    )
    .await;
    let token = emu
        .create_token(
            SANDBOX,
            "salesforce.integration@acme.example",
            "2027-06-01T00:00:00Z",
        )
        .await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    secrets
        .create(
            &PostParams::default(),
            &support::secret(
                "salesforce-token",
                &[("token", &token)],
                &[(
                    "integrations.trackvia-operator.dev/expires-at",
                    "2027-06-01T00:00:00Z",
                )],
            ),
        )
        .await
        .unwrap();

    // kubectl wait works on it.
    let out = std::process::Command::new(support::kubectl())
        .args([
            "wait",
            "--for=condition=Ready",
            "integrationaccount/salesforce",
            "-n",
            &ns,
            "--timeout=60s",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl wait: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ia = api.get("salesforce").await.unwrap();
    let status = ia.status.clone().unwrap();
    assert_eq!(status.next_action, None);
    assert_eq!(
        status
            .token
            .as_ref()
            .unwrap()
            .expires_at
            .as_ref()
            .unwrap()
            .0
            .to_string(),
        "2027-06-01T00:00:00Z"
    );
    assert!(
        status
            .token
            .as_ref()
            .unwrap()
            .fingerprint
            .as_ref()
            .unwrap()
            .starts_with("hmac-sha256:")
    );

    // The published Secret has the documented keys and is owned by the IntegrationAccount.
    let published = secrets.get("salesforce-credentials").await.unwrap();
    let data: BTreeMap<String, String> = published
        .data
        .clone()
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v.0).unwrap()))
        .collect();
    assert_eq!(data["apiKey"], "sbx-api-key-0001");
    assert_eq!(data["authToken"], token);
    assert_eq!(data["baseUrl"], emu.trackvia());
    assert_eq!(data["environment"], "sandbox");
    assert_eq!(data["accountId"], SANDBOX.to_string());
    assert_eq!(data["email"], "salesforce.integration@acme.example");
    let owner = &published.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("IntegrationAccount", "salesforce", Some(true))
    );

    // Someone edits the Secret: repaired. Someone deletes it: re-created.
    let tampered = json!({"data": {"authToken": ByteString(b"tampered".to_vec())}});
    secrets
        .patch(
            "salesforce-credentials",
            &PatchParams::default(),
            &Patch::Merge(&tampered),
        )
        .await
        .unwrap();
    eventually(WAIT, "the edited Secret repaired", || async {
        let s = secrets.get("salesforce-credentials").await.ok()?;
        (s.data?.get("authToken")?.0 == token.as_bytes()).then_some(())
    })
    .await;
    secrets
        .delete("salesforce-credentials", &DeleteParams::default())
        .await
        .unwrap();
    eventually(WAIT, "the deleted Secret re-created", || async {
        let s = secrets.get("salesforce-credentials").await.ok()?;
        (s.data?.get("authToken")?.0 == token.as_bytes()).then_some(())
    })
    .await;

    // A reconcile that changes nothing calls neither vendor.
    emu.reset_calls().await;
    api.patch(
        "salesforce",
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"annotations": {"poke": "1"}}})),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(emu.calls().await.len(), 0, "a no-op reconcile called TrackVia");

    assert_no_leak(
        &client,
        &ns,
        &op,
        &[&token, "sbx-admin-token-0001", "sbx-api-key-0001"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn each_failure_has_its_own_reason() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::namespace(&client, "ia-fail").await;
    let emu = Emulators::start(SEED).await;
    accounts(&client, &ns, &emu).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let token_secret =
        |name: &str, key: &str, value: &str| support::secret(&format!("{name}-token"), &[(key, value)], &[]);

    // Users that already went through the UI steps, each with a different problem.
    let cases: [(&str, &str, &[&str]); 8] = [
        (
            "wrongenv",
            "Salesforce Integration",
            &["Accounts", "Opportunities"],
        ),
        (
            "expired",
            "Salesforce Integration",
            &["Accounts", "Opportunities"],
        ),
        (
            "deactivated",
            "Salesforce Integration",
            &["Accounts", "Opportunities"],
        ),
        ("missing", "Accounts Only", &["Accounts", "Opportunities"]),
        ("excess", "Everything Limited", &["Accounts", "Opportunities"]),
        ("nosecret", "Salesforce Integration", &["Accounts"]),
        ("nokey", "Salesforce Integration", &["Accounts"]),
        (
            "foreign",
            "Salesforce Integration",
            &["Accounts", "Opportunities"],
        ),
    ];
    let mut tokens = Vec::new();
    // (the seed has their users, as if the UI steps were done, each with the role named here)
    for (name, _role, views) in cases {
        let email = format!("{name}.integration@acme.example");
        support::create::<IntegrationAccount>(
            &client,
            &ns,
            integration(name, name, &email, "acme-sandbox", views),
        )
        .await;
    }
    // Wrong environment: a production token in the sandbox integration.
    let prod = emu
        .create_token(
            PRODUCTION,
            "wrongenv.integration@acme.example",
            "2030-01-01T00:00:00Z",
        )
        .await;
    let expired = emu
        .create_token(
            SANDBOX,
            "expired.integration@acme.example",
            "2026-01-01T00:00:00Z",
        )
        .await;
    let deactivated_id = emu
        .control(&format!("trackvia/accounts/{SANDBOX}/tokens"), json!({"user": "deactivated.integration@acme.example", "name": "x", "expiresAt": "2030-01-01T00:00:00Z"}))
        .await;
    let deactivated = deactivated_id["token"].as_str().unwrap().to_owned();
    emu.control(
        &format!(
            "trackvia/accounts/{SANDBOX}/tokens/{}/deactivate",
            deactivated_id["id"]
        ),
        json!({}),
    )
    .await;
    let missing = emu
        .create_token(
            SANDBOX,
            "missing.integration@acme.example",
            "2030-01-01T00:00:00Z",
        )
        .await;
    let excess = emu
        .create_token(SANDBOX, "excess.integration@acme.example", "2030-01-01T00:00:00Z")
        .await;
    let nokey = emu
        .create_token(SANDBOX, "nokey.integration@acme.example", "2030-01-01T00:00:00Z")
        .await;
    let foreign = emu
        .create_token(
            SANDBOX,
            "foreign.integration@acme.example",
            "2030-01-01T00:00:00Z",
        )
        .await;
    for (name, key, value) in [
        ("wrongenv", "token", prod.as_str()),
        ("expired", "token", expired.as_str()),
        ("deactivated", "token", deactivated.as_str()),
        ("missing", "token", missing.as_str()),
        ("excess", "token", excess.as_str()),
        ("nokey", "tokn", nokey.as_str()),
        ("foreign", "token", foreign.as_str()),
    ] {
        secrets
            .create(&PostParams::default(), &token_secret(name, key, value))
            .await
            .unwrap();
        tokens.push(value.to_owned());
    }
    secrets
        .create(
            &PostParams::default(),
            &support::secret("foreign-credentials", &[("note", "someone else's")], &[]),
        )
        .await
        .unwrap();

    let op = Operator::start(&ns);
    let api: Api<IntegrationAccount> = Api::namespaced(client.clone(), &ns);
    for (name, type_, reason, message) in [
        (
            "wrongenv",
            "TokenValid",
            "WrongEnvironment",
            "belongs to the production account acme-prod",
        ),
        ("expired", "TokenValid", "TokenExpired", "expired"),
        (
            "deactivated",
            "TokenValid",
            "TokenInvalid",
            "deactivated or deleted",
        ),
        (
            "missing",
            "AccessScoped",
            "MissingAccess",
            "view:CRM/Opportunities",
        ),
        ("excess", "AccessScoped", "ExcessAccess", "view:HR/Employees"),
        (
            "nosecret",
            "TokenProvided",
            "TokenSecretMissing",
            "Secret nosecret-token not found",
        ),
        (
            "nokey",
            "TokenProvided",
            "TokenKeyMissing",
            "Secret nokey-token has no key token",
        ),
        (
            "foreign",
            "CredentialsPublished",
            "SecretConflict",
            "not owned by this IntegrationAccount",
        ),
    ] {
        // Ready names the first unmet step, so it settles on this reason only once the steps
        // before it (the account's check, the user) are done: wait for that, not just the condition.
        let ia = wait_reason(&api, name, "Ready", reason).await;
        let (status, got, msg) = condition(&ia, type_).unwrap();
        assert_eq!(got, reason, "{name}: {type_}");
        assert_ne!(status, "True", "{name}");
        assert!(msg.contains(message), "{name}: {msg}");
        let (ready, ready_reason, _) = condition(&ia, "Ready").unwrap();
        assert_eq!(
            (ready.as_str(), ready_reason.as_str()),
            ("False", reason),
            "{name}: Ready explains the failure"
        );
        assert!(
            ia.status.as_ref().unwrap().next_action.is_some(),
            "{name} tells the person what to do"
        );
    }
    // The foreign Secret was left untouched.
    let f = secrets.get("foreign-credentials").await.unwrap();
    assert_eq!(f.data.unwrap().keys().collect::<Vec<_>>(), ["note"]);
    assert!(f.metadata.owner_references.is_none());

    let mut all: Vec<&str> = tokens.iter().map(String::as_str).collect();
    all.extend([
        "sbx-admin-token-0001",
        "prod-admin-token-0001",
        "sbx-api-key-0001",
        "prod-api-key-0001",
    ]);
    assert_no_leak(&client, &ns, &op, &all).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_crash_right_after_the_create_call_never_creates_a_second_user() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::namespace(&client, "ia-crash").await;
    let emu = Emulators::start(SEED).await;
    accounts(&client, &ns, &emu).await;
    // Slow the create down so the kill lands while the call is in flight or just after it.
    emu.control("faults", json!({"service": "trackvia", "method": "POST", "route": "/openapi/users", "latencyMs": 1500, "count": 1})).await;
    support::create::<IntegrationAccount>(
        &client,
        &ns,
        integration(
            "crash",
            "Crash",
            "crash.integration@acme.example",
            "acme-sandbox",
            &["Accounts"],
        ),
    )
    .await;
    let mut op = Operator::start(&ns);

    let creates = || async {
        emu.calls()
            .await
            .into_iter()
            .filter(|c| c["route"] == "POST /openapi/users")
            .count()
    };
    eventually(WAIT, "the create call", || async {
        (creates().await >= 1).then_some(())
    })
    .await;
    op.kill();
    op.restart();

    let api: Api<IntegrationAccount> = Api::namespaced(client.clone(), &ns);
    let ia = wait_reason(&api, "crash", "UserVerified", "Unverified").await;
    assert!(ia.status.unwrap().user.unwrap().id.is_some());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(creates().await, 1, "exactly one create call");
    let state = emu.get("state").await;
    let n = state["trackvia"]["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == SANDBOX)
        .unwrap()["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["email"] == "crash.integration@acme.example")
        .count();
    assert_eq!(n, 1, "exactly one TrackVia user");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn deletion_keeps_the_user_says_how_to_deactivate_it_and_never_waits_on_trackvia() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::namespace(&client, "ia-delete").await;
    let emu = Emulators::start(SEED).await;
    accounts(&client, &ns, &emu).await;
    let mut orphan = integration(
        "orphaned",
        "Orphaned",
        "orphaned.integration@acme.example",
        "acme-sandbox",
        &["Accounts"],
    );
    orphan["spec"]["deletionPolicy"] = json!("Orphan");
    support::create::<IntegrationAccount>(
        &client,
        &ns,
        integration(
            "kept",
            "Kept",
            "kept.integration@acme.example",
            "acme-sandbox",
            &["Accounts"],
        ),
    )
    .await;
    support::create::<IntegrationAccount>(&client, &ns, orphan).await;
    let _op = Operator::start(&ns);
    let api: Api<IntegrationAccount> = Api::namespaced(client.clone(), &ns);
    for name in ["kept", "orphaned"] {
        let ia = wait_reason(&api, name, "UserVerified", "Unverified").await;
        assert!(
            ia.finalizers()
                .iter()
                .any(|f| f == "integrations.trackvia-operator.dev/trackvia-user")
        );
    }
    // TrackVia is unreachable from now on: deletion must not wait on it.
    emu.control(
        "faults",
        json!({"service": "trackvia", "route": "*", "status": 503, "count": 1000}),
    )
    .await;
    for name in ["kept", "orphaned"] {
        api.delete(name, &Default::default()).await.unwrap();
    }
    eventually(WAIT, "both deleted", || async {
        let left = api.list(&ListParams::default()).await.ok()?.items.len();
        (left == 0).then_some(())
    })
    .await;
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    let retained = eventually(WAIT, "the UserRetained event", || async {
        events
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("UserRetained"))
    })
    .await;
    let note = retained.message.unwrap_or_default();
    assert!(
        note.contains("kept.integration@acme.example") && note.contains("Deactivate"),
        "{note}"
    );
    assert_eq!(retained.type_.as_deref(), Some("Warning"));
    // The users are still there: TrackVia's API cannot deactivate them.
    let state = emu.get("state").await;
    let users = state["trackvia"]["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == SANDBOX)
        .unwrap()["users"]
        .to_string();
    assert!(
        users.contains("kept.integration@acme.example")
            && users.contains("orphaned.integration@acme.example")
    );
}
