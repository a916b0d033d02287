//! The rotation's unhappy paths end to end, one test per behaviour that used to break the
//! rotation's promise (issue 11): the operator binary on the real API server against both
//! emulators. Statuses are read as JSON by their serialized names. Run through `make test`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)] // test code

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::chaos::{Supervised, metric_sum};
use support::operator::{Emulators, Operator, eventually};
use support::world::*;
use trackvia_operator::api::{
    CredentialRotation, IntegrationAccount, TrackViaAccount, WorkatoConnection, WorkatoWorkspace,
};

/// Workato's answer to an update whose test fails.
fn failed_test(id: i64) -> Value {
    json!({
        "service": "workato", "method": "PUT", "route": format!("/api/connections/{id}"), "status": 200, "count": 1,
        "body": {"id": id, "name": format!("TV {}", id - 99), "provider": "trackvia", "authorization_status": "failed",
                 "authorization_error": "401 Unauthorized: Invalid access token"}
    })
}

/// A namespace, the emulators (with `latency_ms` on every call), the operator, and the world
/// set up with `rotation` as the account's `spec.rotation` (long timeouts by default).
async fn world(
    prefix: &str,
    latency_ms: u64,
    rotation: Option<Value>,
) -> (Client, String, Emulators, Operator) {
    let (client, ns, emu) = start(prefix, latency_ms).await;
    let op = Operator::start(&ns);
    match rotation {
        Some(r) => setup_with(&client, &ns, &emu, r).await,
        None => setup(&client, &ns, &emu, None).await,
    }
    (client, ns, emu, op)
}

async fn start(prefix: &str, latency_ms: u64) -> (Client, String, Emulators) {
    start_with_seed(prefix, latency_ms, &seed()).await
}

async fn start_with_seed(prefix: &str, latency_ms: u64, seed: &str) -> (Client, String, Emulators) {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::namespace(&client, prefix).await;
    let emu = Emulators::start_with(seed, Duration::from_millis(latency_ms)).await;
    (client, ns, emu)
}

fn verified(r: &Value) -> usize {
    states(r, "connections")
        .iter()
        .filter(|s| **s == "Verified")
        .count()
}

/// Waits, polling fast, until a rotation has `n` verified connections.
async fn wait_verified(client: &Client, ns: &str, n: usize) {
    let deadline = Instant::now() + WAIT;
    loop {
        if rotations(client, ns).await.iter().any(|r| verified(r) >= n) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no rotation reached {n} verified connections"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn all_running(emu: &Emulators) -> bool {
    let r = running(emu).await;
    (1001..=1009).all(|id| r[&id])
}

/// A person fixes the token while Overlap switches: every connection ends on the token that is
/// published, none stays RotationPending (I3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_token_replaced_mid_switch_ends_with_every_connection_on_the_published_token() {
    let (client, ns, emu, _op) = world("replaced", 300, None).await;
    place_new_token(&client, &ns, &emu).await;
    wait_verified(&client, &ns, 1).await;
    // The person notices a typo in the token's name and creates another one.
    let fixed = place_new_token(&client, &ns, &emu).await;
    let r = wait_rotation(&client, &ns, "the rotation published", |r| {
        matches!(
            phase(r),
            "AwaitingRevocation" | "Succeeded" | "Failed" | "Aborted"
        )
    })
    .await;
    assert_eq!(phase(&r), "AwaitingRevocation", "{}", r["status"]);
    let tokens = connection_tokens(&emu).await;
    assert!(
        [100, 101, 102].iter().all(|id| tokens[id] == fixed),
        "every connection holds the newest token"
    );
    assert!(published_token(&client, &ns).await == fixed);
    for i in 1..=3 {
        eventually(
            WAIT,
            &format!("conn-{i} holds the published credentials"),
            || async {
                let wc = get_json::<WorkatoConnection>(&client, &ns, &format!("conn-{i}")).await?;
                (condition(&wc, "CredentialsCurrent")?.0 == "True").then_some(())
            },
        )
        .await;
    }
}

