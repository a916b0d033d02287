//! Each way an IntegrationAccount can be wrong ends in its own condition reason, with Ready
//! explaining it and a next action for the person.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use serde_json::json;
use trackvia_operator::api::IntegrationAccount;

use super::{PRODUCTION, SANDBOX, SEED, accounts, assert_no_leak, condition, integration, wait_reason};
use crate::support::operator::{Emulators, Operator};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn each_failure_has_its_own_reason() {
    let (client, ns) = crate::support::cluster("ia-fail").await;
    let emu = Emulators::start(SEED).await;
    accounts(&client, &ns, &emu).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let token_secret = |name: &str, key: &str, value: &str| {
        crate::support::secret(&format!("{name}-token"), &[(key, value)], &[])
    };

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
        crate::support::create::<IntegrationAccount>(
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
            &crate::support::secret("foreign-credentials", &[("note", "someone else's")], &[]),
        )
        .await
        .unwrap();

    let op = Operator::start(&ns);
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
        let ia = wait_reason(&client, &ns, name, "Ready", reason).await;
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
