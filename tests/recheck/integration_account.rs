//! IntegrationAccount: the user list is read again (bypassing the shared user-list cache) when
//! the person annotates after accepting the invitation in TrackVia.

use serde_json::json;
use trackvia_operator::api::IntegrationAccount;

use super::{QUIET, annotate};
use crate::support::operator::{Emulators, Operator, eventually};
use crate::support::world::{SANDBOX, WAIT, condition, get_json, seed, wait_condition};

const EMAIL: &str = "hubspot.integration@acme.example";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_verified_user_is_seen_right_after_the_annotation() {
    let (client, ns) = crate::support::cluster("recheck-ia").await;
    let emu = Emulators::start(&seed()).await;
    crate::support::sandbox::admin_secret(&client, &ns).await;
    crate::support::sandbox::account(&client, &ns, &emu, "acme").await;
    crate::support::create::<IntegrationAccount>(
        &client,
        &ns,
        json!({
            "apiVersion": crate::support::API, "kind": "IntegrationAccount", "metadata": {"name": "hubspot"},
            "spec": {"accountRef": {"name": "acme"}, "system": "Hubspot", "email": EMAIL,
                     "access": {"apps": ["CRM"], "views": [{"name": "Accounts", "app": "CRM"}]},
                     "tokenSecretRef": {"name": "hubspot-token", "key": "token"},
                     "credentialsSecret": {"name": "hubspot-credentials"}}
        }),
    )
    .await;
    // The user list is read at most once per 10 minutes, the token every 10 minutes.
    let _op = Operator::start_with(
        &ns,
        &format!("recheck-ia-{}", std::process::id()),
        &["--user-poll-interval", "10m", "--user-recheck-interval", "10m"],
        &[],
    );
    // The operator created the user, which waits for its invitation to be accepted.
    wait_condition::<IntegrationAccount>(&client, &ns, "hubspot", "UserVerified", |c| c.1 == "Unverified")
        .await;

    // The person accepts the invitation in TrackVia: with a 10-minute poll, nothing is seen.
    emu.control(
        &format!("trackvia/accounts/{SANDBOX}/users/{EMAIL}/verify"),
        json!({}),
    )
    .await;
    tokio::time::sleep(QUIET).await;
    let ia = get_json::<IntegrationAccount>(&client, &ns, "hubspot")
        .await
        .unwrap();
    assert_eq!(
        condition(&ia, "UserVerified").unwrap().1,
        "Unverified",
        "no recheck asked yet"
    );
    assert!(ia["status"]["recheckHandled"].is_null(), "{}", ia["status"]);

    // The person asks for a recheck: the user is read now and the next step is named.
    annotate::<IntegrationAccount>(&client, &ns, "hubspot", "2026-12-01T23:00:00Z").await;
    let ia = eventually(WAIT, "the verified user after the recheck annotation", || async {
        let ia = get_json::<IntegrationAccount>(&client, &ns, "hubspot").await?;
        (condition(&ia, "UserVerified")?.1 == "Verified").then_some(ia)
    })
    .await;
    let handled = eventually(WAIT, "status.recheckHandled", || async {
        let ia = get_json::<IntegrationAccount>(&client, &ns, "hubspot").await?;
        ia["status"]["recheckHandled"].as_str().map(str::to_owned)
    })
    .await;
    assert_eq!(handled, "2026-12-01T23:00:00Z");
    let next = ia["status"]["nextAction"].as_str().unwrap_or_default().to_owned();
    assert!(!next.contains("accept the TrackVia invitation"), "{next}");

    // A value is honoured once: the same value again reads nothing, a new one reads again (here:
    // the user deactivated in TrackVia since).
    emu.control(
        &format!("trackvia/accounts/{SANDBOX}/users/{EMAIL}/deactivate"),
        json!({}),
    )
    .await;
    annotate::<IntegrationAccount>(&client, &ns, "hubspot", "2026-12-01T23:00:00Z").await;
    tokio::time::sleep(QUIET).await;
    let ia = get_json::<IntegrationAccount>(&client, &ns, "hubspot")
        .await
        .unwrap();
    assert_eq!(
        condition(&ia, "UserVerified").unwrap().1,
        "Verified",
        "the same value is not a new request"
    );
    annotate::<IntegrationAccount>(&client, &ns, "hubspot", "2026-12-01T23:05:00Z").await;
    wait_condition::<IntegrationAccount>(&client, &ns, "hubspot", "UserVerified", |c| c.1 == "UserInactive")
        .await;
}
