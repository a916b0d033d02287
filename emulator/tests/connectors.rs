//! Workato's connector metadata (standard and custom connectors) and the TrackVia connection test
//! that follows the authentication type.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use trackvia_emulator::Config;
use trackvia_emulator::seed::CustomConnectorSeed;

async fn update(env: &Harness, id: u64, input: Value) -> Value {
    env.reset_rate_limits().await;
    let path = format!("/api/connections/{id}");
    let body = json!({"input": input, "shell_connection": false});
    env.wk(Method::PUT, &path, Some(DEV_TOKEN), Some(body)).await.body
}

/// `GET /api/integrations` answers the PlatformConnector shape of Workato's OpenAPI, with the
/// TrackVia connector as Workato publishes it (OAuth).
#[tokio::test]
async fn standard_connectors_are_described_as_published() {
    let env = start().await;
    let r = env
        .wk(
            Method::GET,
            "/api/integrations?applications=trackvia,nope",
            Some(DEV_TOKEN),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "unknown names are left out");
    assert_shape(
        &items[0],
        &[
            ("name", "string"),
            ("title", "string"),
            ("categories", "array"),
            ("oauth", "bool"),
            ("deprecated", "bool"),
            ("secondary", "bool"),
            ("triggers", "array"),
            ("actions", "array"),
        ],
    );
    assert_eq!(items[0]["oauth"], true);
    let missing = env
        .wk(Method::GET, "/api/integrations", Some(DEV_TOKEN), None)
        .await;
    assert_eq!(missing.status, 400);
    let anon = env
        .wk(Method::GET, "/api/integrations?applications=trackvia", None, None)
        .await;
    assert_eq!(anon.status, 401);
}

/// The built-in connector's test follows the authentication type in the input; an untyped input
/// is what `--trackvia-default-auth-type` says.
#[tokio::test]
async fn the_trackvia_test_follows_the_authentication_type() {
    let env = start().await;
    let token = json!({"auth_type": "auth_token", "user_key": SBX_KEY, "access_token": SF_TOKEN});
    assert_eq!(update(&env, 102, token).await["authorization_status"], "success");
    let oauth = update(&env, 102, json!({"auth_type": "oauth"})).await;
    assert_eq!(
        oauth["authorization_status"], "failed",
        "no employee authorized it"
    );
    let employee = json!({"auth_type": "oauth", "oauth_user": "admin@acme.example"});
    assert_eq!(
        update(&env, 102, employee).await["authorization_status"],
        "success"
    );
    let gone = json!({"auth_type": "oauth", "oauth_user": "gone@acme.example"});
    let r = update(&env, 102, gone).await;
    assert_eq!(
        r["authorization_status"], "failed",
        "an inactive employee's grant fails"
    );
    let weird = update(&env, 102, json!({"auth_type": "weird"})).await;
    assert_eq!(
        weird["authorization_error"],
        "400 Bad Request: unknown authentication type"
    );

    let mut config = test_config();
    config.trackvia_input_keys.auth_type.default_oauth = true;
    let env = start_config(config).await;
    let untyped = json!({"user_key": SBX_KEY, "access_token": SF_TOKEN});
    let r = update(&env, 102, untyped).await;
    assert_eq!(r["authorization_status"], "failed", "untyped is OAuth here: {r}");
    let typed = json!({"auth_type": "auth_token"});
    assert_eq!(update(&env, 102, typed).await["authorization_status"], "success");
}

/// Custom connectors are listed with their versions, their code is served, and their
/// connections are tested with the fields the seed names.
#[tokio::test]
async fn custom_connectors_are_listed_served_and_tested() {
    let mut seed = fixture_seed();
    seed.workato.workspaces[0]
        .custom_connectors
        .push(CustomConnectorSeed {
            id: 8,
            name: "tv_custom".into(),
            title: "TrackVia (custom)".into(),
            code: "{ connection: { fields: [ { name: 'api_token' }, { name: 'key' } ] } }".into(),
            api_key_field: "key".into(),
            auth_token_field: "api_token".into(),
        });
    let env = start_with(seed, Config { ..test_config() }).await;
    let list = env
        .wk(Method::GET, "/api/custom_connectors", Some(DEV_TOKEN), None)
        .await;
    let result = list.body["result"].as_array().unwrap();
    assert_eq!(result.len(), 1);
    assert_shape(
        &result[0],
        &[
            ("id", "number"),
            ("name", "string"),
            ("title", "string"),
            ("latest_released_version", "number"),
            ("latest_released_version_note", "string"),
            ("released_versions", "array"),
            ("static_webhook_url", "null"),
        ],
    );
    let code = env
        .wk(
            Method::GET,
            "/api/custom_connectors/8/code",
            Some(DEV_TOKEN),
            None,
        )
        .await;
    assert!(code.body["data"]["code"].as_str().unwrap().contains("api_token"));
    let missing = env
        .wk(
            Method::GET,
            "/api/custom_connectors/9/code",
            Some(DEV_TOKEN),
            None,
        )
        .await;
    assert_eq!(missing.status, 404);

    let created = env
        .wk(
            Method::POST,
            "/api/connections",
            Some(DEV_TOKEN),
            Some(
                json!({"name": "custom", "provider": "tv_custom", "shell_connection": false,
                        "input": {"key": SBX_KEY, "api_token": SF_TOKEN}}),
            ),
        )
        .await;
    assert_eq!(
        created.body["authorization_status"], "success",
        "{}",
        created.body
    );
    let id = created.body["id"].as_u64().unwrap();
    let wrong = update(&env, id, json!({"api_token": "nope"})).await;
    assert_eq!(wrong["authorization_status"], "failed");
}