/// Workato's test fails in a StopAndRestart whose old token still works: every connection goes
/// back to the published token and every recipe the rotation stopped runs again (I1, I2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_failed_test_in_stop_and_restart_puts_everything_back() {
    let (client, ns, emu, _op) = world("sar-test", 0, None).await;
    stopped_for_token(&client, &ns, "regen").await;
    assert!(!running(&emu).await[&1001]);
    emu.control("faults", failed_test(101)).await;
    // A new token, the old one left active.
    place_new_token(&client, &ns, &emu).await;
    let r = wait_finished(&client, &ns).await;
    assert_eq!(r["status"]["outcome"], "RolledBack", "{}", r["status"]);
    assert!(
        all_running(&emu).await,
        "every recipe the rotation stopped runs again"
    );
    assert!(
        !running(&emu).await[&1010],
        "the one stopped before stays stopped"
    );
    assert!(connection_tokens(&emu).await.values().all(|t| t == OLD));
    assert!(published_token(&client, &ns).await == OLD);
    assert_eq!(condition(&r, "Ready").unwrap().0, "False");
}

/// The person regenerated in place and Workato's test fails: the recipes cannot run on a dead
/// token, so they stay stopped, named in the rotation's and the WorkatoConnection's status, in a
/// Warning event and a metric, with Ready False (I1); the rotation the account starts next for
/// the new token takes them over and restarts them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn recipes_left_stopped_are_reported_until_a_later_rotation_restarts_them() {
    let (client, ns, emu) = start("left", 0).await;
    let op = Supervised::start(&ns, &format!("{ns}-operator"), &[]);
    setup(&client, &ns, &emu, None).await;
    stopped_for_token(&client, &ns, "regen").await;
    emu.control("faults", failed_test(101)).await;
    regenerate_in_place(&client, &ns, &emu).await;
    let r = eventually(WAIT, "regen finished", || async {
        let r = get_json::<CredentialRotation>(&client, &ns, "regen").await?;
        matches!(phase(&r), "Failed" | "Aborted" | "Succeeded").then_some(r)
    })
    .await;
    assert_ne!(phase(&r), "Succeeded", "{}", r["status"]);
    let (status, reason, message) = condition(&r, "RecipesRestarted").expect("RecipesRestarted");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "RecipesLeftStopped")
    );
    assert!(
        (1001..=1009).all(|id| message.contains(&id.to_string())),
        "{message}"
    );
    assert_eq!(condition(&r, "Ready").unwrap().0, "False");
    assert!(
        events(&client, &ns, "regen")
            .await
            .iter()
            .any(|(t, reason, _)| t == "Warning" && reason == "RecipesLeftStopped"),
        "a Warning event"
    );
    let metrics = op.metrics().await.unwrap_or_default();
    assert_eq!(
        metric_sum(
            &metrics,
            "trackvia_operator_recipes_left_stopped",
            &["name=\"regen\""]
        ),
        9.0,
        "the metric counts them"
    );
    let wc = wait_condition::<WorkatoConnection>(&client, &ns, "conn-1", "RecipesHealthy", |c| {
        c.1 == "LeftStoppedByRotation"
    })
    .await;
    assert_ne!(condition(&wc, "Ready").unwrap().0, "True");

    // The new token is still in the Secret: the account rotates to it, taking the recipes over.
    let later = wait_rotation(
        &client,
        &ns,
        "the account's rotation to the new token succeeded",
        |r| {
            r["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .contains("-newtoken-")
                && phase(r) == "Succeeded"
        },
    )
    .await;
    assert!(
        later["status"]["recipes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["inheritedFrom"] == "regen")
            .count()
            == 9,
        "{}",
        later["status"]
    );
    assert!(all_running(&emu).await);
    findings_clear(&client, &ns, "regen", "conn-1").await;
}

/// Workato refuses to start a recipe: the rotation does not end Succeeded, and the recipe is
/// reported until a person starts it (I1, I2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_recipe_that_does_not_start_is_reported_until_a_person_starts_it() {
    let (client, ns, emu, _op) = world("nostart", 0, None).await;
    stopped_for_token(&client, &ns, "regen").await;
    emu.control("faults", json!({
        "service": "workato", "method": "PUT", "route": "/api/recipes/1004/start", "status": 200, "count": 1,
        "body": {"success": false, "code_errors": [], "config_errors": [[1, [["TrackVia", 100, "Connection failed"]]]]}
    }))
    .await;
    regenerate_in_place(&client, &ns, &emu).await;
    let r = wait_finished(&client, &ns).await;
    assert_eq!(r["status"]["outcome"], "RecipeStartFailed", "{}", r["status"]);
    assert_eq!(condition(&r, "Ready").unwrap().0, "False");
    assert!(!running(&emu).await[&1004]);
    eventually(WAIT, "conn-1 names recipe 1004", || async {
        let wc = get_json::<WorkatoConnection>(&client, &ns, "conn-1").await?;
        let (_, reason, message) = condition(&wc, "RecipesHealthy")?;
        (reason == "LeftStoppedByRotation" && message.contains("1004")).then_some(())
    })
    .await;
    // The person fixes the recipe and starts it: the findings clear.
    person_starts_recipe(&emu, 1004).await;
    findings_clear(&client, &ns, "regen", "conn-1").await;
}

