//! TrackVia behaviour: the person's path from invitation to a working API user, token rules,
//! environment separation and expiry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;
use trackvia_emulator::{Config, InvalidKeyAnswer, TrackviaBehaviour};

fn names(body: &serde_json::Value) -> Vec<String> {
    body.as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn persons_path_from_invitation_to_scoped_api_user() {
    let env = start().await;
    let email = "google.integration@acme.example";
    let query = [
        ("email", email),
        ("firstName", "Google"),
        ("lastName", "Integration"),
        ("timeZone", "Europe/Berlin"),
    ];
    let created = env
        .tv_query(
            Method::POST,
            "/openapi/users",
            Some(SBX_KEY),
            Some(ADMIN_TOKEN),
            &query,
        )
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let user = &created.body["data"][0];
    assert_eq!(user["Status"], "Unverified");
    assert_eq!(user["Time Zone"], "Europe/Berlin");
    let base = format!("/_emulator/trackvia/accounts/{SBX}/users/{email}");

    // Not an API user yet: no token; Unverified: cannot become one.
    let refused = env
        .post(
            &format!("/_emulator/trackvia/accounts/{SBX}/tokens"),
            json!({"user": email, "name": "t"}),
        )
        .await;
    assert_eq!(refused.status, 409);
    let refused = env
        .post(&format!("{base}/api-user"), json!({"enabled": true}))
        .await;
    assert_eq!(refused.status, 409, "{:?}", refused.body);

    // The invitation is accepted, the flag is ticked, the role assigned, a token minted.
    assert_eq!(
        env.post(&format!("{base}/verify"), json!({})).await.body["status"],
        "Active"
    );
    assert_eq!(
        env.post(&format!("{base}/api-user"), json!({"enabled": true}))
            .await
            .status,
        200
    );
    let unknown_role = env.post(&format!("{base}/role"), json!({"role": "Nope"})).await;
    assert_eq!(unknown_role.status, 404);
    let role = env
        .post(&format!("{base}/role"), json!({"role": "Salesforce Integration"}))
        .await;
    assert_eq!(role.body["role"], "Salesforce Integration");
    let token = env.new_token(SBX, email, "2031-01-01T00:00:00Z").await;

    // The listing shows the user Active; its views and apps follow the role.
    let users = env
        .tv(Method::GET, "/openapi/users", Some(SBX_KEY), Some(ADMIN_TOKEN))
        .await;
    let listed = users.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["Email"] == email)
        .unwrap()
        .clone();
    assert_eq!(listed["Status"], "Active");
    let views = env
        .tv(Method::GET, "/openapi/views", Some(SBX_KEY), Some(&token))
        .await;
    assert_eq!(names(&views.body), ["Accounts", "Opportunities"]);
    let apps = env
        .tv(Method::GET, "/openapi/apps", Some(SBX_KEY), Some(&token))
        .await;
    assert_eq!(names(&apps.body), ["CRM"]);
    assert_eq!(
        env.tv(
            Method::GET,
            "/openapi/views/11/records",
            Some(SBX_KEY),
            Some(&token)
        )
        .await
        .status,
        200
    );
    assert_eq!(
        env.tv(
            Method::GET,
            "/openapi/views/20/records",
            Some(SBX_KEY),
            Some(&token)
        )
        .await
        .status,
        401
    );
    assert_eq!(
        env.tv(Method::GET, "/openapi/users", Some(SBX_KEY), Some(&token))
            .await
            .status,
        403
    );

    // Changing the role changes the reach.
    env.post(
        &format!("/_emulator/trackvia/accounts/{SBX}/roles/Salesforce Integration"),
        json!({"apps": ["CRM"], "views": ["Accounts"]}),
    )
    .await;
    let views = env
        .tv(Method::GET, "/openapi/views", Some(SBX_KEY), Some(&token))
        .await;
    assert_eq!(names(&views.body), ["Accounts"]);
    env.post(&format!("{base}/role"), json!({"role": "Super Admin"}))
        .await;
    let views = env
        .tv(Method::GET, "/openapi/views", Some(SBX_KEY), Some(&token))
        .await;
    assert_eq!(names(&views.body), ["Accounts", "Opportunities", "Employees"]);
}

#[tokio::test]
async fn at_most_100_tokens_per_account() {
    let env = start().await;
    let state = env.state().await;
    let seeded = state["trackvia"]["accounts"][0]["tokens"]
        .as_array()
        .unwrap()
        .len();
    for _ in seeded..100 {
        env.new_token(SBX, "2", "2031-01-01T00:00:00Z").await;
    }
    let refused = env
        .post(
            &format!("/_emulator/trackvia/accounts/{SBX}/tokens"),
            json!({"user": 2, "name": "101st"}),
        )
        .await;
    assert_eq!(refused.status, 409, "{:?}", refused.body);
    env.control(
        Method::DELETE,
        &format!("/_emulator/trackvia/accounts/{SBX}/tokens/3"),
        None,
    )
    .await;
    env.new_token(SBX, "2", "2031-01-01T00:00:00Z").await;
}

