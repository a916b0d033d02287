//! Contract tests: every Workato client operation, error class and the request budget against the
//! emulator. The client is the production one; only the base URL differs. No API server needed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod support;

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use support::operator::Emulators;
use trackvia_operator::external::Backoff;
use trackvia_operator::external::http::TransportFailure;
use trackvia_operator::secret::Sensitive;
use trackvia_operator::workato::{
    ConnectionFilter, ConnectionUpdate, HttpWorkato, NewConnection, RecipeQuery, WorkatoApi, WorkatoBudget,
    WorkatoConfig, WorkatoError, recipes_using,
};

const TOKEN: &str = "wk-dev-token-0001";

fn seed() -> String {
    let mut recipes = String::new();
    for i in 0..130 {
        let conn = if i % 2 == 0 { 100 } else { 101 };
        recipes.push_str(&format!(
            "        - {{id: {}, name: Recipe {i}, running: {}, connections: [{conn}]}}\n",
            1000 + i,
            i % 3 != 0
        ));
    }
    format!(
        r#"
trackvia:
  accounts:
    - id: 21508
      name: ACME Sandbox
      environment: sandbox
      apiKey: sbx-api-key-0001
      apps: [{{id: 1, name: CRM}}]
      views: [{{id: 10, name: Accounts, app: CRM}}]
      roles:
        - {{name: Super Admin, admin: true}}
        - {{name: Salesforce Integration, apps: [CRM], views: [Accounts]}}
      users:
        - {{id: 1, email: admin@acme.example, firstName: Ada, lastName: Admin, status: Active, apiUser: true, role: Super Admin}}
        - {{id: 2, email: sf.integration@acme.example, firstName: Salesforce, lastName: Integration, status: Active, apiUser: true, role: Salesforce Integration}}
      tokens:
        - {{id: 1, value: sbx-admin-token-0001, user: 1, name: operator, expiresAt: "2030-01-01T00:00:00Z"}}
        - {{id: 2, value: sf-token-valid-0001, user: 2, name: sf, expiresAt: "2030-01-01T00:00:00Z"}}
workato:
  workspaces:
    - id: acme-dev
      environment: sandbox
      apiTokens: [{TOKEN}]
      managedUsers: [{{id: 9001, externalId: cust-1, workspace: acme-customer}}]
      customConnectors:
        - {{id: 8, name: tv_custom, title: TrackVia (custom), apiKeyField: user_key, authTokenField: access_token, code: "{{ title: 'x', connection: {{ fields: [ {{ name: 'auth_type', pick_list: [['OAuth', 'oauth'], ['Auth token', 'auth_token']] }}, {{ name: 'user_key' }}, {{ name: 'access_token' }} ], authorization: {{ type: 'multi' }} }} }}"}}
      connections:
        - {{id: 100, name: TrackVia (Salesforce Integration), provider: trackvia, folderId: 4012, input: {{user_key: sbx-api-key-0001, access_token: sf-token-valid-0001}}, authorizationStatus: success}}
        - {{id: 101, name: TrackVia (Other), provider: trackvia}}
      recipes:
{recipes}    - id: acme-customer
      environment: sandbox
      connections:
        - {{id: 500, name: Customer TrackVia, provider: trackvia}}
"#
    )
}

fn config(emu: &Emulators, token: &str) -> WorkatoConfig {
    let mut c = WorkatoConfig::new(emu.workato(), Sensitive::from(token));
    c.backoff = Backoff {
        base: Duration::from_millis(10),
        max: Duration::from_millis(50),
        max_attempts: 4,
    };
    c.http.request_timeout = Duration::from_secs(3);
    c
}

fn client(emu: &Emulators) -> HttpWorkato {
    HttpWorkato::new(config(emu, TOKEN), WorkatoBudget::documented()).unwrap()
}

fn input(user_key: &str, token: &str) -> Sensitive<Map<String, Value>> {
    let mut m = Map::new();
    m.insert("user_key".into(), json!(user_key));
    m.insert("access_token".into(), json!(token));
    Sensitive::new(m)
}

