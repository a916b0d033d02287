//! Golden tests: every vendor route and error class answers exactly as pinned in
//! `tests/golden/*.json` (timestamps normalised). `UPDATE_GOLDEN=1 cargo test -p
//! trackvia-emulator --test golden` rewrites the files. Field sets and types are also checked
//! against the spec.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;

const USER_FIELDS: &[(&str, &str)] = &[
    ("id", "number"),
    ("Record ID", "number"),
    ("First Name", "string"),
    ("Last Name", "string"),
    ("Email", "string"),
    ("Status", "string"),
    ("Time Zone", "string"),
    ("Created", "string"),
    ("Updated", "string"),
];

const STRUCTURE_FIELDS: &[(&str, &str)] = &[
    ("name", "string"),
    ("type", "string"),
    ("required", "bool"),
    ("unique", "bool"),
    ("canRead", "bool"),
    ("canUpdate", "bool"),
    ("canCreate", "bool"),
    ("relationshipSize", "number"),
    ("propertyName", "string"),
];

const APP_ERROR_FIELDS: &[(&str, &str)] = &[
    ("errors", "array"),
    ("message", "string"),
    ("name", "string"),
    ("code", "string"),
];

const OAUTH_ERROR_FIELDS: &[(&str, &str)] = &[("error", "string"), ("error_description", "string")];

// The Workato tables below pin the exact field sets of these fixtures' answers; the published
// schema (required fields, types, nullability) is checked separately in `tests/schema.rs`.

const CONNECTION_FIELDS: &[(&str, &str)] = &[
    ("id", "number"),
    ("application", "string"),
    ("name", "string"),
    ("description", "string|null"),
    ("authorized_at", "string|null"),
    ("authorization_status", "string|null"),
    ("authorization_error", "string|null"),
    ("created_at", "string"),
    ("updated_at", "string"),
    ("external_id", "string|null"),
    ("folder_id", "number"),
    ("connection_lost_at", "string|null"),
    ("connection_lost_reason", "string|null"),
    ("parent_id", "number|null"),
    ("provider", "string"),
    ("tags", "array"),
];

/// A recipe that never ran nor stopped (so without `last_run_at` and `stopped_at`).
const RECIPE_FIELDS: &[(&str, &str)] = &[
    ("id", "number"),
    ("user_id", "number"),
    ("name", "string"),
    ("created_at", "string"),
    ("updated_at", "string"),
    ("copy_count", "number"),
    ("trigger_application", "string"),
    ("action_applications", "array"),
    ("applications", "array"),
    ("description", "string"),
    ("parameters_schema", "array"),
    ("parameters", "object"),
    ("webhook_url", "null"),
    ("folder_id", "number"),
    ("running", "bool"),
    ("job_succeeded_count", "number"),
    ("job_failed_count", "number"),
    ("lifetime_task_count", "number"),
    ("version_no", "number"),
    ("stop_cause", "string|null"),
    ("config", "array"),
    ("trigger_closure", "null"),
    ("code", "string"),
    ("author_name", "string"),
    ("version_author_name", "string"),
    ("version_author_email", "string"),
    ("version_comment", "null"),
];

const CONFIG_FIELDS: &[(&str, &str)] = &[
    ("keyword", "string"),
    ("name", "string"),
    ("provider", "string"),
    ("skip_validation", "bool"),
    ("account_id", "number|null"),
];

const JOB_FIELDS: &[(&str, &str)] = &[
    ("id", "string"),
    ("flow_run_id", "number"),
    ("started_at", "string"),
    ("completed_at", "string"),
    ("title", "string"),
    ("is_error", "bool"),
    ("is_poll_error", "bool"),
    ("error", "string|null"),
];

fn failed_job_fields() -> Vec<(&'static str, &'static str)> {
    let mut fields = JOB_FIELDS.to_vec();
    fields.push(("error_parts", "object"));
    fields
}

// ---------------------------------------------------------------- TrackVia: success answers

