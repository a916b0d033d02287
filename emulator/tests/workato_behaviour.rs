//! Workato behaviour: connection tests against the TrackVia state, recipe selection by
//! connection, start/stop rules, the recipe runtime, the task limit, rate limits and the
//! Embedded managed-user prefix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use trackvia_emulator::Config;

fn ids(items: &Value) -> Vec<u64> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn connection_update_really_tests_against_trackvia() {
    let env = start().await;
    let update = |body: Value| env.wk(Method::PUT, "/api/connections/102", Some(DEV_TOKEN), Some(body));
    let ok =
        update(json!({"input": {"user_key": SBX_KEY, "access_token": SF_TOKEN}, "shell_connection": false}))
            .await;
    assert_eq!(ok.body["authorization_status"], "success");
    assert!(ok.body["authorized_at"].is_string());
    assert!(ok.body.get("input").is_none(), "input is never returned");

    env.reset_rate_limits().await;
    let expired =
        update(json!({"input": {"access_token": "sbx-expired-token"}, "shell_connection": false})).await;
    assert_eq!(expired.status, 200, "a failed test is still a 200");
    assert_eq!(expired.body["authorization_status"], "failed");
    assert_eq!(
        expired.body["authorization_error"],
        "401 Unauthorized: Access token expired: sbx-expired-token"
    );

    // The input was merged: fixing the token alone is enough.
    env.reset_rate_limits().await;
    let fixed = update(json!({"input": {"access_token": SF_TOKEN}, "shell_connection": false})).await;
    assert_eq!(fixed.body["authorization_status"], "success");

    // A shell update stores the input untested.
    env.reset_rate_limits().await;
    let shell = update(json!({"input": {"access_token": "garbage"}, "shell_connection": true})).await;
    assert_eq!(shell.body["authorization_status"], "success");
    let state = env.state().await;
    assert_eq!(
        state["workato"]["workspaces"][0]["connections"][2]["input"]["access_token"],
        "garbage"
    );

    // A wrong user_key (production key with a sandbox token) fails.
    env.reset_rate_limits().await;
    let wrong_env = update(
        json!({"input": {"user_key": "prod-api-key", "access_token": SF_TOKEN}, "shell_connection": false}),
    )
    .await;
    assert_eq!(
        wrong_env.body["authorization_error"],
        "401 Unauthorized: Invalid access token: sbx-sf-token"
    );

    env.reset_rate_limits().await;
    let renamed = update(json!({"name": "x"})).await;
    assert_eq!(renamed.body["name"], "x");
    env.reset_rate_limits().await;
    let missing = env
        .wk(
            Method::PUT,
            "/api/connections/999",
            Some(DEV_TOKEN),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn input_keys_are_configurable() {
    let config = Config {
        trackvia_input_keys: trackvia_emulator::InputKeys {
            user_key: "api_key".into(),
            access_token: "auth_token".into(),
            ..Default::default()
        },
        ..test_config()
    };
    let env = start_config(config).await;
    let body = json!({"input": {"api_key": SBX_KEY, "auth_token": SF_TOKEN}, "shell_connection": false});
    let resp = env
        .wk(Method::PUT, "/api/connections/102", Some(DEV_TOKEN), Some(body))
        .await;
    assert_eq!(resp.body["authorization_status"], "success");
}

#[tokio::test]
async fn create_tests_when_not_a_shell() {
    let env = start().await;
    let body = json!({"name": "TV", "provider": "trackvia", "input": {"user_key": SBX_KEY, "access_token": SF_TOKEN}});
    let created = env
        .wk(Method::POST, "/api/connections", Some(DEV_TOKEN), Some(body))
        .await;
    assert_eq!(created.body["authorization_status"], "success");
    let id = created.body["id"].as_u64().unwrap();
    let listed = env.connection(DEV_TOKEN, id).await;
    assert_eq!(listed["name"], "TV");
    let other = env
        .wk(Method::GET, "/api/connections", Some(PROD_TOKEN), None)
        .await;
    assert_eq!(ids(&other.body), [200], "workspaces are separate");
}

#[tokio::test]
async fn recipes_are_selected_by_config_account_id() {
    let env = start().await;
    let path = "/api/recipes?adapter_names_any=trackvia&per_page=100&page=1&exclude_code=true";
    let resp = env.wk(Method::GET, path, Some(DEV_TOKEN), None).await;
    assert_eq!(ids(&resp.body["items"]), [500, 501]);
    let using_100: Vec<u64> = resp.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["config"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["account_id"] == 100)
        })
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(using_100, [500, 501]);
    // `code` is required by the published schema, so `exclude_code` empties it.
    assert_eq!(resp.body["items"][0]["code"], "");
    let running = env
        .wk(Method::GET, "/api/recipes?running=true", Some(DEV_TOKEN), None)
        .await;
    assert_eq!(ids(&running.body["items"]), [500]);
    assert!(
        running.body["items"][0]["code"]
            .as_str()
            .is_some_and(|c| c.starts_with('{'))
    );
    let paged = env
        .wk(
            Method::GET,
            "/api/recipes?per_page=2&page=2",
            Some(DEV_TOKEN),
            None,
        )
        .await;
    assert_eq!(ids(&paged.body["items"]), [502]);
    let all = env
        .wk(
            Method::GET,
            "/api/recipes?adapter_names_all=trackvia,salesforce",
            Some(DEV_TOKEN),
            None,
        )
        .await;
    assert_eq!(ids(&all.body["items"]), [501]);

    // Recipes created through the control API show up too.
    let created = env
        .post(
            "/_emulator/workato/workspaces/acme-dev/recipes",
            json!({"name": "New", "running": false, "connections": [102], "folderId": 1}),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["config"][0]["account_id"], 102);
    let bad = env
        .post(
            "/_emulator/workato/workspaces/acme-dev/recipes",
            json!({"name": "Bad", "connections": [200]}),
        )
        .await;
    assert_eq!(bad.status, 400, "connection of another workspace");
    let nowhere = env
        .post("/_emulator/workato/workspaces/nope/recipes", json!({"name": "X"}))
        .await;
    assert_eq!(nowhere.status, 404);
}

