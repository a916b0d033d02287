//! The reliability campaign (`make fault-test`; a shorter one runs in `make test`): many credential
//! rotations, each with one emulator fault on one vendor endpoint (5xx, 429 with Retry-After, a
//! timeout, a dropped connection; every endpoint the operator uses, in turn) and a SIGKILL of the
//! operator at a random moment; the API server is restarted once, mid-rotation. Invariants are
//! checked during and after every run, and a table is printed at the end.
//!
//! Knobs (environment): `FAULT_RUNS` (a number, or `all` for every endpoint x fault kind; default
//! 8), `FAULT_SEED` (repeat a campaign; the seed is printed), `FAULT_APISERVER_RESTART=0` (skip the
//! API server restart, e.g. on a cluster not started by `scripts/control-plane.sh`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)] // test code: failing loudly is the point; the campaign prints its table

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use support::chaos::{self, Supervised, get_retry, list_retry};
use support::operator::{Emulators, eventually};
use trackvia_operator::api::{
    CredentialRotation, IntegrationAccount, TrackViaAccount, WorkatoConnection, WorkatoWorkspace,
};

const SANDBOX: i64 = 21508;
const USER: &str = "salesforce.integration@acme.example";
const FIRST_TOKEN: &str = "sf-token-old-00000001";
/// The operator's timeout of one vendor request in the campaign (`--vendor-request-timeout`); a
/// timeout fault delays the answer by `TIMEOUT_FAULT_MS`, longer than that.
const CLIENT_TIMEOUT: &str = "2s";
const TIMEOUT_FAULT_MS: u64 = 3_000;
/// A run that has not finished by then is a violation (and ends the campaign).
const RUN_DEADLINE: Duration = Duration::from_secs(180);
/// How long kube reads are retried (the API server may be restarting).
const KUBE_RETRY: Duration = Duration::from_secs(90);
const DEFAULT_RUNS: usize = 8;

/// Three connections, ten recipes: 1001..1009 running (three per connection), 1010 stopped.
fn seed() -> String {
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
        - {{id: 2, value: {FIRST_TOKEN}, user: 2, name: salesforce-1, expiresAt: "2030-01-01T00:00:00Z"}}
workato:
  workspaces:
    - id: acme-dev
      environment: sandbox
      apiTokens: [wk-dev-token-0001]
      connections:
        - {{id: 100, name: TV 1, provider: trackvia}}
        - {{id: 101, name: TV 2, provider: trackvia}}
        - {{id: 102, name: TV 3, provider: trackvia}}
      recipes:
{recipes}"#
    )
}

/// Account, workspace, IntegrationAccount with the first token, three WorkatoConnections; waits
/// until every connection is Ready.
async fn setup(client: &Client, ns: &str, emu: &Emulators) {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    for s in [
        support::secret(
            "tv-admin",
            &[
                ("apiKey", "sbx-api-key-0001"),
                ("authToken", "sbx-admin-token-0001"),
            ],
            &[],
        ),
        support::secret("wk-dev", &[("token", "wk-dev-token-0001")], &[]),
        support::secret("sf-token", &[("token", FIRST_TOKEN)], &[]),
    ] {
        secrets.create(&Default::default(), &s).await.unwrap();
    }
    support::create::<TrackViaAccount>(client, ns, json!({
        "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "TrackViaAccount", "metadata": {"name": "acme"},
        "spec": {"baseUrl": emu.trackvia(), "environment": "sandbox",
                 "adminCredentials": {"apiKey": {"name": "tv-admin", "key": "apiKey"}, "authToken": {"name": "tv-admin", "key": "authToken"}}}
    })).await;
    support::create::<WorkatoWorkspace>(client, ns, json!({
        "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "WorkatoWorkspace", "metadata": {"name": "dev"},
        "spec": {"baseUrl": emu.workato(), "environment": "sandbox", "apiToken": {"name": "wk-dev", "key": "token"}}
    })).await;
    support::create::<IntegrationAccount>(client, ns, json!({
        "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "IntegrationAccount", "metadata": {"name": "sf"},
        "spec": {"accountRef": {"name": "acme"}, "system": "Salesforce", "email": USER,
                 "access": {"apps": ["CRM"], "views": [{"name": "Accounts", "app": "CRM"}]},
                 "tokenSecretRef": {"name": "sf-token", "key": "token"}, "credentialsSecret": {"name": "sf-credentials"},
                 "rotation": {"newTokenTimeout": "1h", "revocationGracePeriod": "1h"}}
    })).await;
    for (i, id) in [100, 101, 102].iter().enumerate() {
        support::create::<WorkatoConnection>(client, ns, json!({
            "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "WorkatoConnection", "metadata": {"name": format!("conn-{}", i + 1)},
            "spec": {"workspaceRef": {"name": "dev"}, "integrationAccountRef": {"name": "sf"}, "connection": {"id": id}}
        })).await;
    }
    let wcs: Api<WorkatoConnection> = Api::namespaced(client.clone(), ns);
    for i in 1..=3 {
        eventually(KUBE_RETRY, &format!("conn-{i} Ready"), || async {
            let wc = wcs.get(&format!("conn-{i}")).await.ok()?;
            ready(&wc.status.as_ref()?.common.conditions).then_some(())
        })
        .await;
    }
}

