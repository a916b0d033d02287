//! The rotation tests' world: a TrackVia sandbox account with a Salesforce integration user, a
//! Workato DEV workspace with three TrackVia connections and ten recipes (1001..1009 running,
//! three per connection; 1010 stopped), a PROD workspace, the objects that bind them, and the
//! person's steps. Statuses are read as JSON, by their serialized names, so the same tests run
//! against any version of the operator's types.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Secret};
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use trackvia_operator::api::{CredentialRotation, IntegrationAccount, WorkatoConnection, WorkatoWorkspace};

use super::operator::{Emulators, Operator, eventually};

/// The TrackVia sandbox account id.
pub const SANDBOX: i64 = 21508;
/// How long a test waits for the operator.
pub const WAIT: Duration = Duration::from_secs(90);
/// The integration user's first token.
pub const OLD: &str = "sf-token-old-00000001";
/// The Workato DEV workspace's API token.
pub const WK_DEV_TOKEN: &str = "wk-dev-token-0001";
/// The integration user's email.
pub const USER: &str = "salesforce.integration@acme.example";

/// The seed: three connections, ten recipes, plus `extra_connections` and `extra_recipes` (YAML
/// list items, indented for the DEV workspace).
pub fn seed_with(extra_connections: &str, extra_recipes: &str) -> String {
    let mut recipes = String::new();
    for i in 1..=10 {
        let conn = 100 + (i - 1) % 3;
        recipes.push_str(&format!(
            "        - {{id: {}, name: Recipe {i}, running: {}, connections: [{conn}]}}\n",
            1000 + i,
            i != 10
        ));
    }
    format!(
        r#"
trackvia:
  accounts:
    - id: {SANDBOX}
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
        - {{id: 2, email: {USER}, firstName: Salesforce, lastName: Integration, status: Active, apiUser: true, role: Salesforce Integration}}
      tokens:
        - {{id: 1, value: sbx-admin-token-0001, user: 1, name: operator, expiresAt: "2030-01-01T00:00:00Z"}}
        - {{id: 2, value: {OLD}, user: 2, name: salesforce-1, expiresAt: "2030-01-01T00:00:00Z"}}
workato:
  workspaces:
    - id: acme-dev
      environment: sandbox
      apiTokens: [{WK_DEV_TOKEN}]
      connections:
        - {{id: 100, name: TV 1, provider: trackvia}}
        - {{id: 101, name: TV 2, provider: trackvia}}
        - {{id: 102, name: TV 3, provider: trackvia}}
{extra_connections}      recipes:
{recipes}{extra_recipes}    - id: acme-prod
      environment: production
      apiTokens: [wk-prod-token-0001]
      connections:
        - {{id: 200, name: TV prod, provider: trackvia}}
"#
    )
}

/// The seed with nothing extra.
pub fn seed() -> String {
    seed_with("", "")
}

/// Secrets, accounts, workspaces, the IntegrationAccount (with `rotation` as its
/// `spec.rotation`) and WorkatoConnections `conn-1..3` on connections 100..102; waits until every
/// connection is Ready.
pub async fn setup_with(client: &Client, ns: &str, emu: &Emulators, rotation: Value) {
    super::create_secret(client, ns, "wk-prod", &[("token", "wk-prod-token-0001")]).await;
    workspace(client, ns, emu, "prod", "production", "wk-prod").await;
    setup_sandbox_only(client, ns, emu, rotation).await;
}