async fn statuses(emu: &Emulators, route: &str) -> Vec<u64> {
    emu.calls()
        .await
        .iter()
        .filter(|c| c["route"] == route)
        .map(|c| c["status"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_listed_created_tested_updated_and_disconnected() {
    let emu = Emulators::start(&seed()).await;
    let api = client(&emu);
    let all = api.list_connections(&ConnectionFilter::default()).await.unwrap();
    assert_eq!(all.len(), 2);
    let sf = all.iter().find(|c| c.id == 100).unwrap();
    assert!(sf.is_authorized());
    assert_eq!(
        (sf.provider.as_deref(), sf.folder_id),
        (Some("trackvia"), Some(4012))
    );
    let in_folder = api
        .list_connections(&ConnectionFilter {
            folder_id: Some(4012),
        })
        .await
        .unwrap();
    assert_eq!(in_folder.iter().map(|c| c.id).collect::<Vec<_>>(), [100]);

    // Created with working credentials: Workato tests them against TrackVia.
    let created = api
        .create_connection(&NewConnection {
            name: "TrackVia (HubSpot)".into(),
            provider: "trackvia".into(),
            folder_id: None,
            input: input("sbx-api-key-0001", "sf-token-valid-0001"),
            shell: false,
        })
        .await
        .unwrap();
    assert!(created.is_authorized(), "{created:?}");

    // Updated with a dead token: 200, authorization failed, and the error never shows the token.
    let failed = api
        .update_connection(
            created.id,
            &ConnectionUpdate {
                input: Some(input("sbx-api-key-0001", "dead-token-00000001")),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(failed.authorization_status.as_deref(), Some("failed"));
    let error = failed.authorization_error.clone().unwrap();
    assert!(error.contains("401"), "{error}");
    assert!(
        !error.contains("dead-token-00000001"),
        "the token leaked into authorization_error: {error}"
    );
    let body = emu
        .calls()
        .await
        .into_iter()
        .rev()
        .find(|c| c["route"] == "PUT /api/connections/{id}")
        .unwrap();
    assert_eq!(body["status"], 200);

    // Back to a working token.
    let fixed = api
        .update_connection(
            created.id,
            &ConnectionUpdate {
                input: Some(input("sbx-api-key-0001", "sf-token-valid-0001")),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(fixed.is_authorized());
    api.disconnect_connection(created.id).await.unwrap();
    let after = api.list_connections(&ConnectionFilter::default()).await.unwrap();
    assert!(!after.iter().find(|c| c.id == created.id).unwrap().is_authorized());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipes_are_paged_and_selected_by_connection() {
    let emu = Emulators::start(&seed()).await;
    let api = client(&emu);
    let all = api.list_all_recipes("trackvia").await.unwrap();
    assert_eq!(all.len(), 130);
    let pages: Vec<String> = emu
        .calls()
        .await
        .iter()
        .filter(|c| c["route"] == "GET /api/recipes")
        .map(|c| c["query"].to_string())
        .collect();
    assert_eq!(pages.len(), 2, "130 recipes in pages of 100");
    for q in &pages {
        for p in ["adapter_names_any", "per_page", "page", "exclude_code"] {
            assert!(q.contains(p), "{p} missing from {q}");
        }
    }
    let using = recipes_using(&all, 100);
    assert_eq!(using.len(), 65);
    assert!(
        using
            .iter()
            .all(|r| r.uses_connection(100) && !r.uses_connection(101))
    );
    let one = api
        .list_recipes(&RecipeQuery {
            adapter_names_any: Some("trackvia".into()),
            page: 2,
            per_page: 100,
        })
        .await
        .unwrap();
    assert_eq!(one.len(), 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipes_start_stop_idempotently_and_a_failed_start_says_why() {
    let emu = Emulators::start(&seed()).await;
    let api = client(&emu);
    // Recipe 1000 (i = 0) is stopped and uses the working connection 100.
    api.start_recipe(1000).await.unwrap();
    assert!(api.get_recipe(1000).await.unwrap().running);
    let again = api.start_recipe(1000).await.unwrap_err();
    assert!(again.is_state_transition(), "{again:?}");
    api.ensure_started(1000).await.unwrap();
    api.stop_recipe(1000).await.unwrap();
    api.ensure_stopped(1000).await.unwrap();
    assert!(!api.get_recipe(1000).await.unwrap().running);

    // Recipe 1003 (i = 3) is stopped and uses connection 101, which has no credentials.
    let e = api.start_recipe(1003).await.unwrap_err();
    match &e {
        WorkatoError::StartFailed { errors, .. } => assert!(!errors.is_empty(), "{errors:?}"),
        other => panic!("expected StartFailed, got {other:?}"),
    }
    assert!(!api.get_recipe(1003).await.unwrap().running);
    let jobs = api.list_jobs(1001).await.unwrap();
    assert_eq!(
        jobs.items.len() as u64,
        jobs.job_succeeded_count + jobs.job_failed_count
    );
}

/// The jobs and the recipe counters the WorkatoConnection's job monitoring reads: newest first,
/// times, the error text, and the counters in the recipe listing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_are_read_newest_first_with_their_errors_and_counted_in_the_listing() {
    let emu = Emulators::start(&seed()).await;
    let api = client(&emu);
    let path = "workato/workspaces/acme-dev/recipes/1001/jobs";
    emu.control(
        path,
        serde_json::json!({"error": "401 Unauthorized: Invalid access token"}),
    )
    .await;
    emu.control(path, serde_json::json!({})).await;
    let page = api.list_jobs(1001).await.unwrap();
    assert_eq!((page.job_failed_count, page.job_succeeded_count), (1, 1));
    let [newest, failed] = &page.items[..] else {
        panic!("{page:?}")
    };
    assert!(!newest.is_error && failed.is_error);
    assert_eq!(
        failed.error.as_deref(),
        Some("401 Unauthorized: Invalid access token")
    );
    assert!(newest.time().unwrap() >= failed.time().unwrap());
    let listed = api.list_all_recipes("trackvia").await.unwrap();
    let r = listed.iter().find(|r| r.id == 1001).unwrap();
    assert_eq!((r.job_failed_count, r.job_succeeded_count), (Some(1), Some(1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_classes() {
    let emu = Emulators::start(&seed()).await;
    let api = client(&emu);
    let bad = HttpWorkato::new(config(&emu, "wrong-token-0000001"), WorkatoBudget::documented()).unwrap();
    let e = bad
        .list_connections(&ConnectionFilter::default())
        .await
        .unwrap_err();
    assert!(matches!(e, WorkatoError::Unauthorized { .. }), "{e:?}");
    assert!(!format!("{e} {e:?}").contains("wrong-token-0000001"));
    let e = api.get_recipe(424242).await.unwrap_err();
    assert!(matches!(e, WorkatoError::NotFound { .. }), "{e:?}");
    let e = api
        .create_connection(&NewConnection {
            name: String::new(),
            provider: "trackvia".into(),
            folder_id: None,
            input: input("a", "b"),
            shell: true,
        })
        .await
        .unwrap_err();
    assert!(matches!(e, WorkatoError::Rejected { status: 422, .. }), "{e:?}");

    // 429 with Retry-After: honoured (the budget pauses), then the call succeeds.
    emu.control("faults", json!({"service": "workato", "route": "/api/recipes/{id}", "status": 429, "retryAfterSecs": 1, "count": 1})).await;
    let start = Instant::now();
    api.get_recipe(1001).await.unwrap();
    assert!(start.elapsed() >= Duration::from_secs(1), "Retry-After honoured");
    // 5xx twice then fine, on an idempotent read.
    emu.control(
        "faults",
        json!({"service": "workato", "route": "/api/recipes/{id}", "status": 502, "count": 2}),
    )
    .await;
    api.get_recipe(1001).await.unwrap();
    // 5xx on a start: not resent (the recipe may have started).
    emu.reset_calls().await;
    emu.control(
        "faults",
        json!({"service": "workato", "route": "/api/recipes/{id}/start", "status": 500, "count": 5}),
    )
    .await;
    let e = api.start_recipe(1000).await.unwrap_err();
    assert!(matches!(e, WorkatoError::Server { status: 500, .. }), "{e:?}");
    assert_eq!(
        statuses(&emu, "PUT /api/recipes/{id}/start").await,
        [500],
        "a start is sent once"
    );

    let mut c = config(&emu, TOKEN);
    c.backoff = Backoff::NONE;
    c.http.request_timeout = Duration::from_millis(500);
    let quick = HttpWorkato::new(c, WorkatoBudget::documented()).unwrap();
    emu.control(
        "faults",
        json!({"service": "workato", "route": "/api/recipes/{id}", "latencyMs": 2000}),
    )
    .await;
    let e = quick.get_recipe(1001).await.unwrap_err();
    assert!(
        matches!(
            e,
            WorkatoError::Transport {
                failure: TransportFailure::Timeout,
                ..
            }
        ),
        "{e:?}"
    );
    emu.control(
        "faults",
        json!({"service": "workato", "route": "/api/recipes/{id}", "drop": true}),
    )
    .await;
    let e = quick.get_recipe(1001).await.unwrap_err();
    assert!(
        matches!(
            e,
            WorkatoError::Transport {
                failure: TransportFailure::Broken,
                ..
            }
        ),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_keeps_connection_updates_under_one_per_second() {
    let emu = Emulators::start(&seed()).await;
    let api = client(&emu);
    let update = ConnectionUpdate {
        input: Some(input("sbx-api-key-0001", "sf-token-valid-0001")),
        ..Default::default()
    };
    const N: u32 = 6;
    let start = Instant::now();
    // Concurrent callers share the workspace budget.
    let results = futures::future::join_all((0..N).map(|_| api.update_connection(100, &update))).await;
    let took = start.elapsed();
    for r in results {
        assert!(r.unwrap().is_authorized());
    }
    assert!(
        took >= Duration::from_secs(u64::from(N - 1)),
        "{N} updates took {took:?}"
    );
    let seen = statuses(&emu, "PUT /api/connections/{id}").await;
    assert_eq!(seen.len(), N as usize, "one request per update");
    assert!(seen.iter().all(|s| *s == 200), "no 429: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_requests_address_the_managed_users_workspace() {
    let emu = Emulators::start(&seed()).await;
    let mut c = config(&emu, TOKEN);
    c.managed_user_id = Some("Ecust-1".into());
    let api = HttpWorkato::new(c, WorkatoBudget::documented()).unwrap();
    let conns = api.list_connections(&ConnectionFilter::default()).await.unwrap();
    assert_eq!(conns.iter().map(|c| c.id).collect::<Vec<_>>(), [500]);
    let call = emu
        .calls()
        .await
        .into_iter()
        .find(|c| c["route"].as_str().unwrap().contains("managed_users"))
        .unwrap();
    assert_eq!(call["path"], "/api/managed_users/Ecust-1/connections");
}

/// Jobs as Workato documents them (a job `id` is a handle string such as `j-KGAKfhsz-GYoLe`, a
/// failed job carries `error` and `error_parts`) parse into the client's types, succeeded and
/// failed alike; recipes and connections in the published schema's shape parse too (a connection
/// created without a folder lands in the home folder, so `folder_id` is never null).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_recipes_and_connections_in_the_published_shapes_parse() {
    let emu = Emulators::start(&seed()).await;
    let api = client(&emu);
    emu.control("workato/tick", json!({"count": 1})).await;
    // 1002 runs on connection 100 (working credentials), 1001 on 101 (none).
    let ok = api.list_jobs(1002).await.unwrap();
    let failed = api.list_jobs(1001).await.unwrap();
    assert_eq!((ok.job_succeeded_count, ok.job_failed_count), (1, 0));
    assert_eq!((failed.job_succeeded_count, failed.job_failed_count), (0, 1));
    let (ok, failed) = (&ok.items[0], &failed.items[0]);
    for job in [ok, failed] {
        let id = job.id.as_str().unwrap_or_default();
        assert!(id.starts_with("j-") && id.len() > 2, "a job handle: {:?}", job.id);
        assert!(job.started_at.is_some() && job.completed_at.is_some(), "{job:?}");
    }
    assert_ne!(ok.id, failed.id);
    assert!(!ok.is_error && ok.error.is_none(), "{ok:?}");
    assert!(failed.is_error && failed.is_poll_error, "{failed:?}");
    assert!(
        failed.error.as_deref().is_some_and(|e| !e.is_empty()),
        "{failed:?}"
    );

    let recipe = api.get_recipe(1002).await.unwrap();
    assert!(recipe.running && recipe.stop_cause.is_none() && recipe.stopped_at.is_none());
    assert!(recipe.folder_id.is_some(), "folder_id is never null: {recipe:?}");
    let created = api
        .create_connection(&NewConnection {
            name: "No folder".into(),
            provider: "trackvia".into(),
            folder_id: None,
            input: input("a", "b"),
            shell: true,
        })
        .await
        .unwrap();
    assert!(created.folder_id.is_some(), "{created:?}");
}

/// The connector lookup the WorkatoConnection does before its first push: a standard connector
/// by `GET /api/integrations`, a custom one by `GET /api/custom_connectors` and its code (the
/// fields its `connection` block declares), an unknown provider as missing; all within the
/// connectors budget, Embedded included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectors_are_discovered_standard_custom_or_missing() {
    use trackvia_operator::domain::connector::{ConnectorKind, discover};
    let emu = Emulators::start(&seed()).await;
    let api = client(&emu);
    let standard = discover(&api, "trackvia").await.unwrap();
    assert_eq!(
        (standard.kind, standard.oauth, standard.fields),
        (ConnectorKind::Standard, true, None)
    );
    let custom = discover(&api, "tv_custom").await.unwrap();
    assert_eq!(custom.kind, ConnectorKind::Custom { id: 8 });
    let fields = custom.fields.unwrap();
    let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["auth_type", "user_key", "access_token"]);
    assert_eq!(fields[0].options, ["oauth", "auth_token"]);
    let missing = discover(&api, "nope").await.unwrap();
    assert_eq!(missing.kind, ConnectorKind::Missing);
    assert_eq!(statuses(&emu, "GET /api/integrations").await, [200, 200, 200]);
    assert_eq!(statuses(&emu, "GET /api/custom_connectors").await, [200, 200]);
    assert_eq!(
        statuses(&emu, "GET /api/custom_connectors/{id}/code").await,
        [200]
    );
}