/// Deleting a rotation, or its IntegrationAccount, mid-way restarts what it stopped before the
/// rotation goes (I4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn deleting_a_rotation_or_its_account_mid_way_restarts_what_it_stopped_first() {
    let (client, ns, emu, _op) = world("delete", 0, None).await;
    let rots: Api<CredentialRotation> = Api::namespaced(client.clone(), &ns);
    for (name, delete_account) in [("regen", false), ("regen-2", true)] {
        stopped_for_token(&client, &ns, name).await;
        assert!(running(&emu).await.values().filter(|r| **r).count() == 0);
        if delete_account {
            Api::<IntegrationAccount>::namespaced(client.clone(), &ns)
                .delete("sf", &DeleteParams::default())
                .await
                .unwrap();
        } else {
            rots.delete(name, &DeleteParams::default()).await.unwrap();
        }
        eventually(WAIT, &format!("{name} gone"), || async {
            rots.get_opt(name).await.ok()?.is_none().then_some(())
        })
        .await;
        assert!(
            all_running(&emu).await,
            "{name}: every recipe runs again before it goes"
        );
        assert!(!running(&emu).await[&1010]);
    }
    eventually(WAIT, "the IntegrationAccount gone", || async {
        Api::<IntegrationAccount>::namespaced(client.clone(), &ns)
            .get_opt("sf")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
}

/// The maintenance window starting this minute, lasting `secs` from now.
fn window_from_now(secs: i64) -> Value {
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    json!({"start": format!("{:02}:{:02}", now.hour(), now.minute()), "duration": format!("{}s", secs + i64::from(now.second()))})
}

/// Makes the account's rotation due: the token expires in ten days (renewBefore 30 days).
async fn expiring_soon(client: &Client, ns: &str) {
    let at = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(240);
    let patch = json!({"metadata": {"annotations": {"integrations.trackvia-operator.dev/expires-at": at.to_string()}}});
    Api::<Secret>::namespaced(client.clone(), ns)
        .patch("sf-token", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

fn scheduled(r: &Value) -> bool {
    r["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .contains("-scheduled-")
}

/// An account whose StopAndRestart rotation is due inside a maintenance window open for
/// `window_secs` more seconds, and the scheduled rotation it started, awaiting approval.
async fn awaiting_approval(prefix: &str, window_secs: i64) -> (Client, String, Emulators, Operator, Value) {
    let (client, ns, emu) = start(prefix, 0).await;
    let op = Operator::start(&ns);
    setup_with(
        &client,
        &ns,
        &emu,
        json!({
            "strategy": "StopAndRestart", "renewBefore": "720h", "newTokenTimeout": "1h",
            "maintenanceWindow": window_from_now(window_secs)
        }),
    )
    .await;
    emu.reset_calls().await;
    expiring_soon(&client, &ns).await;
    let r = wait_rotation(&client, &ns, "the scheduled rotation awaits approval", |r| {
        scheduled(r) && phase(r) == "AwaitingApproval"
    })
    .await;
    (client, ns, emu, op, r)
}

/// A scheduled StopAndRestart stops nothing until a person approves it (I6); approved, it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_scheduled_stop_and_restart_stops_nothing_until_approved() {
    let (client, ns, emu, _op, r) = awaiting_approval("approve", 600).await;
    let name = r["metadata"]["name"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        recipe_calls(&emu, "stop").await.is_empty(),
        "nothing stopped before approval"
    );
    assert!(all_running(&emu).await);
    let ia = get_json::<IntegrationAccount>(&client, &ns, "sf").await.unwrap();
    let next = ia["status"]["nextAction"].as_str().unwrap_or_default();
    assert!(
        next.contains(&format!("kubectl trackvia approve {name}")),
        "{next}"
    );

    // The person approves with the plugin, then regenerates when the recipes are stopped.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trackvia-operator"))
        .args(["approve", &name, "-n", &ns])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eventually(WAIT, "stopped after approval", || async {
        let r = get_json::<CredentialRotation>(&client, &ns, &name).await?;
        (phase(&r) == "WaitingForToken").then_some(())
    })
    .await;
    assert_eq!(recipe_calls(&emu, "stop").await.len(), 9);
    let new = new_token(&emu).await;
    revoke_old(&emu).await;
    // The new token's expiry travels with it.
    let patch = json!({"metadata": {"annotations": {"integrations.trackvia-operator.dev/expires-at": "2031-01-01T00:00:00Z"}},
                       "data": {"token": k8s_openapi::ByteString(new.as_bytes().to_vec())}});
    Api::<Secret>::namespaced(client.clone(), &ns)
        .patch("sf-token", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    eventually(WAIT, "the approved rotation succeeded", || async {
        let r = get_json::<CredentialRotation>(&client, &ns, &name).await?;
        (phase(&r) == "Succeeded").then_some(())
    })
    .await;
    assert!(all_running(&emu).await);
}

/// Nobody approves: the rotation ends when its window closes having stopped nothing, and the
/// schedule does not start another before the next window (I6); the due rotation stays an alert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn an_unanswered_scheduled_rotation_expires_and_does_not_come_back_before_the_next_window() {
    let (client, ns, emu, _op, _) = awaiting_approval("unanswered", 25).await;
    let r = wait_rotation(&client, &ns, "the approval expired", |r| {
        scheduled(r) && phase(r) == "Aborted"
    })
    .await;
    assert_eq!(r["status"]["outcome"], "ApprovalExpired");
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(
        rotations(&client, &ns)
            .await
            .iter()
            .filter(|r| scheduled(r))
            .count(),
        1,
        "no second scheduled rotation before the next window"
    );
    assert!(
        recipe_calls(&emu, "stop").await.is_empty(),
        "nothing was ever stopped"
    );
    let ia = get_json::<IntegrationAccount>(&client, &ns, "sf").await.unwrap();
    assert_eq!(condition(&ia, "RotationDue").unwrap().0, "True", "still an alert");
}

/// A kubeconfig for the same API server that impersonates `user`.
fn impersonating(user: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let path = std::env::var("KUBECONFIG").unwrap();
    let mut kc: Value = serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for u in kc["users"].as_array_mut().unwrap() {
        u["user"]["as"] = json!(user);
    }
    let out = dir.join(format!("kubeconfig-{user}"));
    std::fs::write(&out, serde_json::to_string(&kc).unwrap()).unwrap();
    out
}

async fn apply_rbac(client: &Client, ns: &str, user: &str) {
    let roles: Api<Role> = Api::namespaced(client.clone(), ns);
    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "tvo"},
        "rules": [
            {"apiGroups": ["integrations.trackvia-operator.dev"], "resources": ["*"], "verbs": ["*"]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list", "watch", "create", "patch", "update", "delete"]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"],
             "resourceNames": ["tv-admin", "wk-dev", "wk-prod", "sf-credentials", "trackvia-operator-fingerprint-key"]},
            {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch", "update"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["*"]}
        ]
    }))
    .unwrap();
    roles.create(&PostParams::default(), &role).await.unwrap();
    let token_role: Role = serde_json::from_value(json!({
        "metadata": {"name": "tvo-token"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["sf-token"]}]
    }))
    .unwrap();
    roles.create(&PostParams::default(), &token_role).await.unwrap();
    bind(client, ns, "tvo", user).await;
    bind(client, ns, "tvo-token", user).await;
}

