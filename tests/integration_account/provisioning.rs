//! The happy path: the operator creates the user, guides the person through TrackVia's UI steps,
//! verifies the token and publishes the credentials Secret, repairs it, and a reconcile that
//! changes nothing calls no vendor.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use trackvia_operator::api::IntegrationAccount;

use super::{SANDBOX, SEED, accounts, assert_no_leak, integration, wait_reason};
use crate::support::evidence::operator_saw;
use crate::support::operator::{Emulators, Operator, eventually};
use crate::support::world::WAIT;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn provisions_guides_verifies_and_publishes() {
    let (client, ns) = crate::support::cluster("ia-path").await;
    let emu = Emulators::start(SEED).await;
    accounts(&client, &ns, &emu).await;
    crate::support::create::<IntegrationAccount>(
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
    let ia = wait_reason(&client, &ns, "salesforce", "UserVerified", "Unverified").await;
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
    wait_reason(&client, &ns, "salesforce", "UserVerified", "Verified").await;
    let ia = wait_reason(&client, &ns, "salesforce", "TokenProvided", "TokenSecretMissing").await;
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
            &crate::support::secret(
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
    let out = std::process::Command::new(crate::support::kubectl())
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
    // Evidence that the operator reconciled it (and again, after more such changes) before
    // asserting it called nothing.
    operator_saw::<IntegrationAccount>(&client, &ns, &op, "salesforce").await;
    assert_eq!(emu.calls().await.len(), 0, "a no-op reconcile called TrackVia");

    assert_no_leak(
        &client,
        &ns,
        &op,
        &[&token, "sbx-admin-token-0001", "sbx-api-key-0001"],
    )
    .await;
}
