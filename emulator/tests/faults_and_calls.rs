//! Fault injection (status + count, Retry-After, drop, latency) and the call log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use trackvia_emulator::Config;

async fn add_fault(env: &Harness, fault: Value) -> Value {
    let resp = env.post("/_emulator/faults", fault).await;
    assert_eq!(resp.status, 201, "{:?}", resp.body);
    resp.body
}

#[tokio::test]
async fn status_fault_applies_to_the_next_count_calls_before_auth() {
    let env = start().await;
    add_fault(
        &env,
        json!({"service": "workato", "method": "PUT", "route": "/api/connections/{id}", "status": 503, "count": 2,
               "retryAfterSecs": 3, "body": {"message": "maintenance"}}),
    )
    .await;
    let body = json!({"name": "x"});
    for _ in 0..2 {
        // No token at all: the fault answers before authentication.
        let resp = env
            .wk(Method::PUT, "/api/connections/102", None, Some(body.clone()))
            .await;
        assert_eq!((resp.status, resp.header("retry-after")), (503, Some("3")));
        assert_eq!(resp.body, json!({"message": "maintenance"}));
    }
    let resp = env
        .wk(Method::PUT, "/api/connections/102", Some(DEV_TOKEN), Some(body))
        .await;
    assert_eq!(
        resp.status, 200,
        "faulted calls did not use the rate limit: {:?}",
        resp.body
    );
    let other = env
        .wk(Method::GET, "/api/connections", Some(DEV_TOKEN), None)
        .await;
    assert_eq!(other.status, 200);
    assert_eq!(
        env.control(Method::GET, "/_emulator/faults", None).await.body["faults"],
        json!([])
    );
}

#[tokio::test]
async fn status_fault_default_bodies_follow_each_vendor() {
    let env = start().await;
    add_fault(
        &env,
        json!({"service": "trackvia", "route": "/openapi/views", "status": 429, "retryAfterSecs": 7}),
    )
    .await;
    add_fault(&env, json!({"service": "workato", "route": "*", "status": 500})).await;
    let tv = env
        .tv(Method::GET, "/openapi/views", Some(SBX_KEY), Some(SF_TOKEN))
        .await;
    assert_eq!((tv.status, tv.header("retry-after")), (429, Some("7")));
    assert_eq!(
        tv.body,
        json!({"errors": [], "message": "Too Many Requests", "name": "tooManyRequests", "code": "429"})
    );
    let wk = env.wk(Method::GET, "/api/recipes", Some(DEV_TOKEN), None).await;
    assert_eq!(
        (wk.status, wk.body.clone()),
        (500, json!({"message": "Internal Server Error"}))
    );
}

#[tokio::test]
async fn drop_fault_breaks_the_response() {
    let env = start().await;
    add_fault(
        &env,
        json!({"service": "trackvia", "method": "GET", "route": "/openapi/views", "drop": true}),
    )
    .await;
    let url = format!("{}/openapi/views", env.emulator.trackvia_url());
    let request = env
        .http
        .get(&url)
        .query(&[("user_key", SBX_KEY), ("access_token", SF_TOKEN)]);
    match request.send().await {
        Err(_) => {}
        Ok(response) => assert!(response.bytes().await.is_err(), "the body must not complete"),
    }
    let next = env
        .tv(Method::GET, "/openapi/views", Some(SBX_KEY), Some(SF_TOKEN))
        .await;
    assert_eq!(next.status, 200);
    let calls = env.control(Method::GET, "/_emulator/calls", None).await.body;
    assert_eq!(calls["calls"][0]["fault"], "drop");
}

