//! Schema fidelity: the emulator's Workato recipes, connections and jobs, and their list
//! envelopes, carry every field Workato publishes, with the published JSON types and
//! nullability. A generated client (e.g. from Workato's OpenAPI document) rejects an object whose
//! required field is missing or null where the schema does not allow null.
//!
//! The tables below are written by hand FROM THE PUBLISHED SCHEMAS, not from the emulator's
//! output:
//!
//! - Recipe, RecipeListResponse, Connection: `workato-api-spec.yaml` (OpenAPI 3.0.3, `info.version`
//!   1.0.0) in github.com/workato-devs/workato-platform-cli, commit
//!   1cede7ae437546eeb9c84e9295b4d2be675c6911 (file last changed in baf6f782, 2026-01-13),
//!   `components.schemas.{Recipe, RecipeListResponse, Connection}`; `GET /api/connections`
//!   answers a bare array of Connection; create and update answer one Connection.
//! - Jobs (no schema in that file): the response documented for
//!   `GET /api/recipes/:recipe_id/jobs` on https://docs.workato.com/en/workato-api/jobs.html
//!   (same fields under `/api/managed_users/:id/recipes/:recipe_id/jobs`,
//!   https://docs.workato.com/oem/oem-api/jobs.html). The documented example shows `id` as a job
//!   handle string (`"j-KGAKfhsz-GYoLe"`), `error` null on a succeeded job, and `error_parts`
//!   only on failed jobs; nullability is read from that example.
//!
//! The Embedded variants (`/api/managed_users/:id/...`) are checked with the same tables.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

/// A JSON type of the published schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    /// `type: integer`.
    Integer,
    /// `type: string`.
    Str,
    /// `type: string, format: date-time` (RFC 3339 with an offset).
    DateTime,
    /// `type: boolean`.
    Boolean,
    /// `type: array` of strings.
    StrArray,
    /// `type: array` (items untyped, `items: {}`), or of objects checked by another table.
    Array,
    /// `type: object`.
    Object,
    /// No `type` (any JSON value).
    Any,
}

/// Nullable in the schema (`nullable: true`)?
const NULL: bool = true;
/// Not nullable.
const NOT_NULL: bool = false;
/// Listed in the schema's `required`.
const REQ: bool = true;
/// Not required (may be absent; when present, typed and non-null unless nullable).
const OPT: bool = false;

