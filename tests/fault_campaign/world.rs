//! The campaign's world (the namespace, the emulators, the operator, the token in use) and what a
//! run observes, with helpers over the emulator's state and its call log.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use trackvia_operator::api::CredentialRotation;

use crate::KUBE_RETRY;
use crate::plan::Endpoint;
use crate::support;
use crate::support::chaos::list_retry;
use crate::support::operator::{Emulators, Operator};
use crate::support::world::{
    SANDBOX, USER, condition, deactivate_token, dev_workspace, json_of, phase, put_token,
};

/// The campaign's world: the cluster namespace, the emulators, the operator, the current token.
pub struct World {
    pub client: Client,
    pub ns: String,
    pub emu: Emulators,
    pub op: Operator,
    pub rng: fastrand::Rng,
    /// The token in use (emulator id, value).
    pub token: (i64, String),
    /// Uids of the rotations of earlier runs.
    pub known: BTreeSet<String>,
    /// Decoy Secrets (name -> value of key `token`) that must never go (I8).
    pub decoys: BTreeMap<String, String>,
    /// The namespace's Secrets at the end of the last run: name -> created by the operator.
    pub secrets: BTreeMap<String, bool>,
}

impl World {
    pub async fn state(&self) -> Value {
        self.emu.get("state").await
    }

    /// Appends the calls after `since` to `calls`; returns the last sequence number.
    pub async fn fetch_calls(&self, calls: &mut Vec<Value>, since: u64) -> u64 {
        let new = self.emu.get(&format!("calls?since={since}")).await["calls"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut last = since;
        for c in new {
            last = last.max(c["seq"].as_u64().unwrap_or_default());
            calls.push(c);
        }
        last
    }

    pub async fn new_token(&self, run: usize) -> (i64, String) {
        let r = self
            .emu
            .control(
                &format!("trackvia/accounts/{SANDBOX}/tokens"),
                json!({"user": USER, "name": format!("run-{run}"), "expiresAt": "2031-01-01T00:00:00Z"}),
            )
            .await;
        (r["id"].as_i64().unwrap(), r["token"].as_str().unwrap().to_owned())
    }

    pub async fn deactivate(&self, id: i64) {
        deactivate_token(&self.emu, id).await;
    }

    pub async fn put_token(&self, token: &str) {
        put_token(&self.client, &self.ns, token).await;
    }

    pub async fn secret_value(&self, name: &str, key: &str) -> Option<String> {
        let s = Api::<Secret>::namespaced(self.client.clone(), &self.ns)
            .get_opt(name)
            .await
            .ok()??;
        String::from_utf8(s.data?.get(key)?.0.clone()).ok()
    }

    /// Every CredentialRotation as JSON; `None` when the list fails (not "none exist").
    pub async fn rotations(&self) -> Option<Vec<Value>> {
        Api::<CredentialRotation>::namespaced(self.client.clone(), &self.ns)
            .list(&Default::default())
            .await
            .ok()
            .map(|l| l.items.iter().map(json_of).collect())
    }

    /// Creates a decoy Secret; false when the name is taken already.
    pub async fn decoy(&mut self, name: &str) -> bool {
        let value = format!("someone-elses-{}", self.rng.u32(..));
        let created = Api::<Secret>::namespaced(self.client.clone(), &self.ns)
            .create(
                &PostParams::default(),
                &support::secret(name, &[("token", &value)], &[]),
            )
            .await
            .is_ok();
        if created {
            self.decoys.insert(name.to_owned(), value);
        }
        created
    }

    /// The namespace's Secrets: name -> (created by the operator, value of key `token`).
    pub async fn secrets_now(&self) -> BTreeMap<String, (bool, Option<String>)> {
        list_retry(
            &Api::<Secret>::namespaced(self.client.clone(), &self.ns),
            KUBE_RETRY,
        )
        .await
        .into_iter()
        .map(|s| {
            let owned = s
                .metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.api_version.starts_with("integrations.trackvia-operator.dev/"))
                || s.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("app.kubernetes.io/managed-by"))
                    .is_some_and(|v| v == "trackvia-operator");
            let token = s
                .data
                .as_ref()
                .and_then(|d| d.get("token"))
                .and_then(|b| String::from_utf8(b.0.clone()).ok());
            (s.metadata.name.unwrap_or_default(), (owned, token))
        })
        .collect()
    }
}

/// A rotation seen during a run.
pub struct Tracked {
    pub name: String,
    /// The latest JSON seen.
    pub last: Value,
    pub gone: bool,
    /// I2 was judged when it was first seen finished.
    pub judged: bool,
    /// Recipes it ever recorded as `StartFailed`.
    pub start_failed: BTreeSet<i64>,
    /// A summary that takes a missing Secret for a fact (I5).
    pub secret_gone: Option<String>,
    /// Inherited recipes (`inheritedFrom`) already compared with Workato.
    pub inherited_checked: BTreeSet<i64>,
}

