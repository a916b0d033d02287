//! Recipes a StopAndRestart stopped: put back when Workato's test fails on a live old token;
//! reported until a later rotation or a person restarts them when they cannot run.

use serde_json::json;
use trackvia_operator::api::{CredentialRotation, WorkatoConnection};

use super::all_running;
use crate::support::operator::{Operator, eventually, metric_sum};
use crate::support::world::*;

/// Workato's test fails in a StopAndRestart whose old token still works: every connection goes
/// back to the published token and every recipe the rotation stopped runs again (I1, I2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_failed_test_in_stop_and_restart_puts_everything_back() {
    let (client, ns, emu, _op) = set_up("sar-test", 0, None).await;
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
    let (client, ns, emu) = emulated("left", 0).await;
    let op = Operator::start(&ns);
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
    // Events follow the status write that records the transition (they are best effort).
    eventually(WAIT, "a Warning event RecipesLeftStopped", || async {
        events(&client, &ns, "regen")
            .await
            .iter()
            .any(|(t, reason, _)| t == "Warning" && reason == "RecipesLeftStopped")
            .then_some(())
    })
    .await;
    // The metric counts them (read from the operator's cache at the scrape, which may lag the
    // status a moment: scraped until it shows, as Prometheus scrapes periodically).
    op.scrape_until("recipes_left_stopped of regen at 9", |m| {
        metric_sum(m, "trackvia_operator_recipes_left_stopped", &["name=\"regen\""]) == 9.0
    })
    .await;
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
    let (client, ns, emu, _op) = set_up("nostart", 0, None).await;
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