async fn bind(client: &Client, ns: &str, role: &str, user: &str) {
    let b: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": role},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &b)
        .await
        .unwrap();
}

/// The API server refuses to read the token Secret for a while mid-switch (longer than
/// `newTokenTimeout`): a failed read is not a missing Secret, so the rotation waits and then
/// finishes the switch instead of giving up with connections on the new token (I5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_failed_read_of_the_token_secret_is_not_taken_as_a_missing_one() {
    let (client, ns, emu) = start("unreadable", 300).await;
    let user = format!("tvo-{ns}");
    apply_rbac(&client, &ns, &user).await;
    // Not among the logs the secret scan reads: it holds the test cluster's client key.
    let dir = support::repo_root().join("target/test-kubeconfigs");
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = impersonating(&user, &dir);
    let _op = Operator::start_with_env(
        &ns,
        &format!("{ns}-operator"),
        &[("KUBECONFIG", kubeconfig.to_str().unwrap())],
    );
    setup_with(
        &client,
        &ns,
        &emu,
        json!({"newTokenTimeout": "5s", "revocationGracePeriod": "1h"}),
    )
    .await;
    let new = place_new_token(&client, &ns, &emu).await;
    wait_verified(&client, &ns, 1).await;
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &ns);
    bindings
        .delete("tvo-token", &DeleteParams::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(12)).await;
    bind(&client, &ns, "tvo-token", &user).await;
    let r = wait_rotation(&client, &ns, "the rotation published", |r| {
        matches!(
            phase(r),
            "AwaitingRevocation" | "Succeeded" | "Failed" | "Aborted"
        )
    })
    .await;
    assert_eq!(phase(&r), "AwaitingRevocation", "{}", r["status"]);
    assert!(connection_tokens(&emu).await.values().all(|t| *t == new));
    assert!(published_token(&client, &ns).await == new);
}

