//! Contract tests: every TrackVia client operation and error class against the emulator. The
//! client is the production one; only the base URL differs. No API server needed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod support;

use std::time::Duration;

use serde_json::json;
use support::operator::Emulators;
use trackvia_operator::external::Backoff;
use trackvia_operator::external::http::TransportFailure;
use trackvia_operator::secret::Sensitive;
use trackvia_operator::trackvia::{
    AuthFailure, HttpTrackvia, NewUser, TokenPlacement, TrackviaApi, TrackviaConfig, TrackviaError,
};

const API_KEY: &str = "sbx-api-key-0001";
const ADMIN: &str = "sbx-admin-token-0001";

fn seed() -> String {
    let mut users = String::new();
    for i in 0..7 {
        users.push_str(&format!(
            "        - {{email: user{i}@acme.example, firstName: U{i}, lastName: Seed, status: Active}}\n"
        ));
    }
    format!(
        r#"
trackvia:
  accounts:
    - id: 21508
      name: ACME Sandbox
      environment: sandbox
      apiKey: {API_KEY}
      apps: [{{id: 1, name: CRM}}, {{id: 2, name: HR}}]
      views:
        - {{id: 10, name: Accounts, app: CRM}}
        - {{id: 11, name: Opportunities, app: CRM}}
        - {{id: 20, name: Employees, app: HR}}
      roles:
        - {{name: Super Admin, admin: true}}
        - {{name: Salesforce Integration, apps: [CRM], views: [Accounts, Opportunities]}}
      users:
        - {{id: 1, email: admin@acme.example, firstName: Ada, lastName: Admin, status: Active, apiUser: true, role: Super Admin}}
        - {{id: 2, email: sf.integration@acme.example, firstName: Salesforce, lastName: Integration, status: Active, apiUser: true, role: Salesforce Integration}}
{users}      tokens:
        - {{id: 1, value: {ADMIN}, user: 1, name: operator, expiresAt: "2030-01-01T00:00:00Z"}}
        - {{id: 2, value: sf-token-valid-0001, user: 2, name: sf, expiresAt: "2030-01-01T00:00:00Z"}}
        - {{id: 3, value: sf-token-expired-01, user: 2, name: old, expiresAt: "2020-01-01T00:00:00Z"}}
        - {{id: 4, value: sf-token-retired-01, user: 2, name: retired, expiresAt: "2030-01-01T00:00:00Z", active: false}}
    - id: 31000
      name: ACME
      environment: production
      apiKey: prod-api-key-0001
      apps: [{{id: 1, name: CRM}}]
      views: [{{id: 10, name: Accounts, app: CRM}}]
      roles: [{{name: Super Admin, admin: true}}]
      users:
        - {{id: 1, email: admin@acme.example, firstName: Ada, lastName: Admin, status: Active, apiUser: true, role: Super Admin}}
      tokens:
        - {{id: 1, value: prod-admin-token-0001, user: 1, name: operator, expiresAt: "2030-01-01T00:00:00Z"}}
    - id: 41000
      name: Throttled
      environment: sandbox
      apiKey: slow-api-key-0001
      rateLimitPerSecond: 1
      apps: [{{id: 1, name: CRM}}]
      views: [{{id: 10, name: Accounts, app: CRM}}]
      roles: [{{name: Super Admin, admin: true}}]
      users:
        - {{id: 1, email: admin@acme.example, firstName: Ada, lastName: Admin, status: Active, apiUser: true, role: Super Admin}}
      tokens:
        - {{id: 1, value: slow-admin-token-01, user: 1, name: operator, expiresAt: "2030-01-01T00:00:00Z"}}
workato:
  workspaces: []
"#
    )
}

fn client(emu: &Emulators, api_key: &str) -> HttpTrackvia {
    let mut config = TrackviaConfig::new(emu.trackvia(), Sensitive::from(api_key));
    config.backoff = Backoff {
        base: Duration::from_millis(10),
        max: Duration::from_millis(50),
        max_attempts: 4,
    };
    config.http.request_timeout = Duration::from_secs(2);
    HttpTrackvia::new(config).unwrap()
}

fn t(s: &str) -> Sensitive<String> {
    Sensitive::from(s)
}