/// (field, type, nullable, required).
type Field = (&'static str, Ty, bool, bool);

/// `components.schemas.Recipe` (WK-SPEC @ 1cede7ae).
const RECIPE: &[Field] = &[
    ("id", Ty::Integer, NOT_NULL, REQ),
    ("user_id", Ty::Integer, NOT_NULL, REQ),
    ("name", Ty::Str, NOT_NULL, REQ),
    ("created_at", Ty::DateTime, NOT_NULL, REQ),
    ("updated_at", Ty::DateTime, NOT_NULL, REQ),
    ("copy_count", Ty::Integer, NOT_NULL, REQ),
    ("trigger_application", Ty::Str, NOT_NULL, OPT),
    ("action_applications", Ty::StrArray, NOT_NULL, REQ),
    ("applications", Ty::StrArray, NOT_NULL, REQ),
    ("description", Ty::Str, NOT_NULL, REQ),
    ("parameters_schema", Ty::Array, NOT_NULL, REQ),
    ("parameters", Ty::Object, NOT_NULL, REQ),
    ("webhook_url", Ty::Str, NULL, REQ),
    ("folder_id", Ty::Integer, NOT_NULL, REQ),
    ("running", Ty::Boolean, NOT_NULL, REQ),
    ("job_succeeded_count", Ty::Integer, NOT_NULL, REQ),
    ("job_failed_count", Ty::Integer, NOT_NULL, REQ),
    ("lifetime_task_count", Ty::Integer, NOT_NULL, REQ),
    ("last_run_at", Ty::DateTime, NOT_NULL, OPT),
    ("stopped_at", Ty::DateTime, NOT_NULL, OPT),
    ("version_no", Ty::Integer, NOT_NULL, REQ),
    ("stop_cause", Ty::Str, NULL, REQ),
    ("config", Ty::Array, NOT_NULL, REQ),
    ("trigger_closure", Ty::Any, NULL, REQ),
    ("code", Ty::Str, NOT_NULL, REQ),
    ("author_name", Ty::Str, NOT_NULL, REQ),
    ("version_author_name", Ty::Str, NOT_NULL, REQ),
    ("version_author_email", Ty::Str, NOT_NULL, REQ),
    ("version_comment", Ty::Str, NULL, REQ),
    ("tags", Ty::StrArray, NOT_NULL, OPT),
];

/// `Recipe.config.items` (WK-SPEC @ 1cede7ae): no `required` list, so every field is optional.
const RECIPE_CONFIG: &[Field] = &[
    ("keyword", Ty::Str, NOT_NULL, OPT),
    ("name", Ty::Str, NOT_NULL, OPT),
    ("provider", Ty::Str, NOT_NULL, OPT),
    ("skip_validation", Ty::Boolean, NOT_NULL, OPT),
    ("account_id", Ty::Integer, NULL, OPT),
];

/// `components.schemas.RecipeListResponse` (WK-SPEC @ 1cede7ae).
const RECIPE_LIST: &[Field] = &[("items", Ty::Array, NOT_NULL, REQ)];

/// `components.schemas.Connection` (WK-SPEC @ 1cede7ae).
const CONNECTION: &[Field] = &[
    ("id", Ty::Integer, NOT_NULL, REQ),
    ("application", Ty::Str, NOT_NULL, REQ),
    ("name", Ty::Str, NOT_NULL, REQ),
    ("description", Ty::Str, NULL, REQ),
    ("authorized_at", Ty::DateTime, NULL, REQ),
    ("authorization_status", Ty::Str, NULL, REQ),
    ("authorization_error", Ty::Str, NULL, REQ),
    ("created_at", Ty::DateTime, NOT_NULL, REQ),
    ("updated_at", Ty::DateTime, NOT_NULL, REQ),
    ("external_id", Ty::Str, NULL, REQ),
    ("folder_id", Ty::Integer, NOT_NULL, REQ),
    ("connection_lost_at", Ty::DateTime, NULL, REQ),
    ("connection_lost_reason", Ty::Str, NULL, REQ),
    ("parent_id", Ty::Integer, NULL, REQ),
    ("provider", Ty::Str, NOT_NULL, OPT),
    ("tags", Ty::StrArray, NULL, REQ),
];

/// `Connection.authorization_status` enum (WK-SPEC @ 1cede7ae).
const AUTHORIZATION_STATUSES: &[&str] = &["success", "failed", "exception"];

/// The jobs listing envelope (WK-JOBS, documented response).
const JOB_LIST: &[Field] = &[
    ("job_succeeded_count", Ty::Integer, NOT_NULL, REQ),
    ("job_failed_count", Ty::Integer, NOT_NULL, REQ),
    ("job_count", Ty::Integer, NOT_NULL, REQ),
    ("items", Ty::Array, NOT_NULL, REQ),
];

/// One job of the listing (WK-JOBS, documented response).
const JOB: &[Field] = &[
    ("id", Ty::Str, NOT_NULL, REQ),
    ("flow_run_id", Ty::Integer, NOT_NULL, REQ),
    ("completed_at", Ty::DateTime, NOT_NULL, REQ),
    ("started_at", Ty::DateTime, NOT_NULL, REQ),
    ("title", Ty::Str, NOT_NULL, REQ),
    ("is_poll_error", Ty::Boolean, NOT_NULL, REQ),
    ("error", Ty::Str, NULL, REQ),
    ("is_error", Ty::Boolean, NOT_NULL, REQ),
    ("error_parts", Ty::Object, NOT_NULL, OPT),
];

/// Whether `value` (not null) has type `ty`.
fn has_type(value: &Value, ty: Ty) -> bool {
    match ty {
        Ty::Integer => value.is_i64() || value.is_u64(),
        Ty::Str => value.is_string(),
        Ty::DateTime => value
            .as_str()
            .is_some_and(|s| s.parse::<jiff::Timestamp>().is_ok()),
        Ty::Boolean => value.is_boolean(),
        Ty::StrArray => value
            .as_array()
            .is_some_and(|items| items.iter().all(Value::is_string)),
        Ty::Array => value.is_array(),
        Ty::Object => value.is_object(),
        Ty::Any => true,
    }
}

/// Every way `value` (at `path`) breaks `schema`: a required field missing, null where not
/// nullable, or of the wrong type.
fn violations(path: &str, value: &Value, schema: &[Field]) -> Vec<String> {
    let Some(object) = value.as_object() else {
        return vec![format!("{path}: not an object")];
    };
    let mut out = Vec::new();
    for &(name, ty, nullable, required) in schema {
        match object.get(name) {
            None if required => out.push(format!("{path}.{name}: missing (required)")),
            None => {}
            Some(Value::Null) if !nullable => out.push(format!("{path}.{name}: null (not nullable)")),
            Some(Value::Null) => {}
            Some(v) if !has_type(v, ty) => out.push(format!("{path}.{name}: {v} is not {ty:?}")),
            Some(_) => {}
        }
    }
    out
}

fn recipe_violations(path: &str, recipe: &Value) -> Vec<String> {
    let mut out = violations(path, recipe, RECIPE);
    for (i, entry) in recipe["config"].as_array().into_iter().flatten().enumerate() {
        out.extend(violations(&format!("{path}.config[{i}]"), entry, RECIPE_CONFIG));
    }
    out
}

fn connection_violations(path: &str, connection: &Value) -> Vec<String> {
    let mut out = violations(path, connection, CONNECTION);
    if let Some(status) = connection["authorization_status"].as_str()
        && !AUTHORIZATION_STATUSES.contains(&status)
    {
        out.push(format!("{path}.authorization_status: {status} not in the enum"));
    }
    out
}

fn jobs_violations(path: &str, page: &Value) -> Vec<String> {
    let mut out = violations(path, page, JOB_LIST);
    for (i, job) in page["items"].as_array().into_iter().flatten().enumerate() {
        out.extend(violations(&format!("{path}.items[{i}]"), job, JOB));
    }
    out
}

async fn get_ok(env: &Harness, path: &str, token: &str) -> Value {
    let resp = env.wk(Method::GET, path, Some(token), None).await;
    assert_eq!(resp.status, 200, "{path}: {:?}", resp.body);
    resp.body
}

fn assert_none(violations: Vec<String>) {
    assert!(
        violations.is_empty(),
        "{} schema violations:\n{}",
        violations.len(),
        violations.join("\n")
    );
}

/// Recipes: the listing the operator makes (code excluded), the full listing, one recipe, with
/// and without `includes[]=tags`, in a workspace with folders and one without, and Embedded.
#[tokio::test]
async fn recipes_follow_the_published_schema() {
    let env = start().await;
    // Give recipes a history: a succeeded job, then a poll error, then one stopped recipe.
    env.tick(1).await;
    let mut out = Vec::new();
    for (token, prefix) in [
        (DEV_TOKEN, "/api"),
        (PROD_TOKEN, "/api"),
        (DEV_TOKEN, "/api/managed_users/9001"),
        (DEV_TOKEN, "/api/managed_users/Ecust-1"),
    ] {
        for query in [
            "?adapter_names_any=trackvia&per_page=100&page=1&exclude_code=true",
            "",
            "?includes[]=tags",
        ] {
            let path = format!("{prefix}/recipes{query}");
            let list = get_ok(&env, &path, token).await;
            out.extend(violations(&path, &list, RECIPE_LIST));
            let items = list["items"].as_array().cloned().unwrap_or_default();
            assert!(!items.is_empty(), "{path} lists recipes");
            for (i, recipe) in items.iter().enumerate() {
                out.extend(recipe_violations(&format!("{path} items[{i}]"), recipe));
                let one = format!("{prefix}/recipes/{}", recipe["id"]);
                let got = get_ok(&env, &one, token).await;
                out.extend(recipe_violations(&one, &got));
            }
        }
    }
    // A stopped recipe and a recipe with a connection that never ran.
    let resp = env
        .wk(Method::PUT, "/api/recipes/500/stop", Some(DEV_TOKEN), None)
        .await;
    assert_eq!(resp.status, 200);
    for id in [500, 501, 502] {
        let path = format!("/api/recipes/{id}");
        out.extend(recipe_violations(&path, &get_ok(&env, &path, DEV_TOKEN).await));
    }
    assert_none(out);
}

/// Connections: the listing (with and without filters), create (shell and tested), update
/// (test passing and failing), disconnected, in both kinds of workspace and Embedded.
#[tokio::test]
async fn connections_follow_the_published_schema() {
    let env = start().await;
    let mut out = Vec::new();
    for (token, prefix) in [
        (DEV_TOKEN, "/api"),
        (PROD_TOKEN, "/api"),
        (DEV_TOKEN, "/api/managed_users/9001"),
    ] {
        for query in ["", "?includes[]=tags", "?folder_id=4013"] {
            let path = format!("{prefix}/connections{query}");
            let list = get_ok(&env, &path, token).await;
            let items = list
                .as_array()
                .unwrap_or_else(|| panic!("{path}: a bare array, got {list}"));
            for (i, connection) in items.iter().enumerate() {
                out.extend(connection_violations(&format!("{path}[{i}]"), connection));
            }
        }
    }
    let creates = [
        json!({"name": "Shell", "provider": "trackvia", "shell_connection": true}),
        json!({"name": "In folder", "provider": "trackvia", "folder_id": 4012, "shell_connection": true}),
        json!({"name": "Tested", "provider": "trackvia", "input": {"user_key": SBX_KEY, "access_token": ADMIN_TOKEN}}),
        json!({"name": "Failing", "provider": "trackvia", "input": {"user_key": SBX_KEY, "access_token": "nope"}}),
    ];
    for (prefix, token) in [("/api", DEV_TOKEN), ("/api/managed_users/9001", DEV_TOKEN)] {
        for body in &creates {
            env.reset_rate_limits().await;
            let path = format!("{prefix}/connections");
            let resp = env.wk(Method::POST, &path, Some(token), Some(body.clone())).await;
            assert_eq!(resp.status, 200, "{path}: {:?}", resp.body);
            out.extend(connection_violations(&format!("POST {path} {body}"), &resp.body));
        }
    }
    let updates = [
        json!({"input": {"user_key": SBX_KEY, "access_token": ADMIN_TOKEN}, "shell_connection": false}),
        json!({"input": {"access_token": "stale-token"}, "shell_connection": false}),
        json!({"name": "Renamed"}),
    ];
    for body in &updates {
        env.reset_rate_limits().await;
        let resp = env
            .wk(
                Method::PUT,
                "/api/connections/102",
                Some(DEV_TOKEN),
                Some(body.clone()),
            )
            .await;
        assert_eq!(resp.status, 200, "{:?}", resp.body);
        out.extend(connection_violations(&format!("PUT 102 {body}"), &resp.body));
    }
    env.reset_rate_limits().await;
    let resp = env
        .wk(
            Method::POST,
            "/api/connections/100/disconnect",
            Some(DEV_TOKEN),
            None,
        )
        .await;
    assert_eq!(resp.status, 200);
    out.extend(connection_violations(
        "disconnected 100",
        &env.connection(DEV_TOKEN, 100).await,
    ));
    assert_none(out);
}

/// Jobs: succeeded and failed (poll error) jobs, filtered by status, and Embedded.
#[tokio::test]
async fn jobs_follow_the_published_schema() {
    let env = start().await;
    env.tick(1).await;
    env.post(
        "/_emulator/trackvia/accounts/21508/tokens/2/deactivate",
        json!({}),
    )
    .await;
    env.tick(1).await;
    let mut out = Vec::new();
    for query in ["", "?status=failed", "?status=succeeded"] {
        let path = format!("/api/recipes/500/jobs{query}");
        let page = get_ok(&env, &path, DEV_TOKEN).await;
        assert!(!page["items"].as_array().unwrap().is_empty(), "{path} has jobs");
        out.extend(jobs_violations(&path, &page));
    }
    for path in [
        "/api/recipes/501/jobs",
        "/api/managed_users/9001/recipes/700/jobs",
    ] {
        out.extend(jobs_violations(path, &get_ok(&env, path, DEV_TOKEN).await));
    }
    assert_none(out);
}

/// The checker itself: a recipe missing fields, nulls where none are allowed and wrong types are
/// all reported (so a passing run means something).
#[test]
fn the_checker_reports_missing_null_and_mistyped_fields() {
    let recipe = json!({"id": "1", "name": null, "config": [{"account_id": "7"}]});
    let found = recipe_violations("r", &recipe);
    assert!(
        found
            .iter()
            .any(|v| v.contains("r.id:") && v.contains("is not Integer"))
    );
    assert!(found.iter().any(|v| v == "r.name: null (not nullable)"));
    assert!(found.iter().any(|v| v == "r.author_name: missing (required)"));
    assert!(found.iter().any(|v| v.contains("r.config[0].account_id")));
    assert!(!found.iter().any(|v| v.starts_with("r.stopped_at")), "optional");
    let job = json!({"id": 3, "flow_run_id": 3, "completed_at": "2015-01-02T01:02:03.000Z",
        "started_at": "2015-01-02T01:02:03.000Z", "title": "t", "is_poll_error": false,
        "error": null, "is_error": false});
    assert_eq!(violations("j", &job, JOB), vec!["j.id: 3 is not Str".to_owned()]);
}
