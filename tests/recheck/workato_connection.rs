//! WorkatoConnection: the recipe listing is read again (bypassing the workspace's shared listing
//! cache) when the person annotates after adding a recipe in Workato.

use serde_json::{Value, json};
use trackvia_operator::api::WorkatoConnection;

use super::{QUIET, annotate};
use crate::support::operator::{Emulators, Operator, eventually};
use crate::support::world::{WAIT, get_json, seed, setup};

fn recipe_ids(wc: &Value) -> Vec<i64> {
    wc["status"]["recipes"]
        .as_array()
        .map(|rs| rs.iter().filter_map(|r| r["id"].as_i64()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_new_recipe_is_listed_right_after_the_annotation() {
    let (client, ns) = crate::support::cluster("recheck-wc").await;
    let emu = Emulators::start(&seed()).await;
    // Workato's listings are read at most once per 10 minutes.
    let _op = Operator::start_with(
        &ns,
        &format!("recheck-wc-{}", std::process::id()),
        &[
            "--workspace-check-interval",
            "10m",
            "--recipe-jobs-interval",
            "10m",
        ],
        &[],
    );
    setup(&client, &ns, &emu, None).await; // conn-1..3 Ready
    let wc = get_json::<WorkatoConnection>(&client, &ns, "conn-1")
        .await
        .unwrap();
    assert_eq!(recipe_ids(&wc), vec![1001, 1004, 1007, 1010], "{}", wc["status"]);

    // The person builds a recipe on the connection in Workato: with a 10-minute listing interval,
    // it is not seen.
    let created = emu
        .control(
            "workato/workspaces/acme-dev/recipes",
            json!({"name": "New deal sync", "running": true, "connections": [100]}),
        )
        .await;
    let new_id = created["id"].as_i64().expect("recipe id");
    tokio::time::sleep(QUIET).await;
    let wc = get_json::<WorkatoConnection>(&client, &ns, "conn-1")
        .await
        .unwrap();
    assert!(
        !recipe_ids(&wc).contains(&new_id),
        "no recheck asked yet: {}",
        wc["status"]
    );

    annotate::<WorkatoConnection>(&client, &ns, "conn-1", "2026-12-01T23:10:00Z").await;
    let wc = eventually(WAIT, "the new recipe after the recheck annotation", || async {
        let wc = get_json::<WorkatoConnection>(&client, &ns, "conn-1").await?;
        recipe_ids(&wc).contains(&new_id).then_some(wc)
    })
    .await;
    assert_eq!(wc["status"]["recipeCount"], 5, "{}", wc["status"]);
    let handled = eventually(WAIT, "status.recheckHandled", || async {
        let wc = get_json::<WorkatoConnection>(&client, &ns, "conn-1").await?;
        wc["status"]["recheckHandled"].as_str().map(str::to_owned)
    })
    .await;
    assert_eq!(handled, "2026-12-01T23:10:00Z");
}