#[tokio::test]
async fn start_with_a_broken_connection_answers_success_false() {
    let env = start().await;
    env.post(
        &format!("/_emulator/trackvia/accounts/{SBX}/users/2/deactivate"),
        json!({}),
    )
    .await;
    let resp = env
        .wk(Method::PUT, "/api/recipes/501/start", Some(DEV_TOKEN), None)
        .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body["success"], false);
    assert_eq!(
        resp.body["config_errors"][0][1][0][2],
        "Connection failed: 401 Unauthorized: User is disabled"
    );
    assert_eq!(env.recipe(DEV_TOKEN, 501).await["running"], false);
    let connection = env.connection(DEV_TOKEN, 100).await;
    assert_eq!(
        connection["authorization_status"], "failed",
        "start re-runs the connection test"
    );

    env.post(
        &format!("/_emulator/trackvia/accounts/{SBX}/users/2/activate"),
        json!({}),
    )
    .await;
    let resp = env
        .wk(Method::PUT, "/api/recipes/501/start", Some(DEV_TOKEN), None)
        .await;
    assert_eq!(resp.body, json!({"success": true}));
    let recipe = env.recipe(DEV_TOKEN, 501).await;
    assert_eq!(
        (recipe["running"].as_bool(), recipe["stopped_at"].is_null()),
        (Some(true), true)
    );
    assert_eq!(
        env.connection(DEV_TOKEN, 100).await["authorization_status"],
        "success"
    );
}

#[tokio::test]
async fn disconnected_connection_fails_recipe_start() {
    let env = start().await;
    env.wk(
        Method::POST,
        "/api/connections/100/disconnect",
        Some(DEV_TOKEN),
        None,
    )
    .await;
    let connection = env.connection(DEV_TOKEN, 100).await;
    assert!(connection["authorization_status"].is_null() && connection["authorized_at"].is_null());
    let resp = env
        .wk(Method::PUT, "/api/recipes/501/start", Some(DEV_TOKEN), None)
        .await;
    assert_eq!(resp.body["success"], false);
    env.reset_rate_limits().await;
    env.wk(Method::DELETE, "/api/connections/100", Some(DEV_TOKEN), None)
        .await;
    let list = env
        .wk(Method::GET, "/api/connections", Some(DEV_TOKEN), None)
        .await;
    assert_eq!(ids(&list.body), [101, 102]);
}