impl Tracked {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            last: Value::Null,
            gone: false,
            judged: false,
            start_failed: BTreeSet::new(),
            secret_gone: None,
            inherited_checked: BTreeSet::new(),
        }
    }

    pub fn saw(&mut self, r: &Value) {
        self.last = r.clone();
        for x in r["status"]["recipes"].as_array().into_iter().flatten() {
            if x["state"] == "StartFailed" {
                self.start_failed.insert(x["id"].as_i64().unwrap_or_default());
            }
        }
        let summary = r["status"]["planSummary"].as_str().unwrap_or_default();
        if summary.contains("Secret is gone") && self.secret_gone.is_none() {
            self.secret_gone = Some(summary.to_owned());
        }
    }

    pub fn phase(&self) -> &str {
        phase(&self.last)
    }

    pub fn outcome(&self) -> &str {
        self.last["status"]["outcome"].as_str().unwrap_or_default()
    }
}

/// Everything a run observed, for the checks after it.
#[derive(Default)]
pub struct Seen {
    pub calls: Vec<Value>,
    pub tracked: BTreeMap<String, Tracked>,
    pub run_uid: Option<String>,
    /// The uid and name of the rotation the person deleted.
    pub deleted: Option<(String, String)>,
    /// Call sequence number and time when the person deactivated the old token.
    pub deactivated: Option<(u64, jiff::Timestamp)>,
    /// Call sequence number and time when the person approved.
    pub approved: Option<(u64, jiff::Timestamp)>,
    /// The rotation was seen awaiting approval.
    pub awaited_approval: bool,
    /// The persistent fault and the sequence number when it was removed.
    pub persistent: Option<(Endpoint, u64)>,
    /// The decoys took (placed before the rotation kept its old token).
    pub decoy_took: bool,
    /// Valid tokens the person placed, in order.
    pub placed: Vec<(i64, String)>,
}

/// TrackVia tokens of the sandbox account: value -> (id, active).
pub fn tokens(state: &Value) -> BTreeMap<String, (i64, bool)> {
    state["trackvia"]["accounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["id"] == SANDBOX)
        .flat_map(|a| a["tokens"].as_array().cloned().unwrap_or_default())
        .map(|t| {
            (
                t["value"].as_str().unwrap_or_default().to_owned(),
                (t["id"].as_i64().unwrap_or_default(), t["active"] == true),
            )
        })
        .collect()
}

/// Recipe id -> the connection id of its first `config` entry.
pub fn recipe_connections(state: &Value) -> BTreeMap<i64, i64> {
    dev_workspace(state)["recipes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| {
            let conn = r["config"]
                .as_array()?
                .iter()
                .find_map(|c| c["accountId"].as_i64())?;
            Some((r["id"].as_i64()?, conn))
        })
        .collect()
}

/// The WorkatoConnection of a Workato connection id.
pub fn wc_name(conn: i64) -> String {
    format!("conn-{}", conn - 99)
}

pub fn terminal(phase: &str) -> bool {
    matches!(phase, "Succeeded" | "Failed" | "Aborted")
}

pub fn uid_of(r: &Value) -> String {
    r["metadata"]["uid"].as_str().unwrap_or_default().to_owned()
}

pub fn name_of(r: &Value) -> String {
    r["metadata"]["name"].as_str().unwrap_or_default().to_owned()
}

/// `(id, name, state)` of a rotation's connections or recipes (`items`).
pub fn items(r: &Value, items: &str) -> Vec<(i64, String, String)> {
    r["status"][items]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| {
            (
                x["id"].as_i64().unwrap_or_default(),
                x["name"].as_str().unwrap_or_default().to_owned(),
                x["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// A recipe state the operator holds stopped (`RecipeState::is_held`).
pub fn held(state: &str) -> bool {
    matches!(state, "Stopping" | "Stopped" | "Starting" | "StartFailed")
}

/// The numeric segment `n` of a call's path (`/api/recipes/1004/start`: 3).
pub fn path_id(c: &Value, n: usize) -> i64 {
    c["path"]
        .as_str()
        .unwrap_or_default()
        .split('/')
        .nth(n)
        .and_then(|s| s.parse().ok())
        .unwrap_or_default()
}

/// Workato acted on the call: a 2xx answer without a fault, or a delayed one that went through.
pub fn acted(c: &Value) -> bool {
    c["status"].as_u64().is_some_and(|s| (200..300).contains(&s))
        && (c["fault"].is_null() || c["fault"] == "latency")
}

/// An error answer: status >= 400 or an injected fault.
pub fn is_error(c: &Value) -> bool {
    c["status"].as_u64().is_some_and(|s| s >= 400) || !c["fault"].is_null()
}

pub fn seq(c: &Value) -> u64 {
    c["seq"].as_u64().unwrap_or_default()
}

/// The IntegrationAccount has taken in how the rotations ended: none active, and its credentials
/// condition is final (published, or a failed rotation for a person to look at).
pub fn account_quiet(ia: &Value) -> bool {
    ia["status"]["rotation"]["active"].is_null()
        && condition(ia, "CredentialsPublished")
            .is_some_and(|c| matches!(c.1.as_str(), "Published" | "RotationFailed"))
}

/// Polls `f` every 250 ms until it returns `Some` (true) or `timeout` passes (false).
pub async fn wait_for<F, Fut>(timeout: Duration, f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<()>>,
{
    wait_until(Instant::now() + timeout, f).await
}

/// Polls `f` every 250 ms until it returns `Some` (true) or `deadline` passes (false); `f` runs
/// at least once.
pub async fn wait_until<F, Fut>(deadline: Instant, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<()>>,
{
    loop {
        if f().await.is_some() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
