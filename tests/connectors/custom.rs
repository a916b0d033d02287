//! Custom connectors: looked up by provider name, their declared fields checked.

use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use trackvia_operator::api::WorkatoConnection;
use trackvia_operator::api::common::RECHECK_ANNOTATION;

use super::{input_of, world};
use crate::support::evidence::operator_saw_spec;
use crate::support::operator::{Operator, eventually};
use crate::support::world::*;

const CUSTOM: &str = "        - {id: 7, name: tv_mismatch, title: TrackVia (other fields), apiKeyField: api_token, authTokenField: subdomain, code: \"{ title: 'x', connection: { fields: [ { name: 'api_token', control_type: 'password' }, { name: 'subdomain' } ], authorization: { type: 'custom_auth' } }, test: lambda { |c| get('/openapi/views') } }\"}\n        - {id: 8, name: tv_custom, title: TrackVia (custom), apiKeyField: user_key, authTokenField: access_token, code: \"{ title: 'TrackVia (custom)', connection: { fields: [ { name: 'user_key', control_type: 'password' }, { name: 'access_token', control_type: 'password' } ], authorization: { type: 'custom_auth', apply: lambda { |c| params(user_key: c['user_key'], access_token: c['access_token']) } } }, test: lambda { |c| get('/openapi/views') } }\"}\n";
const CONNECTIONS: &str = "        - {id: 120, name: TV other, provider: tv_mismatch}\n        - {id: 121, name: TV custom, provider: tv_custom}\n";
const RECIPES: &str = "        - {id: 1211, name: Custom recipe, running: true, connections: [121]}\n";

/// A custom connector whose code declares other fields than the configured keys is refused
/// with the fields it declares listed and nothing pushed; one that declares them is found by
/// its provider name and used: credentials pushed without an authentication type (it declares
/// none), Workato's test passes, its recipes are inventoried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn custom_connectors_are_discovered_and_a_mismatch_is_refused_with_nothing_pushed() {
    let (client, ns, emu) = world("custom", CONNECTIONS, RECIPES, CUSTOM, |_| {}).await;
    let _op = Operator::start(&ns);
    setup(&client, &ns, &emu, None).await;
    emu.reset_calls().await;
    for (name, id, provider) in [("other", 120, "tv_mismatch"), ("custom", 121, "tv_custom")] {
        connection_with(
            &client,
            &ns,
            name,
            json!({"connection": {"id": id}, "provider": provider}),
        )
        .await;
    }
    let o = wait_condition::<WorkatoConnection>(&client, &ns, "other", "ConnectorCompatible", |c| {
        c.1 == "NoMatchingFields"
    })
    .await;
    let (status, _, message) = condition(&o, "ConnectorCompatible").unwrap();
    assert_eq!(status, "False");
    assert!(message.contains("[api_token, subdomain]"), "{message}");
    assert!(
        message.contains("user_key") && message.contains("access_token"),
        "{message}"
    );
    assert_eq!(condition(&o, "Ready").unwrap().0, "False");

    let c = wait_condition::<WorkatoConnection>(&client, &ns, "custom", "Ready", |c| c.0 == "True").await;
    let (_, reason, _) = condition(&c, "ConnectorCompatible").unwrap();
    assert_eq!(reason, "FieldsMatch");
    assert_eq!(c["status"]["connector"]["kind"], "Custom");
    assert_eq!(c["status"]["connector"]["customConnectorId"], 8);
    assert_eq!(c["status"]["recipeCount"], 1);
    // The first push is what made it Ready: one Event says so, not a second for the push.
    let evs = eventually(WAIT, "the connection's Ready event", || async {
        let e = events(&client, &ns, "custom").await;
        e.iter().any(|(_, reason, _)| reason == "Ready").then_some(e)
    })
    .await;
    assert!(
        !evs.iter().any(|(_, reason, _)| reason == "CredentialsPushed"),
        "{evs:?}"
    );
    let input = input_of(&emu, 121).await;
    assert_eq!(input["access_token"], OLD);
    assert!(input.get("auth_type").is_none(), "{input}");

    // Reconciled again after refusing (a spec change it does not act on), still nothing pushed.
    operator_saw_spec::<WorkatoConnection>(&client, &ns, "other", json!({"folderId": 3})).await;
    let writes = calls_of(&emu, "PUT /api/connections/{id}").await;
    assert!(!writes.contains_key("/api/connections/120"), "{writes:?}");
    assert!(input_of(&emu, 120).await.as_object().is_none_or(|m| m.is_empty()));
}

/// A refused connector's connection still shows Workato's view in status, and Workato's messages
/// may quote the credentials (TrackVia's "Invalid access token: <token>"): they are scrubbed there
/// too, not only on the path that pushes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_refused_connectors_workato_messages_are_scrubbed() {
    let (client, ns, emu) = world("customscrub", CONNECTIONS, RECIPES, CUSTOM, |_| {}).await;
    let _op = Operator::start(&ns);
    setup(&client, &ns, &emu, None).await;
    connection_with(
        &client,
        &ns,
        "other",
        json!({"connection": {"id": 120}, "provider": "tv_mismatch"}),
    )
    .await;
    wait_condition::<WorkatoConnection>(&client, &ns, "other", "ConnectorCompatible", |c| {
        c.1 == "NoMatchingFields"
    })
    .await;
    // Workato's next listing says connection 120 failed, quoting the published token.
    let listed = |id: i64, name: &str, provider: &str| {
        json!({"id": id, "application": provider, "name": name, "provider": provider,
               "authorization_status": "failed",
               "authorization_error": format!("401 Unauthorized: Invalid access token: {OLD}")})
    };
    emu.control(
        "faults",
        json!({
            "service": "workato", "method": "GET", "route": "/api/connections", "status": 200, "count": 1,
            "body": [listed(120, "TV other", "tv_mismatch")]
        }),
    )
    .await;
    Api::<WorkatoConnection>::namespaced(client.clone(), &ns)
        .patch(
            "other",
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"annotations": {RECHECK_ANNOTATION: "scrub-1"}}})),
        )
        .await
        .unwrap();
    let o = eventually(WAIT, "the failed listing recorded", || async {
        let o = get_json::<WorkatoConnection>(&client, &ns, "other").await?;
        (o["status"]["authorizationStatus"] == "failed").then_some(o)
    })
    .await;
    let error = o["status"]["authorizationError"].as_str().unwrap_or_default();
    assert!(error.contains("Invalid access token"), "{error}");
    assert!(!o.to_string().contains(OLD), "{}", o["status"]);
}