/// A connection named like the TrackVia one but of another connector is never written, and a
/// live adopted connection is never overwritten by a plain update; opted in, it is taken over
/// in stages (I9).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn adoption_never_writes_another_connector_nor_a_live_connection_unstaged() {
    let extra_connections = "        - {id: 110, name: TV shared, provider: salesforce, authorizationStatus: success, input: {token: sf-crm-0001}}\n        - {id: 111, name: TV live, provider: trackvia, authorizationStatus: success, input: {user_key: sbx-api-key-0001, access_token: sbx-admin-token-0001}}\n";
    let extra_recipes = "        - {id: 1101, name: Live recipe, running: true, connections: [111]}\n";
    let (client, ns, emu) = start_with_seed("adopt", 0, &seed_with(extra_connections, extra_recipes)).await;
    let _op = Operator::start(&ns);
    setup(&client, &ns, &emu, None).await;
    emu.reset_calls().await;
    connection(&client, &ns, "shared", json!({"name": "TV shared"})).await;
    connection(&client, &ns, "live", json!({"id": 111})).await;
    wait_condition::<WorkatoConnection>(&client, &ns, "shared", "ConnectionFound", |c| {
        c.1 == "ProviderMismatch"
    })
    .await;
    wait_condition::<WorkatoConnection>(&client, &ns, "live", "CredentialsCurrent", |c| {
        c.1 == "AdoptionPending"
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let writes = calls_of(&emu, "PUT /api/connections/{id}").await;
    assert!(writes.is_empty(), "nothing written: {writes:?}");
    assert!(running(&emu).await[&1101]);

    // Opted in: stop, update, test, restart.
    Api::<WorkatoConnection>::namespaced(client.clone(), &ns)
        .patch(
            "live",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"adoption": "StopAndRestart"}})),
        )
        .await
        .unwrap();
    wait_rotation(&client, &ns, "the takeover succeeded", |r| {
        !r["spec"]["takeOver"].is_null() && phase(r) == "Succeeded"
    })
    .await;
    wait_ready::<WorkatoConnection>(&client, &ns, "live").await;
    assert_eq!(connection_tokens(&emu).await[&111], OLD);
    assert!(running(&emu).await[&1101]);
    let calls = emu.calls().await;
    let at = |route: &str, path: &str| {
        calls
            .iter()
            .position(|c| c["route"] == route && c["path"] == path)
            .unwrap_or_else(|| panic!("no {route} {path}"))
    };
    let stop = at("PUT /api/recipes/{id}/stop", "/api/recipes/1101/stop");
    let push = at("PUT /api/connections/{id}", "/api/connections/111");
    let start = at("PUT /api/recipes/{id}/start", "/api/recipes/1101/start");
    assert!(stop < push && push < start, "stop, update, start in that order");
    assert!(
        !calls_of(&emu, "PUT /api/connections/{id}")
            .await
            .contains_key("/api/connections/110")
    );
}