/// [`setup_with`] without the PROD workspace (the operator then never calls it).
pub async fn setup_sandbox_only(client: &Client, ns: &str, emu: &Emulators, rotation: Value) {
    super::sandbox::admin_secret(client, ns).await;
    super::create_secret(client, ns, "wk-dev", &[("token", WK_DEV_TOKEN)]).await;
    super::create_secret(client, ns, "sf-token", &[("token", OLD)]).await;
    super::sandbox::account(client, ns, emu, "acme").await;
    workspace(client, ns, emu, "dev", "sandbox", "wk-dev").await;
    super::create::<IntegrationAccount>(client, ns, json!({
        "apiVersion": super::API, "kind": "IntegrationAccount", "metadata": {"name": "sf"},
        "spec": {"accountRef": {"name": "acme"}, "system": "Salesforce", "email": USER,
                 "access": {"apps": ["CRM"], "views": [{"name": "Accounts", "app": "CRM"}]},
                 "tokenSecretRef": {"name": "sf-token", "key": "token"}, "credentialsSecret": {"name": "sf-credentials"},
                 "rotation": rotation}
    })).await;
    for (i, id) in [100, 101, 102].iter().enumerate() {
        connection(client, ns, &format!("conn-{}", i + 1), json!({"id": id})).await;
    }
    for i in 1..=3 {
        wait_ready::<WorkatoConnection>(client, ns, &format!("conn-{i}")).await;
    }
}

/// A fresh namespace (named after `prefix`) and the emulators, seeded with [`seed`] and with
/// `latency_ms` added to every vendor call.
pub async fn emulated(prefix: &str, latency_ms: u64) -> (Client, String, Emulators) {
    emulated_with_seed(prefix, latency_ms, &seed()).await
}

/// [`emulated`] with another seed.
pub async fn emulated_with_seed(prefix: &str, latency_ms: u64, seed: &str) -> (Client, String, Emulators) {
    let (client, ns) = super::cluster(prefix).await;
    let emu = Emulators::start_with(seed, Duration::from_millis(latency_ms)).await;
    (client, ns, emu)
}

/// [`emulated`], the operator, and the world set up with `rotation` as the account's
/// `spec.rotation` (long timeouts by default, see [`setup`]).
pub async fn set_up(
    prefix: &str,
    latency_ms: u64,
    rotation: Option<Value>,
) -> (Client, String, Emulators, Operator) {
    let (client, ns, emu) = emulated(prefix, latency_ms).await;
    let op = Operator::start(&ns);
    match rotation {
        Some(r) => setup_with(&client, &ns, &emu, r).await,
        None => setup(&client, &ns, &emu, None).await,
    }
    (client, ns, emu, op)
}

/// [`setup_with`] with long timeouts and, optionally, a forced strategy.
pub async fn setup(client: &Client, ns: &str, emu: &Emulators, strategy: Option<&str>) {
    let mut rotation = json!({"newTokenTimeout": "1h", "revocationGracePeriod": "1h"});
    if let Some(s) = strategy {
        rotation["strategy"] = json!(s);
    }
    setup_with(client, ns, emu, rotation).await;
}

/// Creates WorkatoWorkspace `name` on the emulator's Workato, its API token in Secret `secret`.
pub async fn workspace(client: &Client, ns: &str, emu: &Emulators, name: &str, env: &str, secret: &str) {
    super::create::<WorkatoWorkspace>(client, ns, json!({
        "apiVersion": super::API, "kind": "WorkatoWorkspace", "metadata": {"name": name},
        "spec": {"baseUrl": emu.workato(), "environment": env, "apiToken": {"name": secret, "key": "token"}}
    }))
    .await;
}

/// Creates WorkatoConnection `name` of account `sf` in workspace `dev` with `connection` as its
/// selector.
pub async fn connection(client: &Client, ns: &str, name: &str, connection: Value) {
    connection_with(client, ns, name, json!({"connection": connection})).await;
}

/// Creates WorkatoConnection `name` of account `sf` in workspace `dev`, with `spec`'s fields
/// added to (or replacing) those.
pub async fn connection_with(client: &Client, ns: &str, name: &str, spec: Value) {
    let mut full = json!({"workspaceRef": {"name": "dev"}, "integrationAccountRef": {"name": "sf"}});
    if let (Some(f), Some(extra)) = (full.as_object_mut(), spec.as_object()) {
        f.extend(extra.clone());
    }
    super::create::<WorkatoConnection>(
        client,
        ns,
        json!({
            "apiVersion": super::API, "kind": "WorkatoConnection", "metadata": {"name": name}, "spec": full
        }),
    )
    .await;
}

