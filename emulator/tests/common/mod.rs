//! Helpers shared by the integration tests: start an emulator on free loopback ports, call it,
//! and compare answers with golden files.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;
use trackvia_emulator::{Config, Emulator, RunningEmulator, Seed};

pub const SBX: u64 = 21508;
pub const SBX_KEY: &str = "sbx-api-key";
pub const ADMIN_TOKEN: &str = "sbx-admin-token";
pub const SF_TOKEN: &str = "sbx-sf-token";
pub const DEV_TOKEN: &str = "wk-dev-token";
pub const PROD_TOKEN: &str = "wk-prod-token";

/// The fixture seed.
pub fn fixture_seed() -> Seed {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed.yaml");
    Seed::from_path(&path).expect("fixture seed loads")
}

/// Test configuration: no background poller (ticks only through the control API).
pub fn test_config() -> Config {
    Config {
        recipe_poll_interval: Duration::ZERO,
        ..Config::default()
    }
}

/// A running emulator and an HTTP client.
pub struct Harness {
    pub emulator: RunningEmulator,
    pub http: reqwest::Client,
}

/// An answer: status, headers and JSON body (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn start() -> Harness {
    start_with(fixture_seed(), test_config()).await
}

pub async fn start_config(config: Config) -> Harness {
    start_with(fixture_seed(), config).await
}

pub async fn start_with(seed: Seed, config: Config) -> Harness {
    let emulator = Emulator::start(seed, config).await.expect("emulator starts");
    // Built in one workspace with the operator, reqwest has rustls without a crypto provider of
    // its own (plain http is all these tests use, but building a client needs one).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    Harness { emulator, http }
}

pub async fn into_resp(response: reqwest::Response) -> Resp {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        body,
    }
}

impl Harness {
    /// A TrackVia call with `user_key` and `access_token` query parameters.
    pub async fn tv(&self, method: Method, path: &str, key: Option<&str>, token: Option<&str>) -> Resp {
        self.tv_query(method, path, key, token, &[]).await
    }

    pub async fn tv_query(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        token: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Resp {
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(key) = key {
            query.push(("user_key", key));
        }
        if let Some(token) = token {
            query.push(("access_token", token));
        }
        query.extend_from_slice(extra);
        let url = format!("{}{path}", self.emulator.trackvia_url());
        into_resp(self.http.request(method, url).query(&query).send().await.unwrap()).await
    }

    /// A Workato call with a Bearer token and an optional JSON body.
    pub async fn wk(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        into_resp(self.wk_request(method, path, token, body).send().await.unwrap()).await
    }

    pub fn wk_request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.emulator.workato_url()));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request
    }

    /// A control API call (served on the TrackVia listener; the Workato one serves it too).
    pub async fn control(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.emulator.trackvia_url()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        into_resp(request.send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.control(Method::POST, path, Some(body)).await
    }

    pub async fn state(&self) -> Value {
        self.control(Method::GET, "/_emulator/state", None).await.body
    }

    pub async fn connection(&self, token: &str, id: u64) -> Value {
        let list = self.wk(Method::GET, "/api/connections", Some(token), None).await;
        assert_eq!(list.status, 200, "{:?}", list.body);
        list.body
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
            .expect("connection listed")
    }

    pub async fn recipe(&self, token: &str, id: u64) -> Value {
        let resp = self
            .wk(Method::GET, &format!("/api/recipes/{id}"), Some(token), None)
            .await;
        assert_eq!(resp.status, 200, "{:?}", resp.body);
        resp.body
    }

    pub async fn reset_rate_limits(&self) {
        assert_eq!(
            self.control(Method::DELETE, "/_emulator/rate-limits", None)
                .await
                .status,
            200
        );
    }

    pub async fn tick(&self, count: u64) -> Value {
        let resp = self
            .post("/_emulator/workato/tick", serde_json::json!({ "count": count }))
            .await;
        assert_eq!(resp.status, 200, "{:?}", resp.body);
        resp.body
    }

    /// Creates a TrackVia token through the control API; returns its value.
    pub async fn new_token(&self, account: u64, user: &str, expires_at: &str) -> String {
        let body = serde_json::json!({"user": user, "name": "test", "expiresAt": expires_at});
        let resp = self
            .post(&format!("/_emulator/trackvia/accounts/{account}/tokens"), body)
            .await;
        assert_eq!(resp.status, 201, "{:?}", resp.body);
        resp.body["token"].as_str().unwrap().to_owned()
    }
}

/// Keys whose string values are timestamps (replaced by `<timestamp>` in golden files).
const TIMESTAMP_KEYS: &[&str] = &[
    "Created",
    "Updated",
    "created_at",
    "updated_at",
    "authorized_at",
    "connection_lost_at",
    "last_run_at",
    "stopped_at",
    "started_at",
    "completed_at",
    "error_at",
    "at",
];

/// Replaces volatile values (timestamps) so answers can be compared with golden files.
pub fn normalize(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if TIMESTAMP_KEYS.contains(&k.as_str()) && v.is_string() {
                        Value::String("<timestamp>".into())
                    } else {
                        normalize(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

/// Compares an answer (status, Retry-After, normalised body) with `tests/golden/<name>.json`;
/// `UPDATE_GOLDEN=1` rewrites the file instead.
pub fn assert_golden(name: &str, resp: &Resp) {
    let actual = serde_json::json!({
        "status": resp.status,
        "retryAfter": resp.header("retry-after"),
        "body": normalize(&resp.body),
    });
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.json"));
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        let text = serde_json::to_string_pretty(&actual).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
        return;
    }
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing golden file {}; run with UPDATE_GOLDEN=1", path.display()));
    let expected: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        actual,
        expected,
        "answer differs from {} (UPDATE_GOLDEN=1 rewrites it)\nactual: {}",
        path.display(),
        serde_json::to_string_pretty(&actual).unwrap()
    );
}

/// The JSON type name of a value.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Asserts an object has exactly `fields`, each of one of the allowed types (`a|b`).
pub fn assert_shape(value: &Value, fields: &[(&str, &str)]) {
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"));
    let mut expected: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
    let mut actual: Vec<&str> = object.keys().map(String::as_str).collect();
    expected.sort_unstable();
    actual.sort_unstable();
    assert_eq!(actual, expected, "field set of {value}");
    for (name, types) in fields {
        let got = kind(&object[*name]);
        assert!(
            types.split('|').any(|t| t == got),
            "field {name} is {got}, expected {types} in {value}"
        );
    }
}