/// TrackVia refuses to create the user (403, then 400 with no such user found): the account
/// says so and calls again only after a backoff, whatever wakes it up (I10).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_refused_user_creation_is_reported_and_not_repeated_in_a_loop() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::namespace(&client, "usercreate").await;
    let emu = Emulators::start(support::sandbox::SEED).await;
    let _op = Operator::start(&ns);
    support::sandbox::admin_secret(&client, &ns).await;
    support::sandbox::account(&client, &ns, &emu, "acme").await;
    wait_ready::<TrackViaAccount>(&client, &ns, "acme").await;
    for (system, status) in [("HubSpot", 403), ("Zendesk", 400)] {
        emu.reset_calls().await;
        emu.control("faults", json!({"service": "trackvia", "method": "POST", "route": "/openapi/users", "status": status, "count": 1000}))
            .await;
        let name = system.to_ascii_lowercase();
        support::create::<IntegrationAccount>(&client, &ns, json!({
            "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "IntegrationAccount", "metadata": {"name": name},
            "spec": {"accountRef": {"name": "acme"}, "system": system, "email": format!("{name}.integration@acme.example"),
                     "tokenSecretRef": {"name": format!("{name}-token"), "key": "token"}, "credentialsSecret": {"name": format!("{name}-credentials")}}
        }))
        .await;
        let (_, _, message) = eventually(WAIT, &format!("{system}: UserCreateFailed"), || async {
            let ia = get_json::<IntegrationAccount>(&client, &ns, &name).await?;
            condition(&ia, "UserVerified").filter(|c| c.1 == "UserCreateFailed")
        })
        .await;
        assert!(message.contains(&status.to_string()), "{message}");
        tokio::time::sleep(Duration::from_secs(30)).await;
        let creates = emu
            .calls()
            .await
            .iter()
            .filter(|c| c["route"] == "POST /openapi/users")
            .filter(|c| c["query"].as_str().unwrap_or_default().contains(&name))
            .count();
        println!("{system}: {creates} create calls in about 30 s after a {status}");
        assert!(creates <= 1, "{system}: {creates} create calls in 30 s");
        emu.delete_faults().await;
    }
}

/// A rollback that fails is recorded as such and names the connection left on the new token (I2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_failed_rollback_is_not_recorded_as_rolled_back() {
    let (client, ns, emu, _op) = world("rbfail", 300, None).await;
    emu.control("faults", failed_test(101)).await;
    let new = place_new_token(&client, &ns, &emu).await;
    wait_verified(&client, &ns, 1).await;
    emu.control("faults", json!({"service": "workato", "method": "PUT", "route": "/api/connections/100", "status": 422, "count": 1}))
        .await;
    let r = wait_finished(&client, &ns).await;
    assert_eq!(r["status"]["outcome"], "RollbackFailed", "{}", r["status"]);
    assert_eq!(states(&r, "connections")[0], "RollbackFailed");
    let summary = r["status"]["planSummary"].as_str().unwrap_or_default();
    assert!(summary.contains("conn-1"), "{summary}");
    assert_eq!(
        connection_tokens(&emu).await[&100],
        new,
        "it is where the status says"
    );
}