/// Waits until object `name` of kind `K` is Ready.
pub async fn wait_ready<K>(client: &Client, ns: &str, name: &str)
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    wait_condition::<K>(client, ns, name, "Ready", |c| c.0 == "True").await;
}

/// An object as JSON.
pub fn json_of<K: serde::Serialize>(o: &K) -> Value {
    serde_json::to_value(o).unwrap()
}

/// An object read as JSON, as its Rust type.
pub fn typed<K: serde::de::DeserializeOwned>(o: Value) -> K {
    serde_json::from_value(o).unwrap()
}

/// A condition of an object (as JSON): status, reason, message.
pub fn condition(o: &Value, type_: &str) -> Option<(String, String, String)> {
    o["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .map(|c| {
            (
                c["status"].as_str().unwrap_or_default().to_owned(),
                c["reason"].as_str().unwrap_or_default().to_owned(),
                c["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
}

/// Waits until condition `type_` of object `name` satisfies `pred`; returns the object.
pub async fn wait_condition<K>(
    client: &Client,
    ns: &str,
    name: &str,
    type_: &str,
    pred: impl Fn(&(String, String, String)) -> bool,
) -> Value
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    eventually(WAIT, &format!("{type_} of {name}"), || async {
        let o = get_json::<K>(client, ns, name).await?;
        condition(&o, type_).filter(|c| pred(c)).map(|_| o)
    })
    .await
}

/// The JSON of object `name` of kind `K`.
pub async fn get_json<K>(client: &Client, ns: &str, name: &str) -> Option<Value>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    Api::<K>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .ok()
        .flatten()
        .map(|o| json_of(&o))
}

/// Every CredentialRotation of the namespace, as JSON.
pub async fn rotations(client: &Client, ns: &str) -> Vec<Value> {
    Api::<CredentialRotation>::namespaced(client.clone(), ns)
        .list(&Default::default())
        .await
        .map(|l| l.items.iter().map(json_of).collect())
        .unwrap_or_default()
}

/// The phase of a rotation (JSON).
pub fn phase(r: &Value) -> &str {
    r["status"]["phase"].as_str().unwrap_or_default()
}

/// Waits for a rotation (any, or `name`) for which `pred` holds; returns it.
pub async fn wait_rotation(client: &Client, ns: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    eventually(WAIT, what, || async {
        rotations(client, ns).await.into_iter().find(|r| pred(r))
    })
    .await
}

/// Waits for a rotation in `phase`.
pub async fn wait_phase(client: &Client, ns: &str, p: &str) -> Value {
    wait_rotation(client, ns, &format!("a rotation in phase {p}"), |r| phase(r) == p).await
}

/// Waits for a rotation that has finished (Succeeded, Failed, Aborted).
pub async fn wait_finished(client: &Client, ns: &str) -> Value {
    wait_rotation(client, ns, "a finished rotation", |r| {
        matches!(phase(r), "Succeeded" | "Failed" | "Aborted")
    })
    .await
}

/// The states of a rotation's connections (or recipes): `items` is `connections` or `recipes`.
pub fn states<'a>(r: &'a Value, items: &str) -> Vec<&'a str> {
    r["status"][items]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x["state"].as_str().unwrap_or_default())
                .collect()
        })
        .unwrap_or_default()
}

/// The DEV workspace in a snapshot of the emulator's state.
pub fn dev_workspace(state: &Value) -> Value {
    state["workato"]["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == "acme-dev")
        .unwrap()
        .clone()
}

/// Connection id -> (the `access_token` its input holds, its authorization status), in a
/// snapshot of the emulator's state.
pub fn connections_in(state: &Value) -> BTreeMap<i64, (String, String)> {
    dev_workspace(state)["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_i64().unwrap(),
                (
                    c["input"]["access_token"].as_str().unwrap_or_default().to_owned(),
                    c["authorizationStatus"].as_str().unwrap_or_default().to_owned(),
                ),
            )
        })
        .collect()
}