#[tokio::test]
async fn tv_users_list() {
    let env = start().await;
    let resp = env
        .tv_query(
            Method::GET,
            "/openapi/users",
            Some(SBX_KEY),
            Some(ADMIN_TOKEN),
            &[("start", "0"), ("max", "2")],
        )
        .await;
    assert_golden("tv_users_list", &resp);
    assert_shape(
        &resp.body,
        &[
            ("structure", "array"),
            ("data", "array"),
            ("totalCount", "number"),
        ],
    );
    assert_eq!(resp.body["totalCount"], 4);
    for user in resp.body["data"].as_array().unwrap() {
        assert_shape(user, USER_FIELDS);
    }
    for field in resp.body["structure"].as_array().unwrap() {
        assert_shape(field, STRUCTURE_FIELDS);
    }
}

#[tokio::test]
async fn tv_users_create() {
    let env = start().await;
    let query = [
        ("email", "google.integration@acme.example"),
        ("firstName", "Google"),
        ("lastName", "Integration"),
    ];
    let resp = env
        .tv_query(
            Method::POST,
            "/openapi/users",
            Some(SBX_KEY),
            Some(ADMIN_TOKEN),
            &query,
        )
        .await;
    assert_golden("tv_users_create", &resp);
    assert_eq!(resp.body["data"][0]["Status"], "Unverified");
    assert_shape(&resp.body["data"][0], USER_FIELDS);
}

#[tokio::test]
async fn tv_apps_views_and_records() {
    let env = start().await;
    let apps = env
        .tv(Method::GET, "/openapi/apps", Some(SBX_KEY), Some(SF_TOKEN))
        .await;
    assert_golden("tv_apps", &apps);
    assert_shape(&apps.body[0], &[("id", "number"), ("name", "string")]);
    let views = env
        .tv(Method::GET, "/openapi/views", Some(SBX_KEY), Some(SF_TOKEN))
        .await;
    assert_golden("tv_views", &views);
    let view_fields = [
        ("id", "number"),
        ("name", "string"),
        ("applicationName", "string"),
        ("default", "bool"),
    ];
    assert_shape(&views.body[0], &view_fields);
    let named = env
        .tv_query(
            Method::GET,
            "/openapi/views",
            Some(SBX_KEY),
            Some(SF_TOKEN),
            &[("name", "Opportunities")],
        )
        .await;
    assert_golden("tv_views_by_name", &named);
    let records = env
        .tv(
            Method::GET,
            "/openapi/views/10/records",
            Some(SBX_KEY),
            Some(SF_TOKEN),
        )
        .await;
    assert_golden("tv_view_records", &records);
    let view = env
        .tv(Method::GET, "/openapi/views/10", Some(SBX_KEY), Some(SF_TOKEN))
        .await;
    assert_eq!(view.body, records.body);
}

// ---------------------------------------------------------------- TrackVia: errors

#[tokio::test]
async fn tv_401_invalid_user_key() {
    let env = start().await;
    let resp = env
        .tv(Method::GET, "/openapi/views", Some("nope"), Some(ADMIN_TOKEN))
        .await;
    assert_golden("tv_401_invalid_user_key", &resp);
    assert_shape(&resp.body, APP_ERROR_FIELDS);
    let missing = env
        .tv(Method::GET, "/openapi/views", None, Some(ADMIN_TOKEN))
        .await;
    assert_eq!(missing.body, resp.body);
}

#[tokio::test]
async fn tv_401_missing_token() {
    let env = start().await;
    let resp = env.tv(Method::GET, "/openapi/views", Some(SBX_KEY), None).await;
    assert_golden("tv_401_missing_token", &resp);
    assert_shape(&resp.body, OAUTH_ERROR_FIELDS);
}

#[tokio::test]
async fn tv_401_invalid_token() {
    let env = start().await;
    let resp = env
        .tv(Method::GET, "/openapi/views", Some(SBX_KEY), Some("not-a-token"))
        .await;
    assert_golden("tv_401_invalid_token", &resp);
    assert_shape(&resp.body, OAUTH_ERROR_FIELDS);
    let deactivated = env
        .tv(
            Method::GET,
            "/openapi/views",
            Some(SBX_KEY),
            Some("sbx-deactivated-token"),
        )
        .await;
    assert_golden("tv_401_deactivated_token", &deactivated);
}

#[tokio::test]
async fn tv_401_expired_token() {
    let env = start().await;
    let resp = env
        .tv(
            Method::GET,
            "/openapi/views",
            Some(SBX_KEY),
            Some("sbx-expired-token"),
        )
        .await;
    assert_golden("tv_401_expired_token", &resp);
    assert_shape(&resp.body, OAUTH_ERROR_FIELDS);
}