#[tokio::test]
async fn repeated_auth_errors_stop_a_running_recipe() {
    let config = Config {
        auth_error_stop_threshold: 3,
        ..test_config()
    };
    let env = start_config(config).await;
    assert_eq!(env.tick(1).await["pollErrors"], 0);
    env.post(
        &format!("/_emulator/trackvia/accounts/{SBX}/tokens/2/deactivate"),
        json!({}),
    )
    .await;
    env.tick(2).await;
    let recipe = env.recipe(DEV_TOKEN, 500).await;
    assert_eq!(
        (recipe["running"].as_bool(), recipe["job_failed_count"].as_u64()),
        (Some(true), Some(2))
    );
    assert!(env.connection(DEV_TOKEN, 100).await["connection_lost_at"].is_null());

    let report = env.tick(1).await;
    assert_eq!(report["stopped"], 1);
    let recipe = env.recipe(DEV_TOKEN, 500).await;
    assert_eq!(recipe["running"], false);
    assert_eq!(recipe["stop_cause"], "trigger_errors_limit");
    assert!(recipe["stopped_at"].is_string());
    let connection = env.connection(DEV_TOKEN, 100).await;
    assert!(connection["connection_lost_at"].is_string());
    assert_eq!(
        connection["connection_lost_reason"],
        "401 Unauthorized: Invalid access token: sbx-sf-token"
    );
    let jobs = env
        .wk(Method::GET, "/api/recipes/500/jobs", Some(DEV_TOKEN), None)
        .await;
    assert_eq!(
        (
            jobs.body["job_succeeded_count"].as_u64(),
            jobs.body["job_failed_count"].as_u64()
        ),
        (Some(1), Some(3))
    );
    assert!(jobs.body["items"][0]["is_poll_error"].as_bool().unwrap());
    let failed = env
        .wk(
            Method::GET,
            "/api/recipes/500/jobs?status=failed",
            Some(DEV_TOKEN),
            None,
        )
        .await;
    assert_eq!(failed.body["items"].as_array().unwrap().len(), 3);

    // The prod recipe kept running: its connection is fine.
    assert_eq!(env.recipe(PROD_TOKEN, 600).await["running"], true);

    // Rotating the token into the connection clears the loss; the recipe starts again.
    let token = env.new_token(SBX, "2", "2031-01-01T00:00:00Z").await;
    let body = json!({"input": {"access_token": token}, "shell_connection": false});
    let updated = env
        .wk(Method::PUT, "/api/connections/100", Some(DEV_TOKEN), Some(body))
        .await;
    assert!(updated.body["connection_lost_at"].is_null());
    let start = env
        .wk(Method::PUT, "/api/recipes/500/start", Some(DEV_TOKEN), None)
        .await;
    assert_eq!(start.body, json!({"success": true}));
    assert_eq!(env.recipe(DEV_TOKEN, 500).await["stop_cause"], Value::Null);
}