/// The rotation's old-token Secret disappears: that is not a revocation (I5); after the grace
/// period the rotation ends, saying the revocation cannot be confirmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_missing_old_token_secret_is_not_a_revocation() {
    let (client, ns, emu, _op) = world(
        "oldgone",
        0,
        Some(json!({"newTokenTimeout": "1h", "revocationGracePeriod": "20s"})),
    )
    .await;
    place_new_token(&client, &ns, &emu).await;
    let r = wait_phase(&client, &ns, "AwaitingRevocation").await;
    let kept = r["status"]["oldTokenSecret"].as_str().unwrap().to_owned();
    Api::<Secret>::namespaced(client.clone(), &ns)
        .delete(&kept, &DeleteParams::default())
        .await
        .unwrap();
    let r = wait_finished(&client, &ns).await;
    assert!(r["status"]["oldTokenRevokedTime"].is_null(), "{}", r["status"]);
    assert_ne!(condition(&r, "OldTokenRevoked").unwrap().0, "True");
}

/// Secrets at the old-token names that are not the rotation's are neither adopted nor deleted (I8).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_foreign_secret_where_the_old_token_goes_is_never_deleted() {
    let (client, ns, emu, _op) = world("foreign", 0, None).await;
    rotation(&client, &ns, "manual", json!({"strategy": "Overlap"})).await;
    let r = eventually(WAIT, "manual waits for a token", || async {
        let r = get_json::<CredentialRotation>(&client, &ns, "manual").await?;
        (phase(&r) == "WaitingForToken").then_some(r)
    })
    .await;
    let uid: String = r["metadata"]["uid"].as_str().unwrap().chars().take(8).collect();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let names = ["manual-old-token".to_owned(), format!("manual-old-token-{uid}")];
    for n in &names {
        secrets
            .create(
                &PostParams::default(),
                &support::secret(n, &[("token", "someone-elses")], &[]),
            )
            .await
            .unwrap();
    }
    place_new_token(&client, &ns, &emu).await;
    wait_rotation(&client, &ns, "manual published", |r| {
        r["metadata"]["name"] == "manual" && matches!(phase(r), "AwaitingRevocation" | "Succeeded")
    })
    .await;
    revoke_old(&emu).await;
    let r = eventually(WAIT, "manual finished", || async {
        let r = get_json::<CredentialRotation>(&client, &ns, "manual").await?;
        (phase(&r) == "Succeeded").then_some(r)
    })
    .await;
    for n in &names {
        let s = secrets
            .get_opt(n)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{n} was deleted"));
        assert_eq!(s.data.unwrap()["token"].0, b"someone-elses", "{n} untouched");
    }
    let _ = r;
}

/// A TrackVia answer that is not a rejection of the old token (here a 403) does not switch the
/// automatic strategy to the disruptive StopAndRestart: the rotation asks again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn only_a_rejected_old_token_means_stop_and_restart() {
    let (client, ns, emu, _op) = world("strategy", 0, None).await;
    emu.reset_calls().await;
    emu.control(
        "faults",
        json!({"service": "trackvia", "method": "GET", "route": "/openapi/views", "status": 403, "count": 1}),
    )
    .await;
    rotation(&client, &ns, "auto", json!({})).await;
    let r = eventually(WAIT, "auto decided", || async {
        let r = get_json::<CredentialRotation>(&client, &ns, "auto").await?;
        (!r["status"]["strategy"].is_null() && phase(&r) != "Pending").then_some(r)
    })
    .await;
    assert_eq!(r["status"]["strategy"], "Overlap", "{}", r["status"]);
    assert!(recipe_calls(&emu, "stop").await.is_empty());
    assert!(all_running(&emu).await);
}