#[tokio::test]
async fn tv_401_disabled_user() {
    let env = start().await;
    let resp = env
        .tv(
            Method::GET,
            "/openapi/views",
            Some(SBX_KEY),
            Some("sbx-gone-token"),
        )
        .await;
    assert_golden("tv_401_disabled_user", &resp);
    assert_shape(&resp.body, OAUTH_ERROR_FIELDS);
}

#[tokio::test]
async fn tv_401_account_id_mismatch() {
    let env = start().await;
    let url = format!("{}/openapi/views", env.emulator.trackvia_url());
    let request = env
        .http
        .get(url)
        .query(&[("user_key", SBX_KEY)])
        .bearer_auth(SF_TOKEN)
        .header("account-id", "31000");
    let resp = into_resp(request.send().await.unwrap()).await;
    assert_golden("tv_401_account_id_mismatch", &resp);
}

#[tokio::test]
async fn tv_401_view_access_denied() {
    let env = start().await;
    let resp = env
        .tv(
            Method::GET,
            "/openapi/views/20/records",
            Some(SBX_KEY),
            Some(SF_TOKEN),
        )
        .await;
    assert_golden("tv_401_view_access_denied", &resp);
    assert_shape(&resp.body, APP_ERROR_FIELDS);
    let unknown = env
        .tv(Method::GET, "/openapi/views/5000", Some(SBX_KEY), Some(SF_TOKEN))
        .await;
    assert_golden("tv_401_view_unknown", &unknown);
}

#[tokio::test]
async fn tv_403_users_as_non_admin() {
    let env = start().await;
    let resp = env
        .tv(Method::GET, "/openapi/users", Some(SBX_KEY), Some(SF_TOKEN))
        .await;
    assert_golden("tv_403_users_non_admin", &resp);
    assert_shape(&resp.body, APP_ERROR_FIELDS);
    let query = [("email", "x@acme.example"), ("firstName", "X"), ("lastName", "Y")];
    let create = env
        .tv_query(
            Method::POST,
            "/openapi/users",
            Some(SBX_KEY),
            Some(SF_TOKEN),
            &query,
        )
        .await;
    assert_eq!(create.body, resp.body);
}

#[tokio::test]
async fn tv_400_duplicate_email_and_missing_parameter() {
    let env = start().await;
    let query = [
        ("email", "ADMIN@acme.example"),
        ("firstName", "Ada"),
        ("lastName", "Again"),
    ];
    let resp = env
        .tv_query(
            Method::POST,
            "/openapi/users",
            Some(SBX_KEY),
            Some(ADMIN_TOKEN),
            &query,
        )
        .await;
    assert_golden("tv_400_duplicate_email", &resp);
    assert_shape(&resp.body, APP_ERROR_FIELDS);
    let query = [("email", "new@acme.example"), ("firstName", "New")];
    let missing = env
        .tv_query(
            Method::POST,
            "/openapi/users",
            Some(SBX_KEY),
            Some(ADMIN_TOKEN),
            &query,
        )
        .await;
    assert_golden("tv_400_missing_parameter", &missing);
}

#[tokio::test]
async fn tv_404_and_405() {
    let env = start().await;
    let resp = env
        .tv(Method::GET, "/openapi/nothing", Some(SBX_KEY), Some(ADMIN_TOKEN))
        .await;
    assert_golden("tv_404_unknown_route", &resp);
    let resp = env
        .tv(Method::DELETE, "/openapi/users", Some(SBX_KEY), Some(ADMIN_TOKEN))
        .await;
    assert_golden("tv_405_method_not_allowed", &resp);
}

#[tokio::test]
async fn tv_429_rate_limit() {
    let env = start().await;
    let first = env
        .tv(
            Method::GET,
            "/openapi/views",
            Some("slow-api-key"),
            Some("slow-admin-token"),
        )
        .await;
    assert_eq!(first.status, 200);
    let second = env
        .tv(
            Method::GET,
            "/openapi/views",
            Some("slow-api-key"),
            Some("slow-admin-token"),
        )
        .await;
    assert_golden("tv_429_rate_limit", &second);
}

// ---------------------------------------------------------------- Workato: connections

