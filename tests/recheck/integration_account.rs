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
    // After its create the operator reads the user list once more (its create made the cached list
    // stale); from then on the list is cached for 10 minutes.
    tokio::time::sleep(QUIET).await;

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

/// The Argo CD `rotate` action writes an annotation, not the spec: the operator starts the
/// rotation from it, once, and the object's generation (its spec) does not move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn the_rotate_annotation_starts_a_rotation_without_a_spec_change() {
    use kube::api::{Api, Patch, PatchParams};
    use trackvia_operator::api::common::ROTATE_ANNOTATION;

    let (client, ns, _emu, _op) = crate::support::world::set_up("rotate-annot", 0, None).await;
    let api: Api<IntegrationAccount> = Api::namespaced(client.clone(), &ns);
    let generation = api.get("sf").await.unwrap().metadata.generation;
    let at = "2026-12-01T23:20:00Z";
    let patch = json!({"metadata": {"annotations": {ROTATE_ANNOTATION: at}}});
    api.patch("sf", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let handled = eventually(WAIT, "the annotation's request handled", || async {
        let ia = get_json::<IntegrationAccount>(&client, &ns, "sf").await?;
        ia["status"]["rotation"]["handledRequestedAt"]
            .as_str()
            .map(str::to_owned)
    })
    .await;
    assert_eq!(handled, at);
    let rotations = crate::support::world::rotations(&client, &ns).await;
    assert_eq!(rotations.len(), 1, "{rotations:?}");
    assert_eq!(
        api.get("sf").await.unwrap().metadata.generation,
        generation,
        "the spec did not change"
    );
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        crate::support::world::rotations(&client, &ns).await.len(),
        1,
        "requested once"
    );
}