/// Connection id -> the `access_token` its input holds.
pub async fn connection_tokens(emu: &Emulators) -> BTreeMap<i64, String> {
    connections_in(&emu.get("state").await)
        .into_iter()
        .map(|(id, (token, _))| (id, token))
        .collect()
}

/// Recipe id -> running, in a snapshot of the emulator's state.
pub fn running_in(state: &Value) -> BTreeMap<i64, bool> {
    dev_workspace(state)["recipes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_i64().unwrap(), r["running"] == true))
        .collect()
}

/// Recipe id -> running.
pub async fn running(emu: &Emulators) -> BTreeMap<i64, bool> {
    running_in(&emu.get("state").await)
}

/// The token in the credentials Secret.
pub async fn published_token(client: &Client, ns: &str) -> String {
    let s = Api::<Secret>::namespaced(client.clone(), ns)
        .get("sf-credentials")
        .await
        .unwrap();
    String::from_utf8(s.data.unwrap()["authToken"].0.clone()).unwrap()
}

/// Calls of a route (`PUT /api/recipes/{id}/stop`, ...) per concrete path.
pub async fn calls_of(emu: &Emulators, route: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for c in emu.calls().await {
        if c["route"] == route {
            *out.entry(c["path"].as_str().unwrap().to_owned()).or_default() += 1;
        }
    }
    out
}

/// Recipe stop/start calls per recipe path.
pub async fn recipe_calls(emu: &Emulators, verb: &str) -> BTreeMap<String, usize> {
    calls_of(emu, &format!("PUT /api/recipes/{{id}}/{verb}")).await
}

/// Puts `token` into the token Secret (retrying for [`WAIT`]: the API server may be restarting).
pub async fn put_token(client: &Client, ns: &str, token: &str) {
    let patch = json!({"data": {"token": k8s_openapi::ByteString(token.as_bytes().to_vec())}});
    let api = Api::<Secret>::namespaced(client.clone(), ns);
    let start = std::time::Instant::now();
    while let Err(e) = api
        .patch("sf-token", &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        assert!(start.elapsed() < WAIT, "putting the token: {e}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The person creates a new token for the integration user in TrackVia. Returns it.
pub async fn new_token(emu: &Emulators) -> String {
    emu.create_token(SANDBOX, USER, "2031-01-01T00:00:00Z").await
}

/// The person creates a new token (the old one stays active) and puts it in the token Secret.
pub async fn place_new_token(client: &Client, ns: &str, emu: &Emulators) -> String {
    let new = new_token(emu).await;
    put_token(client, ns, &new).await;
    new
}

/// The person regenerates the token in place: the old one (id 2) dies, the new one goes into the
/// token Secret.
pub async fn regenerate_in_place(client: &Client, ns: &str, emu: &Emulators) -> String {
    revoke_old(emu).await;
    place_new_token(client, ns, emu).await
}

/// The person deactivates the old token (id 2) in TrackVia.
pub async fn revoke_old(emu: &Emulators) {
    deactivate_token(emu, 2).await;
}

/// The person deactivates token `id` of the sandbox account in TrackVia.
pub async fn deactivate_token(emu: &Emulators, id: i64) {
    emu.control(
        &format!("trackvia/accounts/{SANDBOX}/tokens/{id}/deactivate"),
        json!({}),
    )
    .await;
}

/// Workato's answer to an update of connection `id` whose test fails: the update is not applied,
/// the answer says the test failed.
pub fn failed_test(id: i64) -> Value {
    json!({
        "service": "workato", "method": "PUT", "route": format!("/api/connections/{id}"), "status": 200, "count": 1,
        "body": {"id": id, "name": format!("TV {}", id - 99), "provider": "trackvia", "authorization_status": "failed",
                 "authorization_error": "401 Unauthorized: Invalid access token"}
    })
}

/// Workato refuses to start recipe `id` (`success: false` with a config error): the recipe stays
/// stopped.
pub fn start_refused(id: i64) -> Value {
    json!({
        "service": "workato", "method": "PUT", "route": format!("/api/recipes/{id}/start"), "status": 200, "count": 1,
        "body": {"success": false, "code_errors": [], "config_errors": [[1, [["TrackVia", 100, "Connection failed"]]]]}
    })
}

/// A person starts a recipe in Workato.
pub async fn person_starts_recipe(emu: &Emulators, id: i64) {
    let url = format!("{}/api/recipes/{id}/start", emu.workato().trim_end_matches('/'));
    let r = reqwest::Client::new()
        .put(&url)
        .bearer_auth(WK_DEV_TOKEN)
        .send()
        .await
        .expect("start call");
    assert!(r.status().is_success(), "PUT {url} -> {}", r.status());
}

/// Creates StopAndRestart rotation `name` by hand and waits until it has stopped the recipes and
/// waits for the person's token.
pub async fn stopped_for_token(client: &Client, ns: &str, name: &str) {
    rotation(client, ns, name, json!({"strategy": "StopAndRestart"})).await;
    eventually(WAIT, &format!("{name} waits for the token"), || async {
        let r = get_json::<CredentialRotation>(client, ns, name).await?;
        (phase(&r) == "WaitingForToken").then_some(())
    })
    .await;
}

/// Waits until rotation `rotation` sees every recipe it stopped running and WorkatoConnection
/// `connection` reports its recipes healthy again.
pub async fn findings_clear(client: &Client, ns: &str, rotation: &str, connection: &str) {
    wait_condition::<CredentialRotation>(client, ns, rotation, "RecipesRestarted", |c| c.0 == "True").await;
    wait_condition::<WorkatoConnection>(client, ns, connection, "RecipesHealthy", |c| c.0 == "True").await;
}

/// Makes the account's rotation due when its `renewBefore` is 30 days: the person records on the
/// token Secret that the token expires in ten days.
pub async fn expiring_soon(client: &Client, ns: &str) {
    let at = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(240);
    let patch = json!({"metadata": {"annotations": {"integrations.trackvia-operator.dev/expires-at": at.to_string()}}});
    Api::<Secret>::namespaced(client.clone(), ns)
        .patch("sf-token", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

/// Creates a CredentialRotation by hand (a person's), with `spec`.
pub async fn rotation(client: &Client, ns: &str, name: &str, spec: Value) {
    let mut spec = spec;
    spec["integrationAccountRef"] = json!({"name": "sf"});
    super::create::<CredentialRotation>(
        client,
        ns,
        json!({
            "apiVersion": super::API, "kind": "CredentialRotation", "metadata": {"name": name},
            "spec": spec
        }),
    )
    .await;
}

/// The Events about object `name`, oldest first: (type, reason, message).
pub async fn events(client: &Client, ns: &str, name: &str) -> Vec<(String, String, String)> {
    let lp = ListParams::default().fields(&format!("involvedObject.name={name}"));
    let mut list: Vec<Event> = Api::<Event>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    list.sort_by_key(|e| e.metadata.creation_timestamp.clone());
    list.into_iter()
        .map(|e| {
            (
                e.type_.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.message.unwrap_or_default(),
            )
        })
        .collect()
}

/// Asserts that recipe `recipe` was stopped before connection `connection` was updated, and
/// started after it (a staged switch), in the emulator's call log.
pub async fn assert_staged(emu: &Emulators, recipe: i64, connection: i64) {
    let calls = emu.calls().await;
    let at = |route: &str, path: String| {
        calls
            .iter()
            .position(|c| c["route"] == route && c["path"] == path.as_str())
            .unwrap_or_else(|| panic!("no {route} {path}"))
    };
    let stop = at(
        "PUT /api/recipes/{id}/stop",
        format!("/api/recipes/{recipe}/stop"),
    );
    let push = at(
        "PUT /api/connections/{id}",
        format!("/api/connections/{connection}"),
    );
    let start = at(
        "PUT /api/recipes/{id}/start",
        format!("/api/recipes/{recipe}/start"),
    );
    assert!(stop < push && push < start, "stop, update, start in that order");
}