/// No credential in what an error shows.
fn assert_clean(e: &TrackviaError, secrets: &[&str]) {
    let shown = format!("{e} {e:?}");
    for s in secrets {
        assert!(!shown.contains(s), "a credential leaked into {shown}");
    }
}

async fn count(emu: &Emulators, route: &str) -> usize {
    emu.calls().await.iter().filter(|c| c["route"] == route).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_listed_across_pages_and_found_by_email() {
    let emu = Emulators::start(&seed()).await;
    let mut config = TrackviaConfig::new(emu.trackvia(), t(API_KEY));
    config.page_size = 3;
    let api = HttpTrackvia::new(config).unwrap();
    let all = api.list_all_users(&t(ADMIN)).await.unwrap();
    assert_eq!(all.len(), 9);
    assert_eq!(
        count(&emu, "GET /openapi/users").await,
        3,
        "9 users in pages of 3"
    );
    let found = api
        .find_user_by_email(&t(ADMIN), "USER6@acme.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            found.first_name.as_str(),
            found.last_name.as_str(),
            found.status.as_str()
        ),
        ("U6", "Seed", "Active")
    );
    assert!(
        api.find_user_by_email(&t(ADMIN), "nobody@acme.example")
            .await
            .unwrap()
            .is_none()
    );
    // The query carries user_key and the token, as the SDKs send them.
    let call = emu
        .calls()
        .await
        .into_iter()
        .find(|c| c["route"] == "GET /openapi/users")
        .unwrap();
    let query = call["query"].to_string();
    assert!(query.contains("start") && query.contains("max"), "{query}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_paged_until_total_count_when_the_server_cuts_pages_short() {
    let emu = Emulators::start(&seed()).await;
    // The server answers at most 2 users a page, whatever `max` asks for (TrackVia documents
    // a cap for record sets; its value for users is not published).
    emu.control("trackvia/behaviour", json!({"maxPageSize": 2})).await;
    let mut config = TrackviaConfig::new(emu.trackvia(), t(API_KEY));
    config.page_size = 3;
    let api = HttpTrackvia::new(config).unwrap();
    let page = api.list_users(&t(ADMIN), 0, 3).await.unwrap();
    assert_eq!((page.users.len(), page.total), (2, Some(9)));
    emu.reset_calls().await;
    let all = api.list_all_users(&t(ADMIN)).await.unwrap();
    assert_eq!(all.len(), 9, "every user, though each page was short");
    assert_eq!(
        count(&emu, "GET /openapi/users").await,
        5,
        "9 users in pages of 2"
    );
    let last = api
        .find_user_by_email(&t(ADMIN), "user6@acme.example")
        .await
        .unwrap();
    assert!(last.is_some(), "the last user, on the fifth page, is found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_user_is_listed_with_the_status_trackvia_shows() {
    let emu = Emulators::start(&seed()).await;
    let api = client(&emu, API_KEY);
    emu.control(
        "trackvia/accounts/21508/users/sf.integration@acme.example/deactivate",
        json!({}),
    )
    .await;
    let user = api
        .find_user_by_email(&t(ADMIN), "sf.integration@acme.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.status, "Inactive");
    // Where TrackVia leaves inactive users out of the list, the user is simply not there.
    emu.control("trackvia/behaviour", json!({"inactiveStatus": null}))
        .await;
    let all = api.list_all_users(&t(ADMIN)).await.unwrap();
    assert_eq!(all.len(), 8);
    assert!(all.iter().all(|u| u.email != "sf.integration@acme.example"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_refusing_the_api_key_reads_as_an_invalid_api_key() {
    let emu = Emulators::start(&seed()).await;
    emu.control("trackvia/behaviour", json!({"invalidKey": "gateway"}))
        .await;
    let e = client(&emu, "not-a-key-0001")
        .list_users(&t(ADMIN), 0, 10)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            TrackviaError::Unauthorized {
                status: 403,
                kind: AuthFailure::ApiKeyInvalid,
                ..
            }
        ),
        "{e:?}"
    );
    assert_clean(&e, &["not-a-key-0001", ADMIN]);
    let e = client(&emu, "").list_views(&t(ADMIN)).await.unwrap_err();
    assert!(
        matches!(
            e,
            TrackviaError::Unauthorized {
                status: 401,
                kind: AuthFailure::ApiKeyInvalid,
                ..
            }
        ),
        "a missing key: {e:?}"
    );
    // A role that may not list users still gets TrackVia's own 403.
    let e = client(&emu, API_KEY)
        .list_users(&t("sf-token-valid-0001"), 0, 10)
        .await
        .unwrap_err();
    assert!(matches!(e, TrackviaError::Forbidden { .. }), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_user_starts_unverified_and_a_duplicate_is_rejected() {
    let emu = Emulators::start(&seed()).await;
    let api = client(&emu, API_KEY);
    let new = NewUser {
        email: "hubspot.integration@acme.example".into(),
        first_name: "HubSpot".into(),
        last_name: "Integration".into(),
        time_zone: Some("America/Denver".into()),
    };
    let u = api.create_user(&t(ADMIN), &new).await.unwrap();
    assert!(u.is_unverified());
    assert_eq!(
        (u.first_name.as_str(), u.last_name.as_str()),
        ("HubSpot", "Integration")
    );
    let call = emu
        .calls()
        .await
        .into_iter()
        .find(|c| c["route"] == "POST /openapi/users")
        .unwrap();
    let query = call["query"].to_string();
    for p in ["email", "firstName", "lastName", "timeZone"] {
        assert!(query.contains(p), "query parameter {p} missing from {query}");
    }
    let e = api.create_user(&t(ADMIN), &new).await.unwrap_err();
    assert!(matches!(e, TrackviaError::Rejected { status: 400, .. }), "{e:?}");
    assert!(e.to_string().contains("already exists"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_reaches_what_its_role_grants_with_either_token_placement() {
    let emu = Emulators::start(&seed()).await;
    for placement in [TokenPlacement::Query, TokenPlacement::BearerHeader] {
        let mut config = TrackviaConfig::new(emu.trackvia(), t(API_KEY));
        config.token_placement = placement;
        config.account_id = Some("21508".into());
        let api = HttpTrackvia::new(config).unwrap();
        let reach = api.reach(&t("sf-token-valid-0001")).await.unwrap();
        let mut views: Vec<_> = reach
            .views
            .iter()
            .map(|v| (v.app.clone().unwrap(), v.name.clone()))
            .collect();
        views.sort();
        assert_eq!(
            views,
            [
                ("CRM".into(), "Accounts".into()),
                ("CRM".into(), "Opportunities".into())
            ]
        );
        assert_eq!(
            reach.apps.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
            ["CRM"]
        );
        let admin = api.reach(&t(ADMIN)).await.unwrap();
        assert_eq!(
            (admin.apps.len(), admin.views.len()),
            (2, 3),
            "an admin role reaches everything"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_401_is_classified() {
    let emu = Emulators::start(&seed()).await;
    let api = client(&emu, API_KEY);
    let secrets = [
        API_KEY,
        "sf-token-expired-01",
        "sf-token-retired-01",
        "prod-admin-token-0001",
    ];
    let cases = [
        (
            client(&emu, API_KEY),
            "sf-token-expired-01",
            AuthFailure::TokenExpired,
        ),
        (
            client(&emu, API_KEY),
            "sf-token-retired-01",
            AuthFailure::TokenInvalid,
        ),
        (
            client(&emu, API_KEY),
            "prod-admin-token-0001",
            AuthFailure::TokenInvalid,
        ), // other environment
        (client(&emu, "not-a-key-0001"), ADMIN, AuthFailure::ApiKeyInvalid),
    ];
    for (c, token, kind) in cases {
        let e = c.list_views(&t(token)).await.unwrap_err();
        assert_eq!(e.auth_failure(), Some(kind), "{token}: {e}");
        assert_clean(&e, &secrets);
    }
    // The user is deactivated in the UI: its token now says so.
    emu.control(
        "trackvia/accounts/21508/users/sf.integration@acme.example/deactivate",
        json!({}),
    )
    .await;
    let e = api.list_views(&t("sf-token-valid-0001")).await.unwrap_err();
    assert_eq!(e.auth_failure(), Some(AuthFailure::UserInactive), "{e}");
    // account-id of another account: the token is not valid there.
    let mut config = TrackviaConfig::new(emu.trackvia(), t(API_KEY));
    config.account_id = Some("31000".into());
    let e = HttpTrackvia::new(config)
        .unwrap()
        .list_views(&t(ADMIN))
        .await
        .unwrap_err();
    assert_eq!(e.auth_failure(), Some(AuthFailure::TokenInvalid), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_rate_limited_and_server_errors() {
    let emu = Emulators::start(&seed()).await;
    let api = client(&emu, API_KEY);
    // A limited role may not list users.
    let e = api
        .list_users(&t("sf-token-valid-0001"), 0, 10)
        .await
        .unwrap_err();
    assert!(matches!(e, TrackviaError::Forbidden { .. }), "{e:?}");

    // 429 with Retry-After: classified, transient, paused for.
    let mut config = TrackviaConfig::new(emu.trackvia(), t("slow-api-key-0001"));
    config.backoff = Backoff::NONE;
    let slow = HttpTrackvia::new(config).unwrap();
    let slow_token = t("slow-admin-token-01");
    let results = futures::future::join_all((0..3).map(|_| slow.list_views(&slow_token))).await;
    let limited = results
        .into_iter()
        .filter_map(Result::err)
        .next()
        .expect("a 429 at 3 requests/s against 1/s");
    assert!(
        matches!(
            limited,
            TrackviaError::RateLimited {
                retry_after: Some(_),
                ..
            }
        ),
        "{limited:?}"
    );
    // With retries, the same burst succeeds.
    let mut config = TrackviaConfig::new(emu.trackvia(), t("slow-api-key-0001"));
    config.backoff.max_attempts = 5;
    let patient = HttpTrackvia::new(config).unwrap();
    for r in futures::future::join_all((0..3).map(|_| patient.list_views(&slow_token))).await {
        r.unwrap();
    }

    // 5xx twice, then fine: a read is retried.
    emu.control(
        "faults",
        json!({"service": "trackvia", "route": "/openapi/views", "status": 503, "count": 2}),
    )
    .await;
    api.list_views(&t(ADMIN)).await.unwrap();
    // 5xx on a create: not retried (the server may have acted).
    emu.reset_calls().await;
    emu.control("faults", json!({"service": "trackvia", "method": "POST", "route": "/openapi/users", "status": 500, "count": 3})).await;
    let new = NewUser {
        email: "x.integration@acme.example".into(),
        first_name: "X".into(),
        last_name: "Integration".into(),
        time_zone: None,
    };
    let e = api.create_user(&t(ADMIN), &new).await.unwrap_err();
    assert!(matches!(e, TrackviaError::Server { status: 500, .. }), "{e:?}");
    assert_eq!(
        count(&emu, "POST /openapi/users").await,
        1,
        "a create is sent once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_dropped_and_refused_connections() {
    let emu = Emulators::start(&seed()).await;
    let mut config = TrackviaConfig::new(emu.trackvia(), t(API_KEY));
    config.backoff = Backoff::NONE;
    config.http.request_timeout = Duration::from_millis(500);
    let api = HttpTrackvia::new(config).unwrap();
    emu.control(
        "faults",
        json!({"service": "trackvia", "route": "/openapi/apps", "latencyMs": 2000}),
    )
    .await;
    let e = api.list_apps(&t(ADMIN)).await.unwrap_err();
    assert!(
        matches!(
            e,
            TrackviaError::Transport {
                failure: TransportFailure::Timeout,
                ..
            }
        ),
        "{e:?}"
    );
    emu.control(
        "faults",
        json!({"service": "trackvia", "route": "/openapi/apps", "drop": true}),
    )
    .await;
    let e = api.list_apps(&t(ADMIN)).await.unwrap_err();
    assert!(
        matches!(
            e,
            TrackviaError::Transport {
                failure: TransportFailure::Broken,
                ..
            }
        ),
        "{e:?}"
    );
    assert_clean(&e, &[API_KEY, ADMIN]);

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut config = TrackviaConfig::new(format!("http://{closed}"), t(API_KEY));
    config.backoff = Backoff::NONE;
    let e = HttpTrackvia::new(config)
        .unwrap()
        .list_apps(&t(ADMIN))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            TrackviaError::Transport {
                failure: TransportFailure::Connect,
                ..
            }
        ),
        "{e:?}"
    );
    assert_clean(&e, &[API_KEY, ADMIN]);
}
