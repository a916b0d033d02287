//! A real scrape of the operator after a story with every kind, written to
//! `target/metrics/scrape.prom`: the alert rules' `promtool test rules` take the metric shapes
//! (names and label sets) from it instead of typing them by hand.

use trackvia_operator::api::{CredentialRotation, IntegrationAccount, TrackViaAccount};

use crate::support::KINDS;
use crate::support::world::*;
use crate::{due_world, named, value};

/// The story: a StopAndRestart rotation (`regen`) whose recipe 1004 Workato refuses to start ends
/// `Failed` (`RecipeStartFailed`) with that recipe left stopped (its connection not Ready); the
/// account's new token expires within `renewBefore` while the maintenance window is closed (due,
/// not started); a TrackViaAccount whose Secret is missing is not Ready. Then one scrape, once
/// every series the alerts read shows the story, goes to `target/metrics/scrape.prom`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn writes_a_real_scrape_for_the_alert_tests() {
    let (client, ns, emu, op) = due_world("metrics-scrape").await;
    stopped_for_token(&client, &ns, "regen").await;
    emu.control("faults", start_refused(1004)).await;
    regenerate_in_place(&client, &ns, &emu).await;
    let r = wait_finished(&client, &ns).await;
    assert_eq!(r["status"]["outcome"], "RecipeStartFailed", "{}", r["status"]);
    // The new token expires in ten days: due, and the window is closed.
    expiring_soon(&client, &ns).await;
    wait_condition::<IntegrationAccount>(&client, &ns, "sf", "RotationDue", |c| c.0 == "True").await;
    crate::support::sandbox::trackvia_account(&client, &ns, &emu, "broken", "sandbox", "absent", None).await;
    wait_condition::<TrackViaAccount>(&client, &ns, "broken", "Ready", |c| c.0 == "False").await;
    wait_condition::<CredentialRotation>(&client, &ns, "regen", "Ready", |c| c.0 == "False").await;

    let (sf, regen, conn, broken) = (named("sf"), named("regen"), named("conn-1"), named("broken"));
    let not_ready = "condition=\"False\"";
    let text = op
        .scrape_until("every series of the story", |m| {
            let one = |metric: &str, labels: &[&str]| value(m, metric, labels) == Some(1.0);
            one("trackvia_operator_rotation_due", &[&sf])
                && one("trackvia_operator_recipes_left_stopped", &[&regen])
                && one("trackvia_operator_rotation_phase", &[&regen, "phase=\"Failed\""])
                && one("trackvia_operator_ready_status", &[&regen, not_ready])
                && one("trackvia_operator_ready_status", &[&broken, not_ready])
                && value(
                    m,
                    "trackvia_operator_ready_status",
                    &[&conn, "condition=\"True\""],
                ) == Some(0.0)
                && value(m, "trackvia_operator_token_expiry_timestamp_seconds", &[&sf]).is_some()
                && value(
                    m,
                    "trackvia_operator_rotations_total",
                    &["outcome=\"RecipeStartFailed\""],
                ) == Some(1.0)
        })
        .await;
    for kind in KINDS {
        assert!(
            text.contains(&format!("trackvia_operator_ready_status{{kind=\"{kind}\"")),
            "{kind}: {text}"
        );
    }
    for metric in [
        "build_info",
        "leader",
        "rotation_due_since_timestamp_seconds",
        "token_renew_before_seconds",
        "ready_condition_since_timestamp_seconds",
        "recipes_stopped_by_workato",
        "recipes_auth_failing",
        "rotation_awaiting_approval",
        "external_requests_total",
    ] {
        assert!(
            text.contains(&format!("trackvia_operator_{metric}")),
            "{metric}: {text}"
        );
    }
    let dir = crate::support::repo_root().join("target/metrics");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("scrape.prom"), &text).unwrap();
}