#[tokio::test]
async fn wk_connections_list() {
    let env = start().await;
    let resp = env
        .wk(Method::GET, "/api/connections", Some(DEV_TOKEN), None)
        .await;
    assert_golden("wk_connections_list", &resp);
    for connection in resp.body.as_array().unwrap() {
        assert_shape(connection, CONNECTION_FIELDS);
    }
    let filtered = env
        .wk(
            Method::GET,
            "/api/connections?folder_id=4013",
            Some(DEV_TOKEN),
            None,
        )
        .await;
    assert_golden("wk_connections_list_folder", &filtered);
}

#[tokio::test]
async fn wk_connection_create() {
    let env = start().await;
    let body = json!({"name": "TrackVia (Google Integration)", "provider": "trackvia", "folder_id": 4012, "shell_connection": true});
    let resp = env
        .wk(Method::POST, "/api/connections", Some(DEV_TOKEN), Some(body))
        .await;
    assert_golden("wk_connection_create_shell", &resp);
    assert_shape(&resp.body, CONNECTION_FIELDS);
}

#[tokio::test]
async fn wk_connection_update_success_and_failure() {
    let env = start().await;
    let body =
        json!({"input": {"user_key": SBX_KEY, "access_token": ADMIN_TOKEN}, "shell_connection": false});
    let resp = env
        .wk(Method::PUT, "/api/connections/102", Some(DEV_TOKEN), Some(body))
        .await;
    assert_golden("wk_connection_update_success", &resp);
    assert_shape(&resp.body, CONNECTION_FIELDS);
    env.reset_rate_limits().await;
    let body = json!({"input": {"access_token": "stale-token"}, "shell_connection": false});
    let resp = env
        .wk(Method::PUT, "/api/connections/102", Some(DEV_TOKEN), Some(body))
        .await;
    assert_golden("wk_connection_update_failed", &resp);
}

#[tokio::test]
async fn wk_connection_disconnect_and_delete() {
    let env = start().await;
    let resp = env
        .wk(
            Method::POST,
            "/api/connections/100/disconnect",
            Some(DEV_TOKEN),
            None,
        )
        .await;
    assert_golden("wk_connection_disconnect", &resp);
    env.reset_rate_limits().await;
    let resp = env
        .wk(Method::DELETE, "/api/connections/102", Some(DEV_TOKEN), None)
        .await;
    assert_golden("wk_connection_delete", &resp);
}

// ---------------------------------------------------------------- Workato: recipes and jobs

#[tokio::test]
async fn wk_recipes_list_and_get() {
    let env = start().await;
    let path = "/api/recipes?adapter_names_any=trackvia&per_page=100&page=1&exclude_code=true";
    let resp = env.wk(Method::GET, path, Some(DEV_TOKEN), None).await;
    assert_golden("wk_recipes_list", &resp);
    assert_shape(&resp.body, &[("items", "array")]);
    for recipe in resp.body["items"].as_array().unwrap() {
        assert_shape(recipe, RECIPE_FIELDS);
        for entry in recipe["config"].as_array().unwrap() {
            assert_shape(entry, CONFIG_FIELDS);
        }
    }
    let resp = env
        .wk(Method::GET, "/api/recipes/501", Some(DEV_TOKEN), None)
        .await;
    assert_golden("wk_recipe_get", &resp);
    assert_shape(&resp.body, RECIPE_FIELDS);
    let code: serde_json::Value = serde_json::from_str(resp.body["code"].as_str().unwrap()).unwrap();
    assert!(code.is_object());
}

#[tokio::test]
async fn wk_recipe_start_stop() {
    let env = start().await;
    let resp = env
        .wk(Method::PUT, "/api/recipes/501/start", Some(DEV_TOKEN), None)
        .await;
    assert_golden("wk_recipe_start_success", &resp);
    let resp = env
        .wk(Method::PUT, "/api/recipes/501/start", Some(DEV_TOKEN), None)
        .await;
    assert_golden("wk_recipe_start_already_running", &resp);
    let resp = env
        .wk(Method::PUT, "/api/recipes/501/stop", Some(DEV_TOKEN), None)
        .await;
    assert_golden("wk_recipe_stop_success", &resp);
    let resp = env
        .wk(Method::PUT, "/api/recipes/501/stop", Some(DEV_TOKEN), None)
        .await;
    assert_golden("wk_recipe_stop_already_stopped", &resp);
}