#[tokio::test]
async fn a_person_can_make_a_recipe_job_fail_or_succeed() {
    let env = start_config(test_config()).await;
    let path = "/_emulator/workato/workspaces/acme-dev/recipes/500/jobs";
    let failed = env
        .post(path, json!({"error": "Salesforce: 503 Service Unavailable"}))
        .await;
    assert_eq!(failed.status, 201, "{:?}", failed.body);
    assert_eq!(failed.body["isError"], true);
    let ok = env.post(path, json!({})).await;
    assert_eq!((ok.status, &ok.body["isError"]), (201, &json!(false)));

    let jobs = env
        .wk(Method::GET, "/api/recipes/500/jobs", Some(DEV_TOKEN), None)
        .await;
    let items = jobs.body["items"].as_array().unwrap();
    // Newest first; an action failure is not a poll error; the counters count both.
    assert_eq!(items[0]["is_error"], false);
    assert_eq!(items[1]["error"], "Salesforce: 503 Service Unavailable");
    assert_eq!(items[1]["is_poll_error"], false);
    assert_eq!(
        (
            jobs.body["job_succeeded_count"].as_u64(),
            jobs.body["job_failed_count"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let recipe = env.recipe(DEV_TOKEN, 500).await;
    assert_eq!(
        (recipe["running"].as_bool(), recipe["job_failed_count"].as_u64()),
        (Some(true), Some(1)),
        "a failed job does not stop the recipe"
    );
    let missing = env
        .post(
            "/_emulator/workato/workspaces/acme-dev/recipes/999/jobs",
            json!({}),
        )
        .await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn background_poller_stops_a_broken_recipe_by_itself() {
    let config = Config {
        auth_error_stop_threshold: 2,
        recipe_poll_interval: Duration::from_millis(20),
        ..Config::default()
    };
    let env = start_config(config).await;
    env.post(
        &format!("/_emulator/trackvia/accounts/{SBX}/tokens/2/deactivate"),
        json!({}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let recipe = env.recipe(DEV_TOKEN, 500).await;
        if recipe["running"] == false {
            assert_eq!(recipe["stop_cause"], "trigger_errors_limit");
            break;
        }
        assert!(Instant::now() < deadline, "the poller never stopped the recipe");
        env.reset_rate_limits().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn task_limit_stops_recipes_with_the_quota_cause() {
    let env = start().await;
    let on = env
        .post("/_emulator/workato/task-limit", json!({"reached": true}))
        .await;
    assert_eq!(on.body["stopped"], 2, "500 in dev and 600 in prod");
    let recipe = env.recipe(DEV_TOKEN, 500).await;
    assert_eq!(
        (recipe["running"].as_bool(), recipe["stop_cause"].as_str()),
        (Some(false), Some("txn_quota_limit"))
    );
    let refused = env
        .wk(Method::PUT, "/api/recipes/500/start", Some(DEV_TOKEN), None)
        .await;
    assert_eq!(
        (refused.status, refused.body["message"].as_str()),
        (400, Some("Task limit reached"))
    );
    let stopped = env
        .wk(
            Method::GET,
            "/api/recipes?stop_cause=txn_quota_limit",
            Some(DEV_TOKEN),
            None,
        )
        .await;
    assert_eq!(ids(&stopped.body["items"]), [500]);

    env.post("/_emulator/workato/task-limit", json!({"reached": false}))
        .await;
    assert_eq!(
        env.recipe(DEV_TOKEN, 500).await["running"],
        false,
        "nothing restarts by itself"
    );
    let started = env
        .wk(Method::PUT, "/api/recipes/500/start", Some(DEV_TOKEN), None)
        .await;
    assert_eq!(started.body, json!({"success": true}));
}

#[tokio::test]
async fn task_limit_stop_cause_is_configurable() {
    let env = start_config(Config {
        task_limit_stop_cause: "action_quota_limit".into(),
        ..test_config()
    })
    .await;
    env.post("/_emulator/workato/task-limit", json!({"reached": true}))
        .await;
    assert_eq!(
        env.recipe(DEV_TOKEN, 500).await["stop_cause"],
        "action_quota_limit"
    );
}

#[tokio::test]
async fn paced_connection_updates_never_hit_the_rate_limit() {
    let env = start().await;
    let body = json!({"name": "paced"});
    for _ in 0..3 {
        let resp = env
            .wk(
                Method::PUT,
                "/api/connections/102",
                Some(DEV_TOKEN),
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            resp.status, 200,
            "a client doing one update per second is never refused"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let first = env
        .wk(
            Method::PUT,
            "/api/connections/102",
            Some(DEV_TOKEN),
            Some(body.clone()),
        )
        .await;
    let second = env
        .wk(
            Method::PUT,
            "/api/connections/102",
            Some(DEV_TOKEN),
            Some(body.clone()),
        )
        .await;
    assert_eq!((first.status, second.status), (200, 429));
    assert_eq!(second.header("retry-after"), Some("1"));
    // Other workspaces have their own buckets.
    let prod = env
        .wk(Method::PUT, "/api/connections/200", Some(PROD_TOKEN), Some(body))
        .await;
    assert_eq!(prod.status, 200);
}

#[tokio::test]
async fn list_and_recipe_limits_allow_bursts_of_sixty() {
    let env = start().await;
    for _ in 0..60 {
        assert_eq!(
            env.wk(Method::GET, "/api/connections", Some(DEV_TOKEN), None)
                .await
                .status,
            200
        );
    }
    assert_eq!(
        env.wk(Method::GET, "/api/connections", Some(DEV_TOKEN), None)
            .await
            .status,
        429
    );
    assert_eq!(
        env.wk(Method::GET, "/api/recipes", Some(DEV_TOKEN), None)
            .await
            .status,
        200,
        "separate bucket"
    );
    for _ in 0..60 {
        env.wk(Method::GET, "/api/recipes/500", Some(DEV_TOKEN), None)
            .await;
    }
    assert_eq!(
        env.wk(Method::PUT, "/api/recipes/500/stop", Some(DEV_TOKEN), None)
            .await
            .status,
        429
    );
    assert_eq!(
        env.wk(Method::GET, "/api/recipes/500/jobs", Some(DEV_TOKEN), None)
            .await
            .status,
        200,
        "jobs bucket"
    );
}

#[tokio::test]
async fn retry_after_can_be_disabled() {
    let env = start_config(Config {
        workato_retry_after_secs: 0,
        ..test_config()
    })
    .await;
    let body = json!({"name": "x"});
    env.wk(
        Method::PUT,
        "/api/connections/102",
        Some(DEV_TOKEN),
        Some(body.clone()),
    )
    .await;
    let limited = env
        .wk(Method::PUT, "/api/connections/102", Some(DEV_TOKEN), Some(body))
        .await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after"), None);
}

#[tokio::test]
async fn managed_users_prefix_addresses_the_managed_workspace() {
    let env = start().await;
    let by_id = env
        .wk(
            Method::GET,
            "/api/managed_users/9001/connections",
            Some(DEV_TOKEN),
            None,
        )
        .await;
    assert_eq!(ids(&by_id.body), [300]);
    let by_external = env
        .wk(
            Method::GET,
            "/api/managed_users/Ecust-1/recipes",
            Some(DEV_TOKEN),
            None,
        )
        .await;
    assert_eq!(ids(&by_external.body["items"]), [700]);
    let filtered = env
        .wk(
            Method::GET,
            "/api/managed_users/9001/connections?external_id=cust-conn",
            Some(DEV_TOKEN),
            None,
        )
        .await;
    assert_eq!(ids(&filtered.body), [300]);

    let body = json!({"input": {"user_key": "prod-api-key", "access_token": "prod-admin-token"}, "shell_connection": false});
    let updated = env
        .wk(
            Method::PUT,
            "/api/managed_users/9001/connections/300",
            Some(DEV_TOKEN),
            Some(body),
        )
        .await;
    assert_eq!(updated.body["authorization_status"], "success");
    let start = env
        .wk(
            Method::PUT,
            "/api/managed_users/Ecust-1/recipes/700/start",
            Some(DEV_TOKEN),
            None,
        )
        .await;
    assert_eq!(start.body, json!({"success": true}));
    env.reset_rate_limits().await;
    let direct = env
        .wk(
            Method::PUT,
            "/api/connections/300",
            Some(DEV_TOKEN),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(
        direct.status, 404,
        "the managed workspace's connection is not in the admin workspace"
    );

    let unknown = env
        .wk(
            Method::GET,
            "/api/managed_users/Enope/connections",
            Some(DEV_TOKEN),
            None,
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.body.clone()),
        (404, json!({"message": "Not found"}))
    );
    let no_managed = env
        .wk(
            Method::GET,
            "/api/managed_users/9001/connections",
            Some(PROD_TOKEN),
            None,
        )
        .await;
    assert_eq!(no_managed.status, 404);
}
