//! StopAndRestart: the rotation stops exactly the running recipes, waits for the person to
//! regenerate the token, and restarts exactly those; the run's call log and recipe downtime are
//! printed for the record.

use serde_json::json;

use super::{rot_message, wait_phase_of};
use crate::support::operator::Emulators;
use crate::support::world::{
    connection_tokens, published_token, recipe_calls, regenerate_in_place, rotation, running, set_up,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn stop_and_restart_stops_and_restarts_exactly_the_running_recipes() {
    let (client, ns, emu, _op) = set_up("sar", 0, None).await;
    emu.reset_calls().await;
    rotation(
        &client,
        &ns,
        "regen",
        json!({"strategy": "StopAndRestart", "reason": "suspected leak"}),
    )
    .await;
    let waiting = wait_phase_of(&client, &ns, "WaitingForToken").await;
    let st = waiting.status.unwrap();
    let mut listed: Vec<i64> = st.recipes.iter().map(|r| r.id).collect();
    listed.sort();
    assert_eq!(
        listed,
        (1001..=1009).collect::<Vec<_>>(),
        "only the running recipes are recorded"
    );
    assert!(st.recipes.iter().all(|r| r.state.as_str() == "Stopped"));
    assert!(
        running(&emu).await.values().all(|r| !r),
        "every dependent recipe is stopped"
    );
    let msg = rot_message(&client, &ns).await;
    assert!(
        msg.contains("regenerate the token of Salesforce Integration") && msg.contains("Secret sf-token"),
        "{msg}"
    );

    // Regenerate in place: the old token dies, the new one goes into the Secret.
    let new = regenerate_in_place(&client, &ns, &emu).await;
    let done = wait_phase_of(&client, &ns, "Succeeded").await;
    let st = done.status.unwrap();
    assert!(
        st.recipes.iter().all(|r| r.state.as_str() == "Started"),
        "{:?}",
        st.recipes
    );
    let now = running(&emu).await;
    assert!(
        (1001..=1009).all(|id| now[&id]),
        "every stopped recipe runs again"
    );
    assert!(
        !now[&1010],
        "the recipe stopped before the rotation stays stopped"
    );
    let stops = recipe_calls(&emu, "stop").await;
    let starts = recipe_calls(&emu, "start").await;
    assert_eq!(stops.len(), 9);
    assert_eq!(starts.len(), 9);
    assert!(
        stops.values().chain(starts.values()).all(|n| *n == 1),
        "no recipe stopped or started twice"
    );
    assert!(!stops.contains_key("/api/recipes/1010") && !starts.contains_key("/api/recipes/1010"));
    assert!(connection_tokens(&emu).await.values().all(|t| *t == new));
    assert_eq!(published_token(&client, &ns).await, new);
    print_call_log_and_downtime(&emu).await;
}

/// The emulator's call log of the run (for the record) and each recipe's downtime, stop to start.
async fn print_call_log_and_downtime(emu: &Emulators) {
    let calls = emu.calls().await;
    let at = |c: &serde_json::Value| {
        c["at"]
            .as_str()
            .unwrap_or_default()
            .parse::<jiff::Timestamp>()
            .ok()
    };
    println!("emulator call log (Workato side of the rotation and TrackVia validation):");
    for c in &calls {
        println!(
            "  {} {:<7} {:<45} {:<28} {}",
            c["at"].as_str().unwrap_or_default(),
            c["service"].as_str().unwrap_or_default(),
            c["route"].as_str().unwrap_or_default(),
            c["path"].as_str().unwrap_or_default(),
            c["status"]
        );
    }
    let mut downtimes = Vec::new();
    for c in calls
        .iter()
        .filter(|c| c["route"] == "PUT /api/recipes/{id}/stop")
    {
        let path = c["path"]
            .as_str()
            .unwrap_or_default()
            .trim_end_matches("/stop")
            .to_owned();
        let start = calls.iter().find(|s| {
            s["route"] == "PUT /api/recipes/{id}/start"
                && s["path"].as_str().unwrap_or_default().trim_end_matches("/start") == path
        });
        if let (Some(a), Some(b)) = (at(c), start.and_then(at)) {
            downtimes.push(b.duration_since(a).as_secs_f64());
        }
    }
    let max = downtimes.iter().copied().fold(0.0, f64::max);
    let mean = downtimes.iter().sum::<f64>() / downtimes.len().max(1) as f64;
    println!(
        "recipe downtime over {} recipes: mean {mean:.2} s, max {max:.2} s",
        downtimes.len()
    );
}