#[tokio::test]
async fn chosen_token_values_and_duplicates() {
    let env = start().await;
    let path = format!("/_emulator/trackvia/accounts/{SBX}/tokens");
    let created = env
        .post(
            &path,
            json!({"user": "salesforce.integration@acme.example", "name": "n", "value": "my-token"}),
        )
        .await;
    assert_eq!(
        (created.status, created.body["token"].as_str()),
        (201, Some("my-token"))
    );
    let duplicate = env
        .post(&path, json!({"user": 2, "name": "n", "value": "my-token"}))
        .await;
    assert_eq!(duplicate.status, 409);
    let unknown = env
        .post(&path, json!({"user": "nobody@acme.example", "name": "n"}))
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        env.tv(Method::GET, "/openapi/views", Some(SBX_KEY), Some("my-token"))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn sandbox_token_with_production_key_is_401() {
    let env = start().await;
    let resp = env
        .tv(
            Method::GET,
            "/openapi/views",
            Some("prod-api-key"),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.body["error"], "invalid_token");
    let resp = env
        .tv(
            Method::GET,
            "/openapi/views",
            Some(SBX_KEY),
            Some("prod-admin-token"),
        )
        .await;
    assert_eq!(resp.status, 401);
    let resp = env
        .tv(
            Method::GET,
            "/openapi/views",
            Some("prod-api-key"),
            Some("prod-admin-token"),
        )
        .await;
    assert_eq!(resp.status, 200);
}

#[tokio::test]
async fn account_id_header_must_match_the_key() {
    let env = start().await;
    let url = format!("{}/openapi/apps", env.emulator.trackvia_url());
    let call = |account: &'static str| {
        env.http
            .get(&url)
            .query(&[("user_key", SBX_KEY), ("access_token", SF_TOKEN)])
            .header("account-id", account)
    };
    let mismatch = into_resp(call("31000").send().await.unwrap()).await;
    assert_eq!(
        (mismatch.status, mismatch.body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    let matching = into_resp(call("21508").send().await.unwrap()).await;
    assert_eq!(matching.status, 200);
}

#[tokio::test]
async fn bearer_header_works_like_the_query_parameter() {
    let env = start().await;
    let url = format!("{}/openapi/views", env.emulator.trackvia_url());
    let resp = into_resp(
        env.http
            .get(&url)
            .query(&[("user_key", SBX_KEY)])
            .bearer_auth(SF_TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(names(&resp.body), ["Accounts", "Opportunities"]);
}

#[tokio::test]
async fn tokens_expire_with_the_emulator_clock() {
    let env = start().await;
    let now = env.control(Method::GET, "/_emulator/clock", None).await.body["now"]
        .as_str()
        .unwrap()
        .to_owned();
    let expiry: jiff::Timestamp = now.parse().unwrap();
    let expiry = expiry.checked_add(jiff::SignedDuration::from_hours(1)).unwrap();
    let token = env.new_token(SBX, "2", &expiry.to_string()).await;
    assert_eq!(
        env.tv(Method::GET, "/openapi/views", Some(SBX_KEY), Some(&token))
            .await
            .status,
        200
    );
    let advanced = env.post("/_emulator/clock", json!({"advanceSecs": 3601})).await;
    assert_eq!(advanced.body["offsetSecs"], 3601);
    let expired = env
        .tv(Method::GET, "/openapi/views", Some(SBX_KEY), Some(&token))
        .await;
    assert_eq!(expired.status, 401);
    assert_eq!(
        expired.body["error_description"],
        format!("Access token expired: {token}")
    );
}

#[tokio::test]
async fn deactivation_of_tokens_and_users() {
    let env = start().await;
    let account = format!("/_emulator/trackvia/accounts/{SBX}");
    let views = |token: &'static str| env.tv(Method::GET, "/openapi/views", Some(SBX_KEY), Some(token));
    assert_eq!(views(SF_TOKEN).await.status, 200);
    env.post(&format!("{account}/users/2/deactivate"), json!({}))
        .await;
    assert_eq!(
        views(SF_TOKEN).await.body["error_description"],
        "User is disabled"
    );
    env.post(
        &format!("{account}/users/salesforce.integration@acme.example/activate"),
        json!({}),
    )
    .await;
    assert_eq!(views(SF_TOKEN).await.status, 200);
    env.post(&format!("{account}/users/2/api-user"), json!({"enabled": false}))
        .await;
    assert_eq!(
        views(SF_TOKEN).await.body["error_description"],
        "User is disabled"
    );
    env.post(&format!("{account}/users/2/api-user"), json!({"enabled": true}))
        .await;
    let deactivated = env
        .post(&format!("{account}/tokens/2/deactivate"), json!({}))
        .await;
    assert_eq!(deactivated.body["active"], false);
    assert_eq!(views(SF_TOKEN).await.body["error"], "invalid_token");
    env.control(Method::DELETE, &format!("{account}/tokens/1"), None)
        .await;
    assert_eq!(views(ADMIN_TOKEN).await.body["error"], "invalid_token");
    assert_eq!(
        env.post(&format!("{account}/users/3/activate"), json!({}))
            .await
            .status,
        409
    );
    assert_eq!(
        env.post(&format!("{account}/users/99/verify"), json!({}))
            .await
            .status,
        404
    );
    assert_eq!(
        env.post("/_emulator/trackvia/accounts/1/users/1/verify", json!({}))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn users_are_paged_with_start_and_max() {
    let env = &start().await;
    let page = |start: &'static str, max: &'static str| async move {
        let query = [("start", start), ("max", max)];
        env.tv_query(
            Method::GET,
            "/openapi/users",
            Some(SBX_KEY),
            Some(ADMIN_TOKEN),
            &query,
        )
        .await
    };
    let second = page("1", "2").await;
    let ids: Vec<_> = second.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_u64().unwrap())
        .collect();
    assert_eq!((ids, second.body["totalCount"].as_u64()), (vec![2, 3], Some(4)));
    assert_eq!(
        page("0", "0").await.body["data"].as_array().unwrap().len(),
        1,
        "max is clamped to at least 1"
    );
    assert_eq!(page("x", "1").await.status, 400);
}

#[tokio::test]
async fn state_shows_tokens_with_values() {
    let env = start().await;
    let state = env.state().await;
    let token = &state["trackvia"]["accounts"][0]["tokens"][0];
    assert_eq!(token["value"], ADMIN_TOKEN);
    assert_eq!(token["userId"], 1);
    assert_eq!(token["expiresAt"], "2030-01-01T00:00:00.000Z");
    assert_eq!(token["active"], true);
    assert_eq!(
        state["workato"]["workspaces"][0]["connections"][0]["input"]["user_key"],
        SBX_KEY
    );
}

#[tokio::test]
async fn a_gateway_in_front_answers_a_bad_user_key_when_configured() {
    let config = Config {
        trackvia_behaviour: TrackviaBehaviour {
            invalid_key: InvalidKeyAnswer::Gateway,
            ..TrackviaBehaviour::default()
        },
        ..test_config()
    };
    let env = start_config(config).await;
    let text = |key: &'static str| {
        let url = format!("{}/openapi/views", env.emulator.trackvia_url());
        let http = env.http.clone();
        async move {
            let r = http
                .get(url)
                .query(&[("user_key", key), ("access_token", ADMIN_TOKEN)])
                .send()
                .await
                .unwrap();
            let kind = r.headers()["content-type"].to_str().unwrap().to_owned();
            (r.status().as_u16(), kind, r.text().await.unwrap())
        }
    };
    let (status, kind, body) = text("not-a-key").await;
    assert_eq!((status, body.as_str()), (403, "Authentication failed"));
    assert!(kind.starts_with("text/plain"), "{kind}");
    let (status, _, body) = text("").await;
    assert_eq!(
        (status, body.as_str()),
        (401, "Authentication parameters missing")
    );
    // A good key passes the gateway; TrackVia's own answers are unchanged.
    let ok = env
        .tv(Method::GET, "/openapi/views", Some(SBX_KEY), Some(ADMIN_TOKEN))
        .await;
    assert_eq!(ok.status, 200);
    // Back to TrackVia answering at run time.
    let set = env
        .post("/_emulator/trackvia/behaviour", json!({"invalidKey": "trackvia"}))
        .await;
    assert_eq!(set.body["invalidKey"], "trackvia");
    let refused = env
        .tv(
            Method::GET,
            "/openapi/views",
            Some("not-a-key"),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.body["name"], "unauthorized");
    let bad = env
        .post("/_emulator/trackvia/behaviour", json!({"maxPageSize": 0}))
        .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn deactivated_users_are_listed_as_configured_and_pages_are_capped() {
    let env = &start().await;
    let list = |query: &'static [(&'static str, &'static str)]| async move {
        env.tv_query(
            Method::GET,
            "/openapi/users",
            Some(SBX_KEY),
            Some(ADMIN_TOKEN),
            query,
        )
        .await
        .body
    };
    let before = list(&[]).await;
    let email = before["data"][1]["Email"].as_str().unwrap().to_owned();
    let r = env
        .post(
            &format!("/_emulator/trackvia/accounts/{SBX}/users/{email}/deactivate"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let after = list(&[]).await;
    assert_eq!(after["data"][1]["Status"], "Inactive");
    env.post(
        "/_emulator/trackvia/behaviour",
        json!({"inactiveStatus": "Deactivated", "maxPageSize": 1}),
    )
    .await;
    let page = list(&[("start", "1"), ("max", "5")]).await;
    assert_eq!(
        page["data"].as_array().unwrap().len(),
        1,
        "cut to the largest page"
    );
    assert_eq!(page["data"][0]["Status"], "Deactivated");
    assert_eq!(page["totalCount"], before["totalCount"]);
    env.post("/_emulator/trackvia/behaviour", json!({"inactiveStatus": null}))
        .await;
    let hidden = list(&[]).await;
    let inactive = after["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["Status"] == "Inactive")
        .count() as u64;
    assert_eq!(inactive, 2, "the seed's inactive user and the one deactivated");
    assert_eq!(
        hidden["totalCount"].as_u64().unwrap() + inactive,
        before["totalCount"].as_u64().unwrap()
    );
    assert!(
        hidden["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["Email"] != email.as_str())
    );
}
