//! The client's types against objects shaped as Workato publishes them: `Recipe`,
//! `RecipeListResponse` and `Connection` of `workato-api-spec.yaml` (OpenAPI 3.0.3,
//! github.com/workato-devs/workato-platform-cli @ 1cede7ae), and the jobs listing documented at
//! docs.workato.com/en/workato-api/jobs.html. Every field the schema allows to be null is null
//! here, and optional ones are left out, so a decoder that wants more than the schema promises
//! fails. Values are made up; field names, types and nullability are the schema's.

use serde_json::json;

use super::{Connection, Job, JobPage, Recipe};

fn spec_recipe() -> serde_json::Value {
    json!({
        "id": 3141, "user_id": 59, "name": "Sync accounts",
        "created_at": "2026-01-02T03:04:05.678-08:00", "updated_at": "2026-01-02T03:04:05.678-08:00",
        "copy_count": 0, "action_applications": ["salesforce"],
        "applications": ["trackvia", "salesforce"], "description": "",
        "parameters_schema": [], "parameters": {}, "webhook_url": null, "folder_id": 2718,
        "running": false, "job_succeeded_count": 3, "job_failed_count": 1,
        "lifetime_task_count": 7, "version_no": 2, "stop_cause": null,
        "config": [
            {"keyword": "application", "name": "trackvia", "provider": "trackvia",
             "skip_validation": false, "account_id": 36},
            {"keyword": "application", "name": "salesforce", "provider": "salesforce",
             "skip_validation": false, "account_id": null}
        ],
        "trigger_closure": null, "code": "", "author_name": "Ada Admin",
        "version_author_name": "Ada Admin", "version_author_email": "ada@acme.example",
        "version_comment": null
    })
}

#[test]
fn a_recipe_with_every_nullable_field_null_and_optional_ones_absent_parses() {
    let recipe: Recipe = serde_json::from_value(spec_recipe()).unwrap();
    assert_eq!(
        (recipe.id, recipe.folder_id, recipe.running),
        (3141, Some(2718), false)
    );
    assert!(recipe.stop_cause.is_none() && recipe.stopped_at.is_none());
    assert!(recipe.uses_connection(36));
    assert_eq!(recipe.config[1].account_id, None);
}

#[test]
fn a_stopped_recipe_reads_its_stop() {
    let mut value = spec_recipe();
    value["stop_cause"] = json!("trigger_errors_limit");
    value["stopped_at"] = json!("2026-01-03T00:00:00.000Z");
    value["last_run_at"] = json!("2026-01-02T23:59:00.000Z");
    value["trigger_application"] = json!("trackvia");
    value["tags"] = json!(["tag-ANgeffPL-3gxQwA"]);
    let recipe: Recipe = serde_json::from_value(value).unwrap();
    assert_eq!(recipe.stop_cause.as_deref(), Some("trigger_errors_limit"));
    assert_eq!(recipe.stopped_at.as_deref(), Some("2026-01-03T00:00:00.000Z"));
}

fn spec_connection() -> serde_json::Value {
    json!({
        "id": 36, "application": "trackvia", "name": "TrackVia", "description": null,
        "authorized_at": null, "authorization_status": null, "authorization_error": null,
        "created_at": "2026-01-02T03:04:05.678Z", "updated_at": "2026-01-02T03:04:05.678Z",
        "external_id": null, "folder_id": 2718, "connection_lost_at": null,
        "connection_lost_reason": null, "parent_id": null, "tags": null
    })
}

#[test]
fn a_connection_without_the_optional_provider_takes_it_from_application() {
    let c: Connection = serde_json::from_value(spec_connection()).unwrap();
    assert_eq!(c.provider.as_deref(), Some("trackvia"));
    assert!(!c.is_authorized());
    let mut other = spec_connection();
    other["application"] = json!("salesforce");
    let c: Connection = serde_json::from_value(other).unwrap();
    assert_eq!(
        c.provider.as_deref(),
        Some("salesforce"),
        "a foreign connector stays foreign"
    );
}

#[test]
fn provider_wins_over_application_and_statuses_are_read() {
    let mut value = spec_connection();
    value["provider"] = json!("trackvia");
    value["application"] = json!("TrackVia");
    value["authorization_status"] = json!("success");
    value["authorized_at"] = json!("2026-01-02T03:04:05.678Z");
    value["connection_lost_at"] = json!("2026-01-05T00:00:00.000Z");
    value["connection_lost_reason"] = json!("401 Unauthorized");
    let c: Connection = serde_json::from_value(value).unwrap();
    assert_eq!(c.provider.as_deref(), Some("trackvia"));
    assert!(c.is_authorized());
    assert_eq!(c.connection_lost_reason.as_deref(), Some("401 Unauthorized"));
}

#[test]
fn a_jobs_page_with_handle_ids_parses() {
    let page: JobPage = serde_json::from_value(json!({
        "job_succeeded_count": 1, "job_failed_count": 1, "job_count": 2,
        "items": [
            {"id": "j-AbCdEfGh-IjKlMn", "flow_run_id": 12, "completed_at": "2026-01-02T03:04:05.000Z",
             "started_at": "2026-01-02T03:04:05.000Z", "title": "New record", "is_poll_error": false,
             "error": null, "is_error": false},
            {"id": "j-OpQrStUv-WxYz01", "flow_run_id": 13, "completed_at": "2026-01-02T03:05:05.000Z",
             "started_at": "2026-01-02T03:05:05.000Z", "title": "Trigger poll error",
             "is_poll_error": true, "error": "401 Unauthorized: invalid token",
             "error_parts": {"adapter": "trackvia", "error_type": "401 Unauthorized",
                             "message": "invalid token", "error_id": "e-1",
                             "error_at": "2026-01-02T03:05:05.000Z", "input": null,
                             "inner_message": null},
             "is_error": true}
        ]
    }))
    .unwrap();
    assert_eq!((page.job_succeeded_count, page.job_failed_count), (1, 1));
    assert_eq!(page.items[0].id, json!("j-AbCdEfGh-IjKlMn"));
    assert!(page.items[1].is_error && page.items[1].is_poll_error);
    assert_eq!(
        page.items[1].error.as_deref(),
        Some("401 Unauthorized: invalid token")
    );
    // Older documentation showed numeric job ids; they still parse.
    let old: Job = serde_json::from_value(json!({"id": 1004, "is_error": false})).unwrap();
    assert_eq!(old.id, json!(1004));
}