#[tokio::test]
async fn latency_fault_makes_the_client_time_out() {
    let env = start().await;
    add_fault(
        &env,
        json!({"service": "workato", "method": "GET", "route": "/api/connections", "latencyMs": 2000}),
    )
    .await;
    let started = Instant::now();
    let result = env
        .wk_request(Method::GET, "/api/connections", Some(DEV_TOKEN), None)
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(result.unwrap_err().is_timeout());
    assert!(started.elapsed() < Duration::from_millis(1500));

    add_fault(
        &env,
        json!({"service": "workato", "route": "/api/recipes", "latencyMs": 150}),
    )
    .await;
    let started = Instant::now();
    let resp = env.wk(Method::GET, "/api/recipes", Some(DEV_TOKEN), None).await;
    assert_eq!(
        resp.status, 200,
        "a latency-only fault answers normally afterwards"
    );
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn configured_latency_applies_to_vendor_calls_only() {
    let env = start_config(Config {
        latency: Duration::from_millis(120),
        ..test_config()
    })
    .await;
    let started = Instant::now();
    env.tv(Method::GET, "/openapi/apps", Some(SBX_KEY), Some(SF_TOKEN))
        .await;
    assert!(started.elapsed() >= Duration::from_millis(120));
    let started = Instant::now();
    env.control(Method::GET, "/_emulator/health", None).await;
    assert!(started.elapsed() < Duration::from_millis(120));
}

#[tokio::test]
async fn faults_can_be_listed_and_removed() {
    let env = start().await;
    let fault = add_fault(&env, json!({"service": "*", "status": 502, "count": 5})).await;
    assert_eq!(
        (fault["remaining"].as_u64(), fault["method"].as_str()),
        (Some(5), Some("*"))
    );
    let listed = env.control(Method::GET, "/_emulator/faults", None).await.body;
    assert_eq!(listed["faults"].as_array().unwrap().len(), 1);
    let id = fault["id"].as_u64().unwrap();
    assert_eq!(
        env.control(Method::DELETE, &format!("/_emulator/faults/{id}"), None)
            .await
            .status,
        200
    );
    add_fault(&env, json!({"status": 502})).await;
    assert_eq!(
        env.control(Method::DELETE, "/_emulator/faults", None).await.body["cleared"],
        1
    );
    let invalid = env.post("/_emulator/faults", json!({"service": "workato"})).await;
    assert_eq!(invalid.status, 400);
    let invalid = env
        .post("/_emulator/faults", json!({"service": "other", "status": 500}))
        .await;
    assert_eq!(invalid.status, 400);
}

#[tokio::test]
async fn call_log_records_route_templates_and_subjects() {
    let env = start().await;
    env.tv(
        Method::GET,
        "/openapi/views/10/records",
        Some(SBX_KEY),
        Some(SF_TOKEN),
    )
    .await;
    env.tv(Method::GET, "/openapi/views", Some("unknown-key"), None)
        .await;
    env.wk(
        Method::PUT,
        "/api/connections/102",
        Some(DEV_TOKEN),
        Some(json!({"name": "x"})),
    )
    .await;
    env.wk(
        Method::GET,
        "/api/managed_users/Ecust-1/recipes/700",
        Some(DEV_TOKEN),
        None,
    )
    .await;
    env.wk(Method::GET, "/api/nothing", Some("bad"), None).await;
    env.control(Method::GET, "/_emulator/state", None).await;

    let calls = env.control(Method::GET, "/_emulator/calls", None).await.body["calls"].clone();
    let calls = calls.as_array().unwrap();
    assert_eq!(calls.len(), 5, "control calls are not logged: {calls:?}");
    let tv = &calls[0];
    assert_eq!(tv["service"], "trackvia");
    assert_eq!(tv["route"], "GET /openapi/views/{id}/records");
    assert_eq!(tv["path"], "/openapi/views/10/records");
    assert_eq!(
        (tv["status"].as_u64(), tv["account"].as_u64()),
        (Some(200), Some(SBX))
    );
    assert!(tv["at"].as_str().unwrap().ends_with('Z'));
    assert!(calls[1]["account"].is_null());
    let wk = &calls[2];
    assert_eq!(
        (wk["route"].as_str(), wk["path"].as_str()),
        (Some("PUT /api/connections/{id}"), Some("/api/connections/102"))
    );
    assert_eq!(
        (wk["workspace"].as_str(), wk["method"].as_str()),
        (Some("acme-dev"), Some("PUT"))
    );
    assert_eq!(
        calls[3]["route"],
        "GET /api/managed_users/{managed_user}/recipes/{id}"
    );
    assert_eq!(calls[3]["workspace"], "acme-customer");
    assert_eq!(
        (calls[4]["route"].as_str(), calls[4]["status"].as_u64()),
        (Some("GET /api/nothing"), Some(404))
    );

    let seq = calls[2]["seq"].as_u64().unwrap();
    let since = env
        .control(Method::GET, &format!("/_emulator/calls?since={seq}"), None)
        .await
        .body;
    assert_eq!(since["calls"].as_array().unwrap().len(), 2);
    assert_eq!(
        env.control(Method::DELETE, "/_emulator/calls", None).await.body["cleared"],
        5
    );
    // The Workato listener serves the same control API.
    let url = format!("{}/_emulator/calls", env.emulator.workato_url());
    let empty: Value = env.http.get(url).send().await.unwrap().json().await.unwrap();
    assert_eq!(empty["calls"], json!([]));
}

#[tokio::test]
async fn clock_rejects_bad_bodies() {
    let env = start().await;
    assert_eq!(
        env.post("/_emulator/clock", json!({"advanceSecs": -5}))
            .await
            .status,
        400
    );
    assert_eq!(env.post("/_emulator/clock", json!({})).await.status, 400);
}