fn ready(conds: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]) -> bool {
    conds.iter().any(|c| c.type_ == "Ready" && c.status == "True")
}

/// A vendor endpoint as the emulator's call log names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Endpoint {
    service: String,
    method: String,
    template: String,
}

impl Endpoint {
    fn label(&self) -> String {
        format!("{} {} {}", self.service, self.method, self.template)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    ServerError,
    RateLimited,
    Timeout,
    Drop,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::ServerError, Kind::RateLimited, Kind::Timeout, Kind::Drop];

    fn label(self) -> &'static str {
        match self {
            Kind::ServerError => "5xx",
            Kind::RateLimited => "429+Retry-After",
            Kind::Timeout => "timeout",
            Kind::Drop => "drop",
        }
    }

    /// The fault posted to `/_emulator/faults`.
    fn spec(self, e: &Endpoint, rng: &mut fastrand::Rng) -> Value {
        let mut f = json!({"service": e.service, "method": e.method, "route": e.template, "count": 1});
        match self {
            Kind::ServerError => f["status"] = json!([500, 502, 503, 504][rng.usize(0..4)]),
            Kind::RateLimited => {
                f["status"] = json!(429);
                f["retryAfterSecs"] = json!(rng.u64(1..=2));
            }
            Kind::Timeout => f["latencyMs"] = json!(TIMEOUT_FAULT_MS),
            Kind::Drop => f["drop"] = json!(true),
        }
        f
    }

    /// The kind of a call log entry's `fault` (`status`, `latency`, `drop`).
    fn of_call(c: &Value) -> Option<Kind> {
        match c["fault"].as_str()? {
            "latency" => Some(Kind::Timeout),
            "drop" => Some(Kind::Drop),
            _ if c["status"] == 429 => Some(Kind::RateLimited),
            _ => Some(Kind::ServerError),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Strategy {
    StopAndRestart,
    Overlap,
}

impl Strategy {
    fn label(self) -> &'static str {
        match self {
            Strategy::StopAndRestart => "SAR",
            Strategy::Overlap => "Overlap",
        }
    }
}

/// What one run does.
struct Plan {
    index: usize,
    strategy: Strategy,
    fault: Option<(Endpoint, Kind)>,
    /// SIGKILL the operator this long after the rotation is triggered (if it has not finished).
    kill_after: Option<Duration>,
    /// Restart the API server this long after the rotation is triggered.
    apiserver_restart_after: Option<Duration>,
}

/// What one run saw.
#[derive(Default)]
struct Report {
    outcome: String,
    duration: Duration,
    /// The rotation's phase when the operator was killed.
    kill_phase: Option<String>,
    apiserver_away: Option<Duration>,
    /// The injected fault was consumed by a matching call.
    fired: bool,
    /// Faulted calls in the call log (a call whose client gave up, a timeout, is not logged: the
    /// emulator stops handling it when the client hangs up).
    logged: Vec<(Kind, String)>,
    violations: Vec<String>,
    /// Vendor routes called during the run.
    routes: BTreeSet<Endpoint>,
    /// Stop/start calls Workato refused as repeated ("already stopped/running").
    refused_repeats: usize,
    operator_exits: usize,
    fatal: bool,
}

impl Report {
    fn violation(&mut self, v: String) {
        if !self.violations.contains(&v) {
            self.violations.push(v);
        }
    }
}

/// The campaign's world: the cluster namespace, the emulators, the operator, the current token.
struct World {
    client: Client,
    ns: String,
    emu: Emulators,
    op: Supervised,
    http: reqwest::Client,
    rng: fastrand::Rng,
    /// The token in use (emulator id, value).
    token: (i64, String),
    /// Rotations seen so far (an Overlap run's rotation is the one not among them).
    known_rotations: BTreeSet<String>,
}

impl World {
    async fn delete(&self, path: &str) {
        let url = format!("{}/_emulator/{path}", self.emu.trackvia().trim_end_matches('/'));
        let r = self.http.delete(&url).send().await.expect("control call");
        assert!(r.status().is_success(), "DELETE {url} -> {}", r.status());
    }

    async fn state(&self) -> Value {
        self.emu.get("state").await
    }

    async fn new_token(&self, run: usize) -> (i64, String) {
        let r = self
            .emu
            .control(
                &format!("trackvia/accounts/{SANDBOX}/tokens"),
                json!({"user": USER, "name": format!("run-{run}"), "expiresAt": "2031-01-01T00:00:00Z"}),
            )
            .await;
        (r["id"].as_i64().unwrap(), r["token"].as_str().unwrap().to_owned())
    }

    async fn deactivate(&self, id: i64) {
        self.emu
            .control(
                &format!("trackvia/accounts/{SANDBOX}/tokens/{id}/deactivate"),
                json!({}),
            )
            .await;
    }

    async fn put_token(&self, token: &str) {
        let patch = json!({"data": {"token": k8s_openapi::ByteString(token.as_bytes().to_vec())}});
        let api = Api::<Secret>::namespaced(self.client.clone(), &self.ns);
        let start = Instant::now();
        while let Err(e) = api
            .patch("sf-token", &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            assert!(start.elapsed() < KUBE_RETRY, "putting the token: {e}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn secret_value(&self, name: &str, key: &str) -> Option<String> {
        let s = Api::<Secret>::namespaced(self.client.clone(), &self.ns)
            .get_opt(name)
            .await
            .ok()??;
        String::from_utf8(s.data?.get(key)?.0.clone()).ok()
    }

    async fn rotations(&self) -> Option<Vec<CredentialRotation>> {
        Api::<CredentialRotation>::namespaced(self.client.clone(), &self.ns)
            .list(&Default::default())
            .await
            .ok()
            .map(|l| l.items)
    }
}

/// TrackVia tokens of the sandbox account: value -> (id, active).
fn tokens(state: &Value) -> BTreeMap<String, (i64, bool)> {
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

fn workspace(state: &Value) -> Value {
    state["workato"]["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == "acme-dev")
        .unwrap()
        .clone()
}

/// Recipe id -> running.
fn running(state: &Value) -> BTreeMap<i64, bool> {
    workspace(state)["recipes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_i64().unwrap(), r["running"] == true))
        .collect()
}

/// Connection id -> (access_token in its input, authorization status).
fn connections(state: &Value) -> BTreeMap<i64, (String, String)> {
    workspace(state)["connections"]
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

fn phase(r: &CredentialRotation) -> String {
    r.status
        .as_ref()
        .and_then(|s| s.phase)
        .map_or_else(|| "-".into(), |p| p.to_string())
}

fn terminal(phase: &str) -> bool {
    matches!(phase, "Succeeded" | "Failed" | "Aborted")
}

/// One rotation under the plan's faults; every invariant checked.
async fn run(w: &mut World, plan: &Plan) -> Report {
    let mut rep = Report::default();
    let sar = plan.strategy == Strategy::StopAndRestart;
    w.emu.reset_calls().await;
    // Runs are independent: Workato's rate-limit buckets start full (a run makes ~40 recipe
    // calls; back to back, runs would only measure the 60/min budget).
    w.delete("rate-limits").await;
    let state0 = w.state().await;
    let before = running(&state0);
    let old = w.token.clone();
    let mut fault_id = None;
    if let Some((e, kind)) = &plan.fault {
        let spec = kind.spec(e, &mut w.rng);
        fault_id = w.emu.control("faults", spec).await["id"].as_i64();
    }

    // Trigger.
    let started = Instant::now();
    let mut new: Option<(i64, String)> = None;
    let rot_name = format!("run-{}", plan.index);
    if sar {
        support::create::<CredentialRotation>(&w.client, &w.ns, json!({
            "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "CredentialRotation", "metadata": {"name": rot_name},
            "spec": {"integrationAccountRef": {"name": "sf"}, "strategy": "StopAndRestart", "reason": "fault campaign"}
        })).await;
    } else {
        let t = w.new_token(plan.index).await;
        w.put_token(&t.1).await;
        new = Some(t);
    }

    let mut killed = false;
    let mut restart_op_at: Option<Instant> = None;
    let mut restart: Option<tokio::task::JoinHandle<Result<Duration, String>>> = None;
    let mut old_deactivated = false;
    let mut rotation: Option<CredentialRotation> = None;
    let mut last_phase = String::from("-");
    loop {
        let elapsed = started.elapsed();
        if elapsed > RUN_DEADLINE {
            rep.violation(format!(
                "the rotation did not finish within {RUN_DEADLINE:?} (last phase {last_phase})"
            ));
            rep.fatal = true;
            break;
        }
        if let Some(at) = plan.apiserver_restart_after
            && restart.is_none()
            && rep.apiserver_away.is_none()
            && elapsed >= at
        {
            println!(
                "    restarting the API server at {:.1} s (phase {last_phase})",
                elapsed.as_secs_f64()
            );
            restart = Some(tokio::task::spawn_blocking(chaos::restart_apiserver));
        }
        if let Some(h) = &restart
            && h.is_finished()
        {
            let away = restart
                .take()
                .unwrap()
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("{e}"));
            rep.apiserver_away = Some(away);
        }
        if let Some(at) = plan.kill_after
            && !killed
            && elapsed >= at
        {
            w.op.kill();
            killed = true;
            rep.kill_phase = Some(last_phase.clone());
            // A pod comes back after a moment.
            restart_op_at = Some(Instant::now() + Duration::from_millis(w.rng.u64(0..=1000)));
        }
        if let Some(at) = restart_op_at
            && Instant::now() >= at
        {
            w.op.restart();
            restart_op_at = None;
        }
        if restart_op_at.is_none()
            && let Some(status) = w.op.exited()
        {
            rep.operator_exits += 1;
            rep.violation(format!(
                "the operator exited by itself ({status}); log tail:\n{}",
                w.op.log_tail(20)
            ));
            w.op.restart();
        }

        // The rotation of this run.
        if let Some(rots) = w.rotations().await {
            rotation = rots
                .into_iter()
                .find(|r| {
                    let n = r.metadata.name.clone().unwrap_or_default();
                    if sar {
                        n == rot_name
                    } else {
                        !w.known_rotations.contains(&n)
                    }
                })
                .or(rotation);
        }
        if let Some(r) = &rotation {
            last_phase = phase(r);
        }

        // The person's steps.
        if sar && new.is_none() && last_phase == "WaitingForToken" {
            // Regenerate in place: the old token dies, the new one goes into the Secret.
            w.deactivate(old.0).await;
            old_deactivated = true;
            let t = w.new_token(plan.index).await;
            w.put_token(&t.1).await;
            new = Some(t);
        }
        if !sar && !old_deactivated && last_phase == "AwaitingRevocation" {
            w.deactivate(old.0).await;
            old_deactivated = true;
        }

        // The credentials Secret always holds a token that works; the only exception is the
        // person's own regeneration in a StopAndRestart run (the old token dies while the
        // recipes are stopped, until the new one is published).
        if let Some(published) = w.secret_value("sf-credentials", "authToken").await {
            let toks = tokens(&w.state().await);
            let active = toks.get(&published).is_some_and(|t| t.1);
            let regenerated = sar && old_deactivated && published == old.1;
            let expected = published == old.1 || new.as_ref().is_some_and(|n| n.1 == published);
            if !expected {
                rep.violation(format!(
                    "the credentials Secret holds a token that is neither the old nor the new one (phase {last_phase})"
                ));
            } else if !active && !regenerated {
                rep.violation(format!(
                    "the credentials Secret holds a token TrackVia rejects (phase {last_phase})"
                ));
            }
        }

        if terminal(&last_phase) && restart.is_none() && restart_op_at.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    rep.duration = started.elapsed();
    rep.outcome = rotation
        .as_ref()
        .and_then(|r| r.status.as_ref()?.outcome)
        .map_or_else(|| last_phase.clone(), |o| o.to_string());
    if !killed {
        rep.kill_phase = plan.kill_after.map(|_| "(finished first)".to_owned());
    }
    if rep.fatal {
        return rep;
    }
    let rot = rotation.expect("the run's rotation");
    let rot_name = rot.metadata.name.clone().unwrap();
    w.known_rotations.insert(rot_name.clone());
    let st = rot.status.clone().unwrap_or_default();
    let succeeded = last_phase == "Succeeded";
    if !succeeded {
        // Not an invariant by itself, but it must say why.
        if st.plan_summary.as_deref().unwrap_or_default().is_empty() || st.outcome.is_none() {
            rep.violation(format!(
                "rotation ended {last_phase} without an outcome and a reason"
            ));
        }
    }

    // The faults that fired, and every call of the run.
    let calls = w.emu.calls().await;
    for c in &calls {
        let (method, template) = c["route"]
            .as_str()
            .unwrap_or_default()
            .split_once(' ')
            .unwrap_or_default();
        rep.routes.insert(Endpoint {
            service: c["service"].as_str().unwrap_or_default().to_owned(),
            method: method.to_owned(),
            template: template.to_owned(),
        });
        if let Some(k) = Kind::of_call(c) {
            rep.logged
                .push((k, c["route"].as_str().unwrap_or_default().to_owned()));
        }
    }
    let pending = w.emu.get("faults").await;
    let pending = pending["faults"]
        .as_array()
        .or(pending.as_array())
        .cloned()
        .unwrap_or_default();
    rep.fired = fault_id.is_some_and(|id| !pending.iter().any(|f| f["id"] == id));
    if !pending.is_empty() {
        w.delete("faults").await;
    }

    // No recipe stopped or started twice. A call counts when Workato acted on it: 200 and no
    // fault, or a delayed (timeout) call that went through after the operator gave up on it.
    let mut stops: BTreeMap<i64, usize> = BTreeMap::new();
    let mut starts: BTreeMap<i64, usize> = BTreeMap::new();
    for c in &calls {
        let route = c["route"].as_str().unwrap_or_default();
        let verb = match route {
            "PUT /api/recipes/{id}/stop" => &mut stops,
            "PUT /api/recipes/{id}/start" => &mut starts,
            _ => continue,
        };
        let id: i64 = c["path"]
            .as_str()
            .unwrap_or_default()
            .split('/')
            .nth(3)
            .and_then(|s| s.parse().ok())
            .unwrap_or_default();
        let acted = c["status"] == 200 && (c["fault"].is_null() || c["fault"] == "latency");
        if acted {
            *verb.entry(id).or_default() += 1;
        } else if c["status"] == 400 {
            rep.refused_repeats += 1;
        }
    }
    for (id, n) in stops.iter().filter(|(_, n)| **n > 1) {
        rep.violation(format!("recipe {id} stopped {n} times"));
    }
    for (id, n) in starts.iter().filter(|(_, n)| **n > 1) {
        rep.violation(format!("recipe {id} started {n} times"));
    }

    // Recipes: none left stopped that was running before, unless status says why; none started
    // that was not running.
    let state = w.state().await;
    let after = running(&state);
    let reported = |id: i64| {
        st.recipes.iter().any(|r| {
            r.id == id
                && ((r.state.as_str() == "StartFailed" && r.error.is_some())
                    || (!succeeded
                        && r.state.as_str() == "Stopped"
                        && st
                            .plan_summary
                            .as_deref()
                            .unwrap_or_default()
                            .contains(&id.to_string())))
        })
    };
    for (id, was) in &before {
        let now = after.get(id).copied().unwrap_or(false);
        if *was && !now && !reported(*id) {
            rep.violation(format!("recipe {id} was running and is left stopped, unreported"));
        }
        if !*was && now {
            rep.violation(format!("recipe {id} was stopped and is now running"));
        }
    }
    if sar && succeeded {
        let expected: BTreeSet<i64> = before.iter().filter(|(_, r)| **r).map(|(id, _)| *id).collect();
        let stopped: BTreeSet<i64> = stops.keys().copied().collect();
        let listed: BTreeSet<i64> = st.recipes.iter().map(|r| r.id).collect();
        if stopped != expected || listed != expected {
            rep.violation(format!(
                "StopAndRestart stopped {stopped:?} and listed {listed:?}, the running dependents were {expected:?}"
            ));
        }
    }
    if !sar && (!stops.is_empty() || !starts.is_empty()) {
        rep.violation(format!("Overlap stopped {stops:?} / started {starts:?}"));
    }

    // Status consistent with the emulator.
    let conns = connections(&state);
    let toks = tokens(&state);
    for r in &st.recipes {
        let now = after.get(&r.id).copied().unwrap_or(false);
        let consistent = match r.state.as_str() {
            "Started" => now,
            "Stopped" | "StartFailed" => !now,
            _ => false,
        };
        if !consistent {
            rep.violation(format!(
                "status says recipe {} is {} but Workato says running={now}",
                r.id, r.state
            ));
        }
    }
    let published = get_retry(
        &Api::<Secret>::namespaced(w.client.clone(), &w.ns),
        "sf-credentials",
        KUBE_RETRY,
    )
    .await
    .and_then(|s| String::from_utf8(s.data?.get("authToken")?.0.clone()).ok())
    .unwrap_or_default();
    if !toks.get(&published).is_some_and(|t| t.1) {
        rep.violation("at the end the credentials Secret holds a token TrackVia rejects".into());
    }
    if succeeded {
        let new = new.clone().expect("a new token");
        if published != new.1 {
            rep.violation("succeeded but the new token is not published".into());
        }
        for c in &st.connections {
            let id = c.id.unwrap_or_default();
            let (token, auth) = conns.get(&id).cloned().unwrap_or_default();
            if c.state.as_str() != "Verified" || token != new.1 || auth != "success" {
                rep.violation(format!(
                    "status says connection {id} is {} but Workato has {} ({auth})",
                    c.state,
                    if token == new.1 {
                        "the new token"
                    } else {
                        "another token"
                    }
                ));
            }
        }
        if !sar && st.old_token_revoked_time.is_none() {
            rep.violation("Overlap succeeded without confirming the revocation".into());
        }
        w.token = new;
    } else {
        // Nothing rotated: the old token must still be in place everywhere, or status says why.
        let on_old = conns.values().all(|(t, _)| *t == old.1);
        if !on_old && published != old.1 {
            rep.violation(format!("rotation {last_phase}: connections and Secret disagree"));
        }
        rep.fatal = !toks.get(&published).is_some_and(|t| t.1);
    }
    // The IntegrationAccount settles on what was published.
    let ias: Api<IntegrationAccount> = Api::namespaced(w.client.clone(), &w.ns);
    let settled = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Some(ia) = get_retry(&ias, "sf", KUBE_RETRY).await
                && let Some(s) = ia.status
                && ready(&s.common.conditions)
                && s.rotation.as_ref().is_some_and(|r| r.active.is_none())
                && s.credentials_secret
                    .as_ref()
                    .and_then(|c| c.token_fingerprint.clone())
                    == s.token.as_ref().and_then(|t| t.fingerprint.clone())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await;
    if settled.is_err() {
        rep.violation(
            "the IntegrationAccount did not settle (Ready, published = current token) within 60 s".into(),
        );
    }
    // One rotation per run: a second one (the operator rotating again for a token it already
    // published) would wait for a token that never comes and queue every later rotation.
    if let Some(rots) = w.rotations().await {
        let extras: Vec<String> = rots
            .iter()
            .filter_map(|r| r.metadata.name.clone())
            .filter(|n| !w.known_rotations.contains(n))
            .collect();
        for extra in extras {
            rep.violation(format!("a second rotation was started: {extra}"));
            w.known_rotations.insert(extra);
        }
    }
    // Tokens the person deactivated are deleted (TrackVia keeps at most 100).
    for (value, (id, active)) in &toks {
        if !active && *value != w.token.1 && *id != 1 {
            w.delete(&format!("trackvia/accounts/{SANDBOX}/tokens/{id}"))
                .await;
        }
    }
    rep
}

fn runs_from_env(matrix: usize) -> usize {
    match std::env::var("FAULT_RUNS").ok().as_deref().map(str::trim) {
        Some("all") => matrix,
        Some(n) => n.parse().unwrap_or(DEFAULT_RUNS),
        None => DEFAULT_RUNS,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test` or `make fault-test`"]
async fn rotations_survive_kills_an_api_server_restart_and_vendor_faults() {
    let campaign_start = Instant::now();
    let fault_seed = chaos::seed_from_env();
    println!("fault campaign: FAULT_SEED={fault_seed}");
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::namespace(&client, "faults").await;
    let emu = Emulators::start(&seed()).await;
    let op = Supervised::start(
        &ns,
        &format!("{ns}-operator"),
        &["--vendor-request-timeout", CLIENT_TIMEOUT],
    );
    setup(&client, &ns, &emu).await;
    let mut w = World {
        client: client.clone(),
        ns: ns.clone(),
        emu,
        op,
        http: reqwest::Client::new(),
        rng: fastrand::Rng::with_seed(fault_seed),
        token: (2, FIRST_TOKEN.to_owned()),
        known_rotations: BTreeSet::new(),
    };
    w.known_rotations = list_retry(
        &Api::<CredentialRotation>::namespaced(client.clone(), &ns),
        KUBE_RETRY,
    )
    .await
    .into_iter()
    .filter_map(|r| r.metadata.name)
    .collect();

    // Baseline: one clean rotation of each strategy, for the endpoints the operator uses and the
    // duration the kill moments are drawn from.
    let mut reports: Vec<(Plan, Report)> = Vec::new();
    let mut clean = BTreeMap::new();
    let mut used: BTreeMap<Endpoint, BTreeSet<&'static str>> = BTreeMap::new();
    for (i, strategy) in [Strategy::StopAndRestart, Strategy::Overlap]
        .into_iter()
        .enumerate()
    {
        let plan = Plan {
            index: i,
            strategy,
            fault: None,
            kill_after: None,
            apiserver_restart_after: None,
        };
        let rep = run(&mut w, &plan).await;
        println!(
            "  baseline {:<7} {:>5.1} s  {}  violations {}",
            strategy.label(),
            rep.duration.as_secs_f64(),
            rep.outcome,
            rep.violations.len()
        );
        for v in &rep.violations {
            println!("      VIOLATION {v}");
        }
        assert!(!rep.fatal, "the baseline {} run failed", strategy.label());
        clean.insert(strategy.label(), rep.duration);
        for e in &rep.routes {
            used.entry(e.clone()).or_default().insert(strategy.label());
        }
        reports.push((plan, rep));
    }
    let endpoints: Vec<Endpoint> = used.keys().cloned().collect();
    println!(
        "  endpoints the operator used in the clean rotations ({}):",
        endpoints.len()
    );
    for e in &endpoints {
        println!("    {:<55} {:?}", e.label(), used[e]);
    }

    // Every endpoint in turn; round r gives endpoint e the kind (e + r) mod 4, so a short
    // campaign still covers every endpoint and every kind, and `all` covers every pair.
    let matrix: Vec<(Endpoint, Kind)> = (0..Kind::ALL.len())
        .flat_map(|r| {
            endpoints
                .iter()
                .enumerate()
                .map(move |(i, e)| (e.clone(), Kind::ALL[(i + r) % Kind::ALL.len()]))
        })
        .collect();
    let runs = runs_from_env(matrix.len());
    let restart_enabled = std::env::var("FAULT_APISERVER_RESTART").map_or(true, |v| v != "0");
    let restart_run = restart_enabled.then(|| w.rng.usize(0..runs.max(1)));
    println!(
        "  {runs} runs (FAULT_RUNS; matrix of {} endpoint x fault pairs), API server restart in run {}",
        matrix.len(),
        restart_run.map_or("-".into(), |r| (r + 2).to_string())
    );

    for i in 0..runs {
        let (endpoint, kind) = matrix[i % matrix.len()].clone();
        let strategy = match used[&endpoint].len() {
            2 => {
                if w.rng.bool() {
                    Strategy::StopAndRestart
                } else {
                    Strategy::Overlap
                }
            }
            _ if used[&endpoint].contains("SAR") => Strategy::StopAndRestart,
            _ => Strategy::Overlap,
        };
        let span = clean[strategy.label()].as_secs_f64();
        let plan = Plan {
            index: i + 2,
            strategy,
            fault: Some((endpoint, kind)),
            kill_after: Some(Duration::from_secs_f64(w.rng.f64() * span)),
            apiserver_restart_after: (restart_run == Some(i))
                .then(|| Duration::from_secs_f64(w.rng.f64() * span * 0.6)),
        };
        let rep = run(&mut w, &plan).await;
        let (e, k) = plan.fault.as_ref().unwrap();
        println!(
            "  run {:>3} {:<7} {:<16} {:<46} fired {:<5}  kill@{:<5} ({:<18}) {}{:>6.1} s  {:<12} violations {}",
            plan.index,
            strategy.label(),
            k.label(),
            e.label(),
            rep.fired,
            plan.kill_after
                .map_or("-".into(), |d| format!("{:.1}s", d.as_secs_f64())),
            rep.kill_phase.clone().unwrap_or_default(),
            rep.apiserver_away.map_or(String::new(), |d| format!(
                "API server restarted ({:.1} s away) ",
                d.as_secs_f64()
            )),
            rep.duration.as_secs_f64(),
            rep.outcome,
            rep.violations.len()
        );
        for v in &rep.violations {
            println!("      VIOLATION {v}");
        }
        let fatal = rep.fatal;
        reports.push((plan, rep));
        if fatal {
            println!("  the campaign stops: run {} left nothing to rotate from", i + 2);
            break;
        }
    }

    let table = table(&reports, fault_seed, campaign_start.elapsed(), &w);
    println!("{table}");
    let out = support::repo_root().join("target/fault-campaign.txt");
    let _ = std::fs::write(&out, &table);
    let violations: usize = reports.iter().map(|(_, r)| r.violations.len()).sum();
    assert_eq!(
        violations,
        0,
        "invariant violations (see the table above and {})",
        w.op.log.display()
    );
    assert!(
        reports.iter().all(|(_, r)| !r.fatal),
        "the campaign did not finish"
    );
}

fn table(reports: &[(Plan, Report)], seed: u64, took: Duration, w: &World) -> String {
    let mut injected: BTreeMap<&str, usize> = BTreeMap::new();
    let mut fired: BTreeMap<&str, usize> = BTreeMap::new();
    let mut logged: BTreeMap<&str, usize> = BTreeMap::new();
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut kill_phases: BTreeMap<String, usize> = BTreeMap::new();
    let mut endpoints_hit: BTreeSet<String> = BTreeSet::new();
    let mut not_fired: Vec<String> = Vec::new();
    for (p, r) in reports {
        if let Some((e, k)) = &p.fault {
            *injected.entry(k.label()).or_default() += 1;
            if r.fired {
                *fired.entry(k.label()).or_default() += 1;
                endpoints_hit.insert(e.label());
            } else {
                not_fired.push(format!("{} on {}", k.label(), e.label()));
            }
        }
        for (k, _) in &r.logged {
            *logged.entry(k.label()).or_default() += 1;
        }
        *outcomes
            .entry(format!("{} {}", p.strategy.label(), r.outcome))
            .or_default() += 1;
        if let Some(ph) = &r.kill_phase {
            *kill_phases.entry(ph.clone()).or_default() += 1;
        }
    }
    let runs = reports.len();
    let kills = reports
        .iter()
        .filter(|(_, r)| r.kill_phase.as_deref().is_some_and(|p| p != "(finished first)"))
        .count();
    let restarts: Vec<String> = reports
        .iter()
        .filter_map(|(p, r)| {
            r.apiserver_away
                .map(|d| format!("run {} ({:.1} s away)", p.index, d.as_secs_f64()))
        })
        .collect();
    let violations: usize = reports.iter().map(|(_, r)| r.violations.len()).sum();
    let exits: usize = reports.iter().map(|(_, r)| r.operator_exits).sum();
    let repeats: usize = reports.iter().map(|(_, r)| r.refused_repeats).sum();
    let durations: Vec<f64> = reports.iter().map(|(_, r)| r.duration.as_secs_f64()).collect();
    let mean = durations.iter().sum::<f64>() / durations.len().max(1) as f64;
    let max = durations.iter().copied().fold(0.0, f64::max);
    let fmt = |m: &BTreeMap<&str, usize>| {
        Kind::ALL
            .iter()
            .map(|k| format!("{} {}", k.label(), m.get(k.label()).copied().unwrap_or(0)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut t = String::new();
    let _ = writeln!(t, "\n== fault campaign (FAULT_SEED={seed}) ==");
    let _ = writeln!(t, "| | |");
    let _ = writeln!(t, "|---|---|");
    let _ = writeln!(
        t,
        "| runs (rotations) | {runs} (2 clean baselines + {} with a fault) |",
        runs.saturating_sub(2)
    );
    let _ = writeln!(
        t,
        "| outcomes | {} |",
        outcomes
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        t,
        "| operator SIGKILLs (mid-rotation) | {kills} (process starts {}, SIGKILLs sent {}) |",
        w.op.starts, w.op.kills
    );
    let _ = writeln!(
        t,
        "| kills by phase | {} |",
        kill_phases
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        t,
        "| API server restarts | {} {} |",
        restarts.len(),
        restarts.join(", ")
    );
    let _ = writeln!(
        t,
        "| faults injected | {} (total {}) |",
        fmt(&injected),
        injected.values().sum::<usize>()
    );
    let _ = writeln!(
        t,
        "| faults fired (consumed by an operator call) | {} (total {}) |",
        fmt(&fired),
        fired.values().sum::<usize>()
    );
    let _ = writeln!(
        t,
        "| faulted answers in the call log | {} (a timed-out call is not logged) |",
        fmt(&logged)
    );
    let _ = writeln!(t, "| endpoints a fault fired on | {} |", endpoints_hit.len());
    let _ = writeln!(
        t,
        "| injected faults that never fired | {} |",
        if not_fired.is_empty() {
            "none".into()
        } else {
            not_fired.join("; ")
        }
    );
    let _ = writeln!(t, "| repeated stop/start calls Workato refused | {repeats} |");
    let _ = writeln!(t, "| operator exits by itself | {exits} |");
    let _ = writeln!(t, "| run duration | mean {mean:.1} s, max {max:.1} s |");
    let _ = writeln!(t, "| **invariant violations** | **{violations}** (target 0) |");
    let _ = writeln!(t, "| campaign wall time | {:.0} s |", took.as_secs_f64());
    t
}