/// AwaitingRevocation ends after the grace period: the rotation succeeds and the account warns
/// that the old token is still active, without becoming unready or blocking the next rotation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn an_unrevoked_old_token_is_a_warning_not_a_blocker() {
    let (client, ns, emu, _op) = world(
        "grace",
        0,
        Some(json!({"newTokenTimeout": "1h", "revocationGracePeriod": "10s"})),
    )
    .await;
    place_new_token(&client, &ns, &emu).await;
    let r = wait_finished(&client, &ns).await;
    assert_eq!(phase(&r), "Succeeded", "{}", r["status"]);
    assert_eq!(condition(&r, "OldTokenRevoked").unwrap().1, "RevocationOverdue");
    let ia = wait_condition::<IntegrationAccount>(&client, &ns, "sf", "OldTokenRevoked", |c| {
        c.1 == "OldTokenStillActive"
    })
    .await;
    assert_eq!(
        condition(&ia, "Ready").unwrap().0,
        "True",
        "a finding, not a blocker"
    );
    // The next rotation is not held up.
    let first = r["metadata"]["name"].as_str().unwrap().to_owned();
    let newest = place_new_token(&client, &ns, &emu).await;
    wait_rotation(&client, &ns, "a second rotation succeeded", |r| {
        r["metadata"]["name"] != first.as_str() && phase(r) == "Succeeded"
    })
    .await;
    assert!(published_token(&client, &ns).await == newest);
}

/// The environment guard holds on the rotation's own pushes: a workspace recreated under the same
/// name in production receives nothing, even from connections bound before (I7).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn the_environment_guard_holds_on_every_push_of_a_rotation() {
    let (client, ns, emu, _op) = world("envguard", 0, None).await;
    // Someone recreates workspace `dev` as production: the connections bound to it stay bound.
    let workspaces: Api<WorkatoWorkspace> = Api::namespaced(client.clone(), &ns);
    workspaces.delete("dev", &DeleteParams::default()).await.unwrap();
    eventually(WAIT, "dev gone", || async {
        workspaces.get_opt("dev").await.ok()?.is_none().then_some(())
    })
    .await;
    workspace(&client, &ns, &emu, "dev", "production", "wk-dev").await;
    wait_condition::<WorkatoConnection>(&client, &ns, "conn-1", "EnvironmentMatched", |c| c.0 == "False")
        .await;
    emu.reset_calls().await;
    place_new_token(&client, &ns, &emu).await;
    let r = wait_rotation(&client, &ns, "the rotation published or finished", |r| {
        matches!(
            phase(r),
            "AwaitingRevocation" | "Succeeded" | "Failed" | "Aborted"
        )
    })
    .await;
    let writes = calls_of(&emu, "PUT /api/connections/{id}").await;
    assert!(
        writes.is_empty(),
        "nothing pushed into the production workspace: {writes:?}"
    );
    assert!(matches!(phase(&r), "Failed" | "Aborted"), "{}", r["status"]);
    assert!(connection_tokens(&emu).await.values().all(|t| t == OLD));
}

/// TrackVia fails every call to one endpoint for 30 s after a new token arrives, while a secret
/// manager refreshes the token Secret's annotations every second (as External Secrets does): each
/// refresh wakes the account, and a validation TrackVia did not answer waits its backoff instead of
/// being retried at every wake-up (I10). Once TrackVia answers, the rotation runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_trackvia_outage_is_not_a_loop_of_calls() {
    let (client, ns, emu, _op) = world("outage", 0, None).await;
    emu.reset_calls().await;
    emu.control("faults", json!({"service": "trackvia", "method": "GET", "route": "/openapi/apps", "status": 503, "count": 100000}))
        .await;
    let new = place_new_token(&client, &ns, &emu).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    for i in 0..30 {
        let patch = json!({"metadata": {"annotations": {"secret-manager.example/refreshed": i.to_string()}}});
        secrets
            .patch("sf-token", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let apps = calls_of(&emu, "GET /openapi/apps").await.values().sum::<usize>();
    println!("GET /openapi/apps answered 503 {apps} times in 30 s");
    // A validation is at most 4 HTTP attempts (the client's retries); the account validates again
    // after 15 s and 30 s: at most 3 validations.
    assert!(apps <= 12, "{apps} calls in 30 s");
    emu.delete_faults().await;
    let r = wait_rotation(&client, &ns, "the rotation published after the outage", |r| {
        matches!(
            phase(r),
            "AwaitingRevocation" | "Succeeded" | "Failed" | "Aborted"
        )
    })
    .await;
    assert_eq!(phase(&r), "AwaitingRevocation", "{}", r["status"]);
    assert!(published_token(&client, &ns).await == new);
}