#[tokio::test]
async fn wk_recipe_start_config_errors() {
    let env = start().await;
    let resp = env
        .wk(Method::PUT, "/api/recipes/700/start", Some(DEV_TOKEN), None)
        .await;
    assert_eq!(resp.status, 404, "700 lives in the managed workspace");
    env.post(
        "/_emulator/trackvia/accounts/21508/tokens/2/deactivate",
        json!({}),
    )
    .await;
    let resp = env
        .wk(Method::PUT, "/api/recipes/501/start", Some(DEV_TOKEN), None)
        .await;
    assert_golden("wk_recipe_start_config_errors", &resp);
    assert_shape(
        &resp.body,
        &[
            ("success", "bool"),
            ("code_errors", "array"),
            ("config_errors", "array"),
        ],
    );
}

#[tokio::test]
async fn wk_recipe_start_task_limit() {
    let env = start().await;
    env.post("/_emulator/workato/task-limit", json!({"reached": true}))
        .await;
    let resp = env
        .wk(Method::PUT, "/api/recipes/501/start", Some(DEV_TOKEN), None)
        .await;
    assert_golden("wk_recipe_start_task_limit", &resp);
}

#[tokio::test]
async fn wk_jobs() {
    let env = start().await;
    env.tick(1).await;
    env.post(
        "/_emulator/trackvia/accounts/21508/tokens/2/deactivate",
        json!({}),
    )
    .await;
    env.tick(1).await;
    let resp = env
        .wk(Method::GET, "/api/recipes/500/jobs", Some(DEV_TOKEN), None)
        .await;
    assert_golden("wk_jobs", &resp);
    assert_shape(
        &resp.body,
        &[
            ("job_succeeded_count", "number"),
            ("job_failed_count", "number"),
            ("job_count", "number"),
            ("items", "array"),
        ],
    );
    for job in resp.body["items"].as_array().unwrap() {
        if job["is_error"] == true {
            assert_shape(job, &failed_job_fields());
        } else {
            assert_shape(job, JOB_FIELDS);
        }
    }
}

// ---------------------------------------------------------------- Workato: errors

#[tokio::test]
async fn wk_401_unauthorized() {
    let env = start().await;
    let resp = env.wk(Method::GET, "/api/connections", Some("wrong"), None).await;
    assert_golden("wk_401_unauthorized", &resp);
    let missing = env.wk(Method::GET, "/api/recipes", None, None).await;
    assert_eq!(missing.body, resp.body);
    assert_eq!(missing.status, 401);
}

#[tokio::test]
async fn wk_404_not_found() {
    let env = start().await;
    let resp = env
        .wk(Method::GET, "/api/recipes/999", Some(DEV_TOKEN), None)
        .await;
    assert_golden("wk_404_not_found", &resp);
    let unknown_user = env
        .wk(
            Method::GET,
            "/api/managed_users/1234/connections",
            Some(DEV_TOKEN),
            None,
        )
        .await;
    assert_eq!((unknown_user.status, &unknown_user.body), (404, &resp.body));
    let unknown_route = env.wk(Method::GET, "/api/nothing", Some(DEV_TOKEN), None).await;
    assert_eq!((unknown_route.status, &unknown_route.body), (404, &resp.body));
}

#[tokio::test]
async fn wk_422_validation() {
    let env = start().await;
    let resp = env
        .wk(
            Method::POST,
            "/api/connections",
            Some(DEV_TOKEN),
            Some(json!({"input": {}})),
        )
        .await;
    assert_golden("wk_422_validation", &resp);
    assert_shape(&resp.body, &[("message", "string"), ("errors", "object")]);
}

#[tokio::test]
async fn wk_429_rate_limit() {
    let env = start().await;
    let body = json!({"name": "renamed"});
    let first = env
        .wk(
            Method::PUT,
            "/api/connections/102",
            Some(DEV_TOKEN),
            Some(body.clone()),
        )
        .await;
    assert_eq!(first.status, 200);
    let second = env
        .wk(Method::PUT, "/api/connections/102", Some(DEV_TOKEN), Some(body))
        .await;
    assert_golden("wk_429_rate_limit", &second);
    assert_eq!(second.header("retry-after"), Some("1"));
}
