//! The reliability campaign (`make fault-test`; a shorter one runs in `make test`): many credential
//! rotations, each with one emulator fault on one vendor endpoint (5xx, 429 with Retry-After, a
//! timeout, a dropped connection; every endpoint the operator uses, in turn), a SIGKILL of the
//! operator at a random moment and one drawn event of the rotation's unhappy paths (the token
//! replaced mid-rotation, Workato's test failing on one connection, a recipe Workato refuses to
//! start, the rotation deleted mid-way, a scheduled StopAndRestart approved late, one endpoint
//! failing for 30 s, or none); the API server is restarted once, mid-rotation. The invariants
//! I1..I10 (docs/reliability.md) and the campaign's own (no recipe stopped or started twice, one
//! rotation per run, no crash, the IntegrationAccount settles) are checked during and after every
//! run, each counted on its own, and a table is printed at the end.
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
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::chaos::{self, Supervised, get_retry, list_retry, metric_sum};
use support::operator::{Emulators, eventually};
use support::world::{
    OLD as FIRST_TOKEN, SANDBOX, USER, condition, events, get_json, json_of, person_starts_recipe, phase,
    seed,
};
use trackvia_operator::api::{
    CredentialRotation, IntegrationAccount, TrackViaAccount, WorkatoConnection, WorkatoWorkspace,
};
use trackvia_operator::domain::rotation::{APPROVED_ANNOTATION, TRIGGER_LABEL};

/// The operator's timeout of one vendor request in the campaign (`--vendor-request-timeout`); a
/// timeout fault delays the answer by `TIMEOUT_FAULT_MS`, longer than that.
const CLIENT_TIMEOUT: &str = "2s";
const TIMEOUT_FAULT_MS: u64 = 3_000;
/// A run that has not finished by then is a violation (and ends the campaign).
const RUN_DEADLINE: Duration = Duration::from_secs(240);
/// How long kube reads are retried (the API server may be restarting).
const KUBE_RETRY: Duration = Duration::from_secs(90);
const DEFAULT_RUNS: usize = 8;
/// How long the `persistent` event's fault stays (then it is removed).
const PERSISTENT_WINDOW: Duration = Duration::from_secs(30);
/// How long a condition, an event or a metric may take to show what the campaign checks (the
/// operator's periodic checks run every 5 s in the campaign).
const SHOW_WITHIN: Duration = Duration::from_secs(60);
/// I10, every run: error answers (status >= 400, or an injected fault) on one concrete path. What a
/// run brings on one path is at most the one-shot fault, the event's fault and one legitimate
/// refusal (a token TrackVia rejects: the mistyped one, the deactivated old one), and the client
/// makes up to 4 attempts of a failing idempotent call; a SIGKILL mid-attempts can make a fresh
/// process repeat one such sequence. 2 x 4 = 8; a loop at reconcile speed makes dozens.
const I10_RUN_BOUND: usize = 8;
/// I10, the `persistent` event: error answers on one concrete path of the faulted endpoint within
/// its 30 s window, per controller that calls it. The rotation backs off 5 s, 10 s, 20 s
/// (status.backoff), so it makes at most 3 attempts in 30 s (at t, t + 5 s and t + 15 s; the next
/// at t + 35 s), each at most 4 HTTP attempts: 12. A SIGKILL during an attempt, before its backoff
/// is recorded, makes the next process repeat it once (4), and so can a status write the API
/// server refused while restarting (4): 20. A loop at reconcile speed makes hundreds.
const I10_WINDOW_BOUND: usize = 20;

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

/// Workato's answer to an update of connection `id` whose test fails (as in
/// `tests/unhappy_paths.rs`): the update is not applied, the answer says the test failed.
fn failed_test(id: i64) -> Value {
    json!({
        "service": "workato", "method": "PUT", "route": format!("/api/connections/{id}"), "status": 200, "count": 1,
        "body": {"id": id, "name": format!("TV {}", id - 99), "provider": "trackvia", "authorization_status": "failed",
                 "authorization_error": "401 Unauthorized: Invalid access token"}
    })
}

/// Workato refuses to start recipe `id` (`success: false` with a config error, as in
/// `tests/unhappy_paths.rs`): the recipe stays stopped.
fn start_refused(id: i64) -> Value {
    json!({
        "service": "workato", "method": "PUT", "route": format!("/api/recipes/{id}/start"), "status": 200, "count": 1,
        "body": {"success": false, "code_errors": [], "config_errors": [[1, [["TrackVia", 100, "Connection failed"]]]]}
    })
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

    /// Whether a logged call went to this endpoint (any concrete path of the template).
    fn matches(&self, c: &Value) -> bool {
        c["service"] == self.service.as_str()
            && c["route"].as_str() == Some(format!("{} {}", self.method, self.template).as_str())
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

/// The unhappy path a run plays besides its vendor fault and SIGKILL (one per run, drawn in
/// rounds so that every round of seven runs has each once).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    None,
    /// Overlap: the person places a second new token while the connections switch. StopAndRestart:
    /// the person first places a token TrackVia rejects (a typo), then a good one.
    TokenReplaced,
    /// Workato's test fails on one connection update.
    FailedTest,
    /// Workato answers a recipe start `{"success": false, ...}` (StopAndRestart).
    StartRefused,
    /// The person deletes the rotation mid-way.
    Deleted,
    /// A StopAndRestart labelled `trigger: scheduled`, approved by the person after a delay.
    Scheduled,
    /// The run's endpoint answers 5xx for 30 s, then the fault is removed (I10).
    Persistent,
}

impl Event {
    const DRAWN: [Event; 7] = [
        Event::None,
        Event::TokenReplaced,
        Event::FailedTest,
        Event::StartRefused,
        Event::Deleted,
        Event::Scheduled,
        Event::Persistent,
    ];

    fn label(self) -> &'static str {
        match self {
            Event::None => "none",
            Event::TokenReplaced => "token-replaced",
            Event::FailedTest => "failed-test",
            Event::StartRefused => "start-refused",
            Event::Deleted => "deleted",
            Event::Scheduled => "scheduled",
            Event::Persistent => "persistent-5xx",
        }
    }

    /// Events that need recipe stops and starts.
    fn sar_only(self) -> bool {
        matches!(self, Event::StartRefused | Event::Scheduled)
    }
}

/// The invariants, counted one by one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Inv {
    I1,
    I2,
    I3,
    I4,
    I5,
    I6,
    I7,
    I8,
    I9,
    I10,
    Once,
    Scope,
    OneRotation,
    NoCrash,
    Settles,
    Finishes,
}

impl Inv {
    const ALL: [Inv; 16] = [
        Inv::I1,
        Inv::I2,
        Inv::I3,
        Inv::I4,
        Inv::I5,
        Inv::I6,
        Inv::I7,
        Inv::I8,
        Inv::I9,
        Inv::I10,
        Inv::Once,
        Inv::Scope,
        Inv::OneRotation,
        Inv::NoCrash,
        Inv::Settles,
        Inv::Finishes,
    ];

    fn short(self) -> &'static str {
        match self {
            Inv::I1 => "I1",
            Inv::I2 => "I2",
            Inv::I3 => "I3",
            Inv::I4 => "I4",
            Inv::I5 => "I5",
            Inv::I6 => "I6",
            Inv::I7 => "I7",
            Inv::I8 => "I8",
            Inv::I9 => "I9",
            Inv::I10 => "I10",
            Inv::Once => "once",
            Inv::Scope => "scope",
            Inv::OneRotation => "one-rotation",
            Inv::NoCrash => "no-crash",
            Inv::Settles => "settles",
            Inv::Finishes => "finishes",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Inv::I1 => {
                "I1 never silent: a recipe the operator stopped runs, or is named (rotation, WorkatoConnection, Warning event, metric, Ready not True) until a person starts it"
            }
            Inv::I2 => {
                "I2 truthful outcome (Succeeded / RolledBack / the connections a failure leaves are named), status consistent with Workato"
            }
            Inv::I3 => {
                "I3 one token: every connection on the published token; no WorkatoConnection left RotationPending"
            }
            Inv::I4 => {
                "I4 deletion is safe: a deleted rotation goes once what it stopped runs (or is handed over)"
            }
            Inv::I5 => {
                "I5 errors are not facts (no outcome from a failed read); the published token always works"
            }
            Inv::I6 => "I6 no unattended outage: no recipe stop before the approval",
            Inv::I7 => "I7 environment guard: every connection update goes to the sandbox workspace",
            Inv::I8 => "I8 nothing foreign deleted (decoys at the old-token names, the campaign's Secrets)",
            Inv::I9 => {
                "I9 staged or nothing: no update of a connection whose recipes run, unless Overlap with both tokens valid"
            }
            Inv::I10 => "I10 bounded vendor retries (error answers per path per run)",
            Inv::Once => "no recipe stopped or started twice",
            Inv::Scope => "StopAndRestart stopped exactly the running dependents, Overlap none",
            Inv::OneRotation => {
                "one rotation per run (plus the account's follow-up for the token left after a failure)"
            }
            Inv::NoCrash => "no crash (operator exits by itself)",
            Inv::Settles => "the IntegrationAccount settles (Ready, published = current token)",
            Inv::Finishes => "every run finishes within the deadline",
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
    event: Event,
    /// `FailedTest`: the connection whose update fails Workato's test.
    failed_conn: i64,
    /// `StartRefused`: the recipe Workato refuses to start.
    refused_recipe: i64,
    /// `Deleted`: this long after the trigger.
    delete_after: Duration,
    /// `Scheduled`: this long after the rotation is seen awaiting approval.
    approve_after: Duration,
    /// `TokenReplaced`, Overlap: once this many connections are verified.
    replace_at_verified: usize,
    /// `Persistent`: the status.
    persistent_status: u16,
    /// Overlap: decoy Secrets (not the operator's) at the names of the rotation's old-token Secret.
    decoy: bool,
}

impl Plan {
    fn clean(index: usize, strategy: Strategy) -> Self {
        Self {
            index,
            strategy,
            fault: None,
            kill_after: None,
            apiserver_restart_after: None,
            event: Event::None,
            failed_conn: 0,
            refused_recipe: 0,
            delete_after: Duration::ZERO,
            approve_after: Duration::ZERO,
            replace_at_verified: 0,
            persistent_status: 0,
            decoy: false,
        }
    }

    /// The drawn event with its details, for the run's line and a replay.
    fn event_label(&self) -> String {
        let mut s = match self.event {
            Event::None => "-".to_owned(),
            Event::TokenReplaced if self.strategy == Strategy::StopAndRestart => {
                "token-replaced (a token TrackVia rejects, then a good one)".to_owned()
            }
            Event::TokenReplaced => format!(
                "token-replaced (a second token once {} connections are verified)",
                self.replace_at_verified
            ),
            Event::FailedTest => format!("failed-test (connection {})", self.failed_conn),
            Event::StartRefused => format!("start-refused (recipe {})", self.refused_recipe),
            Event::Deleted => format!(
                "deleted {:.1} s after the trigger",
                self.delete_after.as_secs_f64()
            ),
            Event::Scheduled => format!(
                "scheduled (approved {:.1} s after AwaitingApproval)",
                self.approve_after.as_secs_f64()
            ),
            Event::Persistent => format!(
                "persistent {} on the fault's endpoint for {} s",
                self.persistent_status,
                PERSISTENT_WINDOW.as_secs()
            ),
        };
        if self.decoy {
            s.push_str(" + decoys at the old-token names");
        }
        s
    }
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
    /// Faulted calls of the one-shot fault in the call log (a call whose client gave up, a
    /// timeout, is not logged: the emulator stops handling it when the client hangs up).
    logged: Vec<(Kind, String)>,
    violations: Vec<(Inv, String)>,
    /// Vendor routes called during the run.
    routes: BTreeSet<Endpoint>,
    /// Stop/start calls Workato refused as repeated ("already stopped/running").
    refused_repeats: usize,
    operator_exits: usize,
    fatal: bool,
    /// The drawn event took effect (its fault fired, the token was replaced, the rotation was
    /// deleted, the approval given, the fault stayed its window).
    event_took: bool,
    /// What the event did, in words.
    happened: Vec<String>,
    /// Rotations the account started after the run's rotation did not succeed: name, outcome.
    followups: Vec<(String, String)>,
    /// I10: the most error answers on one concrete path in the run.
    worst_errors: (usize, String),
    /// I10: the most error answers on one path of the persistent fault, within its window.
    window_errors: Option<(usize, String)>,
    /// Recipes left stopped (by design) that the person started after the checks.
    person_started: Vec<i64>,
    /// Decoy Secrets placed before the rotation kept its old token.
    decoys: usize,
    /// The run's rotation status, printed with a violation.
    status_json: String,
}

impl Report {
    fn violation(&mut self, inv: Inv, v: String) {
        if !self.violations.iter().any(|(i, x)| *i == inv && *x == v) {
            self.violations.push((inv, v));
        }
    }
}

/// A rotation seen during a run.
struct Tracked {
    name: String,
    /// The latest JSON seen.
    last: Value,
    gone: bool,
    /// I2 was judged when it was first seen finished.
    judged: bool,
    /// Recipes it ever recorded as `StartFailed`.
    start_failed: BTreeSet<i64>,
    /// A summary that takes a missing Secret for a fact (I5).
    secret_gone: Option<String>,
    /// Inherited recipes (`inheritedFrom`) already compared with Workato.
    inherited_checked: BTreeSet<i64>,
}

impl Tracked {
    fn saw(&mut self, r: &Value) {
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

    fn phase(&self) -> &str {
        phase(&self.last)
    }

    fn outcome(&self) -> &str {
        self.last["status"]["outcome"].as_str().unwrap_or_default()
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
    /// Uids of the rotations of earlier runs.
    known: BTreeSet<String>,
    /// Decoy Secrets (name -> value of key `token`) that must never go (I8).
    decoys: BTreeMap<String, String>,
    /// The namespace's Secrets at the end of the last run: name -> created by the operator.
    secrets: BTreeMap<String, bool>,
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

    /// Appends the calls after `since` to `calls`; returns the last sequence number.
    async fn fetch_calls(&self, calls: &mut Vec<Value>, since: u64) -> u64 {
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

    /// Every CredentialRotation as JSON; `None` when the list fails (not "none exist").
    async fn rotations(&self) -> Option<Vec<Value>> {
        Api::<CredentialRotation>::namespaced(self.client.clone(), &self.ns)
            .list(&Default::default())
            .await
            .ok()
            .map(|l| l.items.iter().map(json_of).collect())
    }

    /// Creates a decoy Secret; false when the name is taken already.
    async fn decoy(&mut self, name: &str) -> bool {
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
    async fn secrets_now(&self) -> BTreeMap<String, (bool, Option<String>)> {
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
    support::world::dev_workspace(state)
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

/// Recipe id -> the connection id of its first `config` entry.
fn recipe_connections(state: &Value) -> BTreeMap<i64, i64> {
    workspace(state)["recipes"]
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

/// The WorkatoConnection of a Workato connection id.
fn wc_name(conn: i64) -> String {
    format!("conn-{}", conn - 99)
}

fn terminal(phase: &str) -> bool {
    matches!(phase, "Succeeded" | "Failed" | "Aborted")
}

fn uid_of(r: &Value) -> String {
    r["metadata"]["uid"].as_str().unwrap_or_default().to_owned()
}

fn name_of(r: &Value) -> String {
    r["metadata"]["name"].as_str().unwrap_or_default().to_owned()
}

/// `(id, name, state)` of a rotation's connections or recipes (`items`).
fn items(r: &Value, items: &str) -> Vec<(i64, String, String)> {
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
fn held(state: &str) -> bool {
    matches!(state, "Stopping" | "Stopped" | "Starting" | "StartFailed")
}

/// The numeric segment `n` of a call's path (`/api/recipes/1004/start`: 3).
fn path_id(c: &Value, n: usize) -> i64 {
    c["path"]
        .as_str()
        .unwrap_or_default()
        .split('/')
        .nth(n)
        .and_then(|s| s.parse().ok())
        .unwrap_or_default()
}

/// Workato acted on the call: a 2xx answer without a fault, or a delayed one that went through.
fn acted(c: &Value) -> bool {
    c["status"].as_u64().is_some_and(|s| (200..300).contains(&s))
        && (c["fault"].is_null() || c["fault"] == "latency")
}

/// An error answer: status >= 400 or an injected fault.
fn is_error(c: &Value) -> bool {
    c["status"].as_u64().is_some_and(|s| s >= 400) || !c["fault"].is_null()
}

fn seq(c: &Value) -> u64 {
    c["seq"].as_u64().unwrap_or_default()
}

/// The IntegrationAccount has taken in how the rotations ended: none active, and its credentials
/// condition is final (published, or a failed rotation for a person to look at).
fn account_quiet(ia: &Value) -> bool {
    ia["status"]["rotation"]["active"].is_null()
        && condition(ia, "CredentialsPublished")
            .is_some_and(|c| matches!(c.1.as_str(), "Published" | "RotationFailed"))
}

/// I2 (and the status's consistency with Workato), judged when a rotation is first seen finished:
/// `state` is the emulator's state and `published` the published token read right after;
/// connections another unfinished rotation already touches are not judged.
fn judge_finished(
    rep: &mut Report,
    t: &Tracked,
    state: &Value,
    published: &str,
    newest: Option<&str>,
    others: &BTreeSet<i64>,
) {
    let st = &t.last["status"];
    let name = &t.name;
    let outcome = t.outcome();
    let summary = st["planSummary"].as_str().unwrap_or_default();
    let conns = connections(state);
    let now = running(state);
    if outcome.is_empty() || (outcome != "Succeeded" && summary.is_empty()) {
        rep.violation(
            Inv::I2,
            format!("{name} ended {} without an outcome and a reason", t.phase()),
        );
    }
    let judged: Vec<(i64, &(String, String))> = conns
        .iter()
        .filter(|(id, _)| (100..=102).contains(*id) && !others.contains(*id))
        .map(|(id, c)| (*id, c))
        .collect();
    let states = items(&t.last, "connections");
    if outcome == "Succeeded" {
        if newest.is_some_and(|n| n != published) {
            rep.violation(
                Inv::I2,
                format!("{name} Succeeded but the newest token the person placed is not published"),
            );
        }
        for (id, (token, auth)) in &judged {
            if token != published || auth != "success" {
                rep.violation(
                    Inv::I2,
                    format!(
                        "{name} Succeeded but connection {id} holds {} ({auth})",
                        if token == published {
                            "the published token"
                        } else {
                            "another token than the published one"
                        }
                    ),
                );
            }
        }
        for id in 1001..=1009 {
            if !now.get(&id).copied().unwrap_or(false) {
                rep.violation(
                    Inv::I2,
                    format!("{name} Succeeded but recipe {id} is not running"),
                );
            }
        }
        for (id, _, s) in &states {
            if s != "Verified" && s != "Released" {
                rep.violation(
                    Inv::I2,
                    format!("{name} Succeeded with connection {id} in state {s}"),
                );
            }
        }
    } else if !outcome.is_empty() {
        let failed: BTreeMap<i64, String> = states
            .iter()
            .filter(|(_, _, s)| s == "RollbackFailed")
            .map(|(id, n, _)| (*id, n.clone()))
            .collect();
        if outcome == "RolledBack" && !failed.is_empty() {
            rep.violation(
                Inv::I2,
                format!("{name} says RolledBack but connections {failed:?} are RollbackFailed"),
            );
        }
        for n in failed.values() {
            if !summary.contains(n.as_str()) {
                rep.violation(
                    Inv::I2,
                    format!("{name}: {n} is RollbackFailed but the outcome's summary does not name it"),
                );
            }
        }
        for (id, (token, _)) in &judged {
            if token != published && !failed.contains_key(id) {
                rep.violation(
                    Inv::I2,
                    format!(
                        "{name} ended {outcome} and connection {id} is not on the published token, but the outcome does not name it"
                    ),
                );
            }
        }
    }
    // The status is consistent with Workato.
    for (id, _, s) in items(&t.last, "recipes") {
        let is = now.get(&id).copied().unwrap_or(false);
        let consistent = match s.as_str() {
            "Started" => is,
            "Stopped" | "StartFailed" => !is,
            _ => true,
        };
        if !consistent {
            rep.violation(
                Inv::I2,
                format!("{name} says recipe {id} is {s} but Workato says running={is}"),
            );
        }
    }
}

/// Everything a run observed, for the checks after it.
struct Seen {
    calls: Vec<Value>,
    tracked: BTreeMap<String, Tracked>,
    run_uid: Option<String>,
    /// The uid and name of the rotation the person deleted.
    deleted: Option<(String, String)>,
    /// Call sequence number and time when the person deactivated the old token.
    deactivated: Option<(u64, jiff::Timestamp)>,
    /// Call sequence number and time when the person approved.
    approved: Option<(u64, jiff::Timestamp)>,
    /// The rotation was seen awaiting approval.
    awaited_approval: bool,
    /// The persistent fault and the sequence number when it was removed.
    persistent: Option<(Endpoint, u64)>,
    /// The decoys took (placed before the rotation kept its old token).
    decoy_took: bool,
    /// Valid tokens the person placed, in order.
    placed: Vec<(i64, String)>,
}

/// One rotation under the plan's faults and event; every invariant checked.
async fn run(w: &mut World, plan: &Plan) -> Report {
    let mut rep = Report::default();
    let sar = plan.strategy == Strategy::StopAndRestart;
    w.emu.reset_calls().await;
    // Runs are independent: Workato's rate-limit buckets start full (a run makes ~40 recipe
    // calls; back to back, runs would only measure the 60/min budget).
    w.delete("rate-limits").await;
    let state0 = w.state().await;
    let before = running(&state0);
    let conn_of = recipe_connections(&state0);
    let old = w.token.clone();
    let mut fault_id = None;
    if let Some((e, kind)) = &plan.fault {
        let spec = kind.spec(e, &mut w.rng);
        fault_id = w.emu.control("faults", spec).await["id"].as_i64();
    }
    let event_fault = match plan.event {
        Event::FailedTest => w.emu.control("faults", failed_test(plan.failed_conn)).await["id"].as_i64(),
        Event::StartRefused => {
            w.emu.control("faults", start_refused(plan.refused_recipe)).await["id"].as_i64()
        }
        _ => None,
    };

    // Trigger.
    let started = Instant::now();
    let mut seen = Seen {
        calls: Vec::new(),
        tracked: BTreeMap::new(),
        run_uid: None,
        deleted: None,
        deactivated: None,
        approved: None,
        awaited_approval: false,
        persistent: None,
        decoy_took: false,
        placed: Vec::new(),
    };
    let rot_name = format!("run-{}", plan.index);
    if sar {
        let mut metadata = json!({"name": rot_name});
        if plan.event == Event::Scheduled {
            metadata["labels"] = json!({TRIGGER_LABEL: "scheduled"});
        }
        support::create::<CredentialRotation>(&w.client, &w.ns, json!({
            "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "CredentialRotation", "metadata": metadata,
            "spec": {"integrationAccountRef": {"name": "sf"}, "strategy": "StopAndRestart", "reason": "fault campaign"}
        })).await;
    } else {
        let t = w.new_token(plan.index).await;
        w.put_token(&t.1).await;
        seen.placed.push(t);
    }
    let mut persistent_id = None;
    if plan.event == Event::Persistent
        && let Some((e, _)) = &plan.fault
    {
        let f = json!({"service": e.service, "method": e.method, "route": e.template,
                       "status": plan.persistent_status, "count": 1_000_000});
        persistent_id = w.emu.control("faults", f).await["id"].as_i64();
    }

    let mut last_seq = 0;
    let mut killed = false;
    let mut restart_op_at: Option<Instant> = None;
    let mut restart: Option<tokio::task::JoinHandle<Result<Duration, String>>> = None;
    let mut last_phase = String::from("(no rotation yet)");
    // The person's mistyped token (TokenReplaced, StopAndRestart) and when it was placed.
    let mut bogus: Option<(String, Instant)> = None;
    let mut replaced = false;
    let mut delete_done = false;
    let mut deleted_at: Option<(Instant, String)> = None;
    let mut awaiting_since: Option<Instant> = None;
    let mut decoy_tried = false;
    let mut quiet_since: Option<Instant> = None;
    let mut last_gone: Option<Instant> = None;
    loop {
        let elapsed = started.elapsed();
        if elapsed > RUN_DEADLINE {
            rep.violation(
                Inv::Finishes,
                format!("the run did not finish within {RUN_DEADLINE:?} (last phase {last_phase})"),
            );
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
            rep.violation(
                Inv::NoCrash,
                format!(
                    "the operator exited by itself ({status}); log tail:\n{}",
                    w.op.log_tail(20)
                ),
            );
            w.op.restart();
        }

        // The call log, and the persistent fault's end.
        last_seq = w.fetch_calls(&mut seen.calls, last_seq).await;
        if let (Some(id), Some((e, _))) = (persistent_id, &plan.fault)
            && seen.persistent.is_none()
            && elapsed >= PERSISTENT_WINDOW
        {
            w.delete(&format!("faults/{id}")).await;
            last_seq = w.fetch_calls(&mut seen.calls, last_seq).await;
            seen.persistent = Some((e.clone(), last_seq));
            rep.event_took = true;
            rep.happened.push(format!(
                "persistent fault removed after {:.1} s",
                elapsed.as_secs_f64()
            ));
        }

        // The rotations (the run's and any the account starts after it), then what Workato and
        // the credentials Secret say right after.
        let rots = w.rotations().await;
        let state = w.state().await;
        let published = w.secret_value("sf-credentials", "authToken").await;
        let mut newly_gone = Vec::new();
        if let Some(rots) = &rots {
            let present: BTreeSet<String> = rots.iter().map(uid_of).collect();
            for r in rots {
                let uid = uid_of(r);
                if w.known.contains(&uid) {
                    continue;
                }
                let name = name_of(r);
                let t = seen.tracked.entry(uid.clone()).or_insert_with(|| Tracked {
                    name: name.clone(),
                    last: Value::Null,
                    gone: false,
                    judged: false,
                    start_failed: BTreeSet::new(),
                    secret_gone: None,
                    inherited_checked: BTreeSet::new(),
                });
                t.saw(r);
                if seen.run_uid.is_none() && (!sar || name == rot_name) {
                    seen.run_uid = Some(uid);
                }
            }
            for (uid, t) in &mut seen.tracked {
                if !present.contains(uid) && !t.gone {
                    t.gone = true;
                    newly_gone.push(uid.clone());
                }
            }
        }
        let run_rot: Option<Value> = seen
            .run_uid
            .as_ref()
            .and_then(|u| seen.tracked.get(u))
            .filter(|t| !t.gone)
            .map(|t| t.last.clone());
        if let Some(r) = &run_rot {
            last_phase = match phase(r) {
                "" => "(no status yet)".to_owned(),
                p => p.to_owned(),
            };
        }
        let run_phase = run_rot.as_ref().map_or("", |r| phase(r)).to_owned();

        // I4: the deleted rotation goes only once what it stopped runs again, or another
        // rotation has taken it over (inheritedFrom).
        if let (Some((uid, name)), Some(rots)) = (&seen.deleted, &rots)
            && newly_gone.contains(uid)
        {
            let now = running(&state);
            let handed: BTreeSet<i64> = rots
                .iter()
                .flat_map(|r| r["status"]["recipes"].as_array().cloned().unwrap_or_default())
                .filter(|x| {
                    x["inheritedFrom"] == name.as_str() && held(x["state"].as_str().unwrap_or_default())
                })
                .filter_map(|x| x["id"].as_i64())
                .collect();
            let stray: Vec<i64> = before
                .iter()
                .filter(|(id, was)| **was && !now[*id] && !handed.contains(*id))
                .map(|(id, _)| *id)
                .collect();
            if !stray.is_empty() {
                rep.violation(
                    Inv::I4,
                    format!("the deleted rotation {name} went while recipes {stray:?} it stopped neither run nor are handed over"),
                );
            }
            if let Some((at, ph)) = &deleted_at {
                rep.happened.push(format!(
                    "deleted in {ph}, gone {:.1} s later{}",
                    at.elapsed().as_secs_f64(),
                    if handed.is_empty() {
                        String::new()
                    } else {
                        format!(", {} recipes handed over", handed.len())
                    }
                ));
            }
        }

        // I2: a recipe a rotation takes over from an earlier one (inheritedFrom) as stopped is
        // stopped in Workato when it is first listed.
        let now = running(&state);
        for t in seen.tracked.values_mut().filter(|t| !t.gone) {
            for x in t.last["status"]["recipes"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                let id = x["id"].as_i64().unwrap_or_default();
                let Some(from) = x["inheritedFrom"].as_str() else {
                    continue;
                };
                if !t.inherited_checked.insert(id) {
                    continue;
                }
                if x["state"] == "Stopped" && now.get(&id).copied().unwrap_or(false) {
                    rep.violation(
                        Inv::I2,
                        format!(
                            "{} took recipe {id} over from {from} as stopped, but it runs in Workato",
                            t.name
                        ),
                    );
                }
            }
        }

        // I2, when a rotation is first seen finished.
        if let Some(published) = &published {
            let newest = seen.placed.last().map(|t| t.1.clone());
            let finished: Vec<String> = seen
                .tracked
                .iter()
                .filter(|(_, t)| !t.gone && !t.judged && terminal(t.phase()))
                .map(|(u, _)| u.clone())
                .collect();
            for uid in finished {
                let others: BTreeSet<i64> = seen
                    .tracked
                    .iter()
                    .filter(|(u, t)| **u != uid && !t.gone && !terminal(t.phase()))
                    .flat_map(|(_, t)| items(&t.last, "connections"))
                    .filter(|(_, _, s)| s != "Pending")
                    .map(|(id, _, _)| id)
                    .collect();
                let t = &seen.tracked[&uid];
                judge_finished(&mut rep, t, &state, published, newest.as_deref(), &others);
                seen.tracked.get_mut(&uid).unwrap().judged = true;
            }
        }

        // The person's steps.
        if sar && seen.deleted.is_none() && run_phase == "WaitingForToken" {
            if plan.event == Event::TokenReplaced {
                match &bogus {
                    None => {
                        // Regenerate in place, and mistype the new token.
                        last_seq = w.fetch_calls(&mut seen.calls, last_seq).await;
                        w.deactivate(old.0).await;
                        seen.deactivated = Some((last_seq, jiff::Timestamp::now()));
                        let typo = format!("sf-typo-{}-{:08x}", plan.index, w.rng.u32(..));
                        w.put_token(&typo).await;
                        bogus = Some((typo, Instant::now()));
                    }
                    Some((_, at)) if seen.placed.is_empty() => {
                        let rejected = run_rot
                            .as_ref()
                            .is_some_and(|r| !r["status"]["rejectedTokenFingerprint"].is_null());
                        if rejected || at.elapsed() > Duration::from_secs(30) {
                            let t = w.new_token(plan.index).await;
                            w.put_token(&t.1).await;
                            seen.placed.push(t);
                            rep.event_took = rejected;
                            rep.happened.push(format!(
                                "mistyped token {}, good token {:.1} s later",
                                if rejected {
                                    "rejected"
                                } else {
                                    "NOT seen rejected in 30 s"
                                },
                                at.elapsed().as_secs_f64()
                            ));
                        }
                    }
                    Some(_) => {}
                }
            } else if seen.placed.is_empty() {
                // Regenerate in place: the old token dies, the new one goes into the Secret.
                last_seq = w.fetch_calls(&mut seen.calls, last_seq).await;
                w.deactivate(old.0).await;
                seen.deactivated = Some((last_seq, jiff::Timestamp::now()));
                let t = w.new_token(plan.index).await;
                w.put_token(&t.1).await;
                seen.placed.push(t);
            }
        }
        // Overlap: the person deactivates the old token when asked to.
        if !sar
            && seen.deactivated.is_none()
            && seen
                .tracked
                .values()
                .any(|t| !t.gone && t.phase() == "AwaitingRevocation")
        {
            last_seq = w.fetch_calls(&mut seen.calls, last_seq).await;
            w.deactivate(old.0).await;
            seen.deactivated = Some((last_seq, jiff::Timestamp::now()));
        }
        // Overlap: decoys at the names of the rotation's old-token Secret (I8).
        if plan.decoy
            && !decoy_tried
            && let Some(r) = &run_rot
        {
            decoy_tried = true;
            let name = name_of(r);
            let uid8: String = uid_of(r).chars().take(8).collect();
            let kept = !r["status"]["oldTokenSecret"].is_null();
            let a = w.decoy(&format!("{name}-old-token")).await;
            let b = !kept && w.decoy(&format!("{name}-old-token-{uid8}")).await;
            rep.decoys = usize::from(a) + usize::from(b);
            seen.decoy_took = b;
            rep.happened.push(format!(
                "decoys placed: {}{}",
                rep.decoys,
                if b {
                    " (one at the rotation's own old-token name)"
                } else {
                    ""
                }
            ));
        }
        // TokenReplaced, Overlap: a second token while the connections switch.
        if !sar && plan.event == Event::TokenReplaced && !replaced {
            let verified = run_rot.as_ref().map_or(0, |r| {
                items(r, "connections")
                    .iter()
                    .filter(|(_, _, s)| s == "Verified")
                    .count()
            });
            if run_phase == "Switching" && verified >= plan.replace_at_verified {
                let t = w.new_token(plan.index).await;
                w.put_token(&t.1).await;
                seen.placed.push(t);
                replaced = true;
                rep.event_took = true;
                rep.happened.push(format!(
                    "second token placed in Switching with {verified} verified"
                ));
            } else if matches!(
                run_phase.as_str(),
                "Publishing" | "AwaitingRevocation" | "Succeeded" | "Failed" | "Aborted"
            ) {
                replaced = true;
                rep.happened.push(format!(
                    "second token NOT placed: the rotation reached {run_phase} first"
                ));
            }
        }
        // Deleted: the person deletes the rotation mid-way.
        if plan.event == Event::Deleted
            && !delete_done
            && elapsed >= plan.delete_after
            && let Some(r) = &run_rot
        {
            if terminal(phase(r)) {
                delete_done = true;
                rep.happened
                    .push(format!("NOT deleted: the rotation finished first ({})", phase(r)));
            } else if Api::<CredentialRotation>::namespaced(w.client.clone(), &w.ns)
                .delete(&name_of(r), &DeleteParams::default())
                .await
                .is_ok()
            {
                delete_done = true;
                rep.event_took = true;
                seen.deleted = Some((uid_of(r), name_of(r)));
                deleted_at = Some((Instant::now(), phase(r).to_owned()));
            }
        }
        // Scheduled: the person approves after a while; nothing is stopped before (I6).
        if plan.event == Event::Scheduled && seen.approved.is_none() {
            if run_phase == "AwaitingApproval" {
                seen.awaited_approval = true;
                awaiting_since.get_or_insert_with(Instant::now);
            } else if !matches!(run_phase.as_str(), "" | "Pending" | "Queued") {
                rep.violation(
                    Inv::I6,
                    format!("the scheduled rotation went to {run_phase} before a person approved it"),
                );
            }
            let stopped: Vec<i64> = before
                .iter()
                .filter(|(id, was)| **was && !running(&state).get(*id).copied().unwrap_or(false))
                .map(|(id, _)| *id)
                .collect();
            if !stopped.is_empty() {
                rep.violation(
                    Inv::I6,
                    format!("recipes {stopped:?} stopped before the approval"),
                );
            }
            if let Some(since) = awaiting_since
                && since.elapsed() >= plan.approve_after
            {
                last_seq = w.fetch_calls(&mut seen.calls, last_seq).await;
                let at = jiff::Timestamp::now();
                let patch = json!({"metadata": {"annotations": {APPROVED_ANNOTATION: "true"}}});
                if Api::<CredentialRotation>::namespaced(w.client.clone(), &w.ns)
                    .patch(&rot_name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .is_ok()
                {
                    seen.approved = Some((last_seq, at));
                    rep.event_took = true;
                    rep.happened.push(format!(
                        "approved {:.1} s after the trigger",
                        elapsed.as_secs_f64()
                    ));
                }
            }
        }

        // I5: the credentials Secret always holds a token that works; the only exception is the
        // person's own regeneration in a StopAndRestart run (the old token dies while the
        // recipes are stopped, until a rotation publishes the new one).
        if let Some(published) = &published {
            let toks = tokens(&state);
            let active = toks.get(published).is_some_and(|t| t.1);
            let regenerated = sar && seen.deactivated.is_some() && *published == old.1;
            let expected = *published == old.1 || seen.placed.iter().any(|t| t.1 == *published);
            if bogus.as_ref().is_some_and(|b| b.0 == *published) {
                rep.violation(
                    Inv::I5,
                    format!("the token TrackVia rejects is published (phase {last_phase})"),
                );
            } else if !expected {
                rep.violation(
                    Inv::I5,
                    format!(
                        "the credentials Secret holds a token that is neither the old nor a new one (phase {last_phase})"
                    ),
                );
            } else if !active && !regenerated {
                rep.violation(
                    Inv::I5,
                    format!("the credentials Secret holds a token TrackVia rejects (phase {last_phase})"),
                );
            }
        }
        // I9: a token TrackVia rejected never reaches a connection.
        if let Some((b, _)) = &bogus {
            for (id, (token, _)) in connections(&state) {
                if token == *b {
                    rep.violation(
                        Inv::I9,
                        format!("connection {id} holds the token TrackVia rejects"),
                    );
                }
            }
        }

        // Done when the run's rotation and any the account started after it have finished (a
        // deleted one: gone), the account has taken it in, and no restart is pending.
        let all_finished =
            seen.run_uid.is_some() && seen.tracked.values().all(|t| t.gone || terminal(t.phase()));
        let quiet = all_finished
            && (persistent_id.is_none() || seen.persistent.is_some())
            && restart.is_none()
            && restart_op_at.is_none()
            && get_json::<IntegrationAccount>(&w.client, &w.ns, "sf")
                .await
                .is_some_and(|ia| account_quiet(&ia));
        if !newly_gone.is_empty() {
            last_gone = Some(Instant::now());
        }
        if quiet {
            let since = *quiet_since.get_or_insert_with(Instant::now);
            let deleted_gone = seen
                .deleted
                .as_ref()
                .is_none_or(|(uid, _)| seen.tracked.get(uid).is_some_and(|t| t.gone));
            // The account reacts to a rotation that went (it may start another for the token in
            // its Secret) after its status said it was quiet: give it time to.
            let held_long_enough = since.elapsed() >= Duration::from_secs(1)
                && last_gone.is_none_or(|g| g.elapsed() >= Duration::from_secs(3));
            // A deleted rotation may wait for a person (DeletionBlocked): the checks see it.
            if (deleted_gone && held_long_enough) || since.elapsed() > SHOW_WITHIN {
                break;
            }
        } else {
            quiet_since = None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    rep.duration = started.elapsed();
    if let Some(id) = persistent_id
        && seen.persistent.is_none()
    {
        w.delete(&format!("faults/{id}")).await;
        last_seq = w.fetch_calls(&mut seen.calls, last_seq).await;
        if let Some((e, _)) = &plan.fault {
            seen.persistent = Some((e.clone(), last_seq));
        }
        rep.happened.push(format!(
            "persistent fault removed at the end, after {:.1} s (the run finished first)",
            rep.duration.as_secs_f64()
        ));
    }
    let _ = w.fetch_calls(&mut seen.calls, last_seq).await;
    let run_t = seen.run_uid.as_ref().and_then(|u| seen.tracked.get(u));
    rep.outcome = run_t.map_or_else(
        || last_phase.clone(),
        |t| match (t.outcome(), t.gone) {
            ("", true) => "(deleted)".to_owned(),
            ("", false) => t.phase().to_owned(),
            (o, _) => o.to_owned(),
        },
    );
    rep.status_json = run_t.map_or_else(String::new, |t| t.last["status"].to_string());
    if !killed {
        rep.kill_phase = plan.kill_after.map(|_| "(finished first)".to_owned());
    }

    // The faults that fired, and every call of the run.
    let pending = w.emu.get("faults").await;
    let pending = pending["faults"]
        .as_array()
        .or(pending.as_array())
        .cloned()
        .unwrap_or_default();
    rep.fired = fault_id.is_some_and(|id| !pending.iter().any(|f| f["id"] == id));
    if let Some(id) = event_fault {
        let fired = !pending.iter().any(|f| f["id"] == id);
        rep.event_took = fired;
        rep.happened.push(format!(
            "{} fault {}",
            plan.event.label(),
            if fired { "fired" } else { "did NOT fire" }
        ));
    }
    if !pending.is_empty() {
        w.delete("faults").await;
    }
    if rep.fatal {
        return rep;
    }
    for c in &seen.calls {
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
    }
    if let Some((e, kind)) = &plan.fault
        && let Some(c) = seen
            .calls
            .iter()
            .find(|c| e.matches(c) && Kind::of_call(c) == Some(*kind))
    {
        rep.logged
            .push((*kind, c["route"].as_str().unwrap_or_default().to_owned()));
    }

    check_after(w, plan, &mut rep, &seen, &before, &conn_of).await;
    if !rep.violations.is_empty() {
        dump(w, plan, &rep, &seen);
    }
    rep
}

/// Writes what a run with a violation saw (its call log, every rotation's last status, the
/// violations) to `target/test-logs/<namespace>-run-<n>.json`, for whoever fixes it.
fn dump(w: &World, plan: &Plan, rep: &Report, seen: &Seen) {
    let path = support::repo_root().join(format!("target/test-logs/{}-run-{}.json", w.ns, plan.index));
    let doc = json!({
        "run": plan.index,
        "strategy": plan.strategy.label(),
        "fault": plan.fault.as_ref().map(|(e, k)| format!("{} on {}", k.label(), e.label())),
        "event": plan.event_label(),
        "violations": rep.violations.iter().map(|(i, v)| format!("[{}] {v}", i.short())).collect::<Vec<_>>(),
        "rotations": seen.tracked.values().map(|t| json!({"name": t.name, "gone": t.gone, "last": t.last})).collect::<Vec<_>>(),
        // Without the query: TrackVia's holds the credentials (the secret scan of `make test`
        // reads target/test-logs).
        "calls": seen.calls.iter().map(|c| {
            let mut c = c.clone();
            if let Some(o) = c.as_object_mut() {
                o.remove("query");
            }
            c
        }).collect::<Vec<_>>(),
    });
    let _ = std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap_or_default());
    println!("      details: {}", path.display());
}

/// The checks after a run (I1..I10 and the campaign's own), then the person's clean-up so that
/// the next run starts from a clean world on the token now published.
#[allow(clippy::too_many_lines)] // one check after the other, each short
async fn check_after(
    w: &mut World,
    plan: &Plan,
    rep: &mut Report,
    seen: &Seen,
    before: &BTreeMap<i64, bool>,
    conn_of: &BTreeMap<i64, i64>,
) {
    let sar = plan.strategy == Strategy::StopAndRestart;
    let calls = &seen.calls;
    let state = w.state().await;
    let after = running(&state);
    let published = get_retry(
        &Api::<Secret>::namespaced(w.client.clone(), &w.ns),
        "sf-credentials",
        KUBE_RETRY,
    )
    .await
    .and_then(|s| String::from_utf8(s.data?.get("authToken")?.0.clone()).ok())
    .unwrap_or_default();
    let rots = list_retry(
        &Api::<CredentialRotation>::namespaced(w.client.clone(), &w.ns),
        KUBE_RETRY,
    )
    .await
    .iter()
    .map(json_of)
    .collect::<Vec<Value>>();
    let mut evs: BTreeMap<String, Vec<(String, String, String)>> = BTreeMap::new();
    for t in seen.tracked.values() {
        evs.insert(t.name.clone(), events(&w.client, &w.ns, &t.name).await);
    }
    let run_t = seen.run_uid.as_ref().and_then(|u| seen.tracked.get(u));
    let run_outcome = run_t.map(Tracked::outcome).unwrap_or_default().to_owned();

    // Workato answers a start with 200 and `success: false` when the recipe's connection fails
    // its test: such a start is in the log like one that acted. The rotation records it
    // (StartFailed, a RecipeStartFailed Warning event); a start refused by the event's fault is
    // a faulted call, not counted anyway.
    let mut refused_real: BTreeMap<i64, usize> = BTreeMap::new();
    for t in seen.tracked.values() {
        let warned: BTreeSet<i64> = evs
            .get(&t.name)
            .into_iter()
            .flatten()
            .filter(|(ty, reason, _)| ty == "Warning" && reason == "RecipeStartFailed")
            .flat_map(|(_, _, m)| (1001..=1010).filter(move |id| m.contains(&format!("({id})"))))
            .collect();
        for id in t.start_failed.union(&warned) {
            *refused_real.entry(*id).or_default() += 1;
        }
    }
    if plan.event == Event::StartRefused
        && rep.event_took
        && let Some(n) = refused_real.get_mut(&plan.refused_recipe)
    {
        *n = n.saturating_sub(1);
    }

    // No recipe stopped or started twice. A call counts when Workato acted on it: 200 and no
    // fault, or a delayed (timeout) call that went through after the operator gave up on it.
    let mut stops: BTreeMap<i64, usize> = BTreeMap::new();
    let mut starts: BTreeMap<i64, usize> = BTreeMap::new();
    for c in calls {
        let verb = match c["route"].as_str().unwrap_or_default() {
            "PUT /api/recipes/{id}/stop" => &mut stops,
            "PUT /api/recipes/{id}/start" => &mut starts,
            _ => continue,
        };
        if acted(c) {
            *verb.entry(path_id(c, 3)).or_default() += 1;
        } else if c["status"] == 400 {
            rep.refused_repeats += 1;
        }
    }
    for (id, n) in stops.iter().filter(|(_, n)| **n > 1) {
        rep.violation(Inv::Once, format!("recipe {id} stopped {n} times"));
    }
    for (id, n) in &starts {
        let acted = n.saturating_sub(refused_real.get(id).copied().unwrap_or(0));
        if acted > 1 {
            rep.violation(Inv::Once, format!("recipe {id} started {acted} times"));
        }
    }
    // A recipe stopped before the run is not running after it.
    for (id, was) in before {
        if !*was && after.get(id).copied().unwrap_or(false) {
            rep.violation(Inv::Scope, format!("recipe {id} was stopped and is now running"));
        }
    }
    if sar && run_outcome == "Succeeded" && seen.deleted.is_none() {
        let expected: BTreeSet<i64> = before.iter().filter(|(_, r)| **r).map(|(id, _)| *id).collect();
        let stopped: BTreeSet<i64> = stops.keys().copied().collect();
        let listed: BTreeSet<i64> = run_t
            .map(|t| items(&t.last, "recipes").iter().map(|r| r.0).collect())
            .unwrap_or_default();
        if stopped != expected || listed != expected {
            rep.violation(
                Inv::Scope,
                format!(
                    "StopAndRestart stopped {stopped:?} and listed {listed:?}, the running dependents were {expected:?}"
                ),
            );
        }
    }
    if !sar && (!stops.is_empty() || !starts.is_empty()) {
        rep.violation(
            Inv::Scope,
            format!("Overlap stopped {stops:?} / started {starts:?}"),
        );
    }

    // I1: every recipe the operator stopped runs, or is named by the rotation holding it (status,
    // RecipesRestarted=False RecipesLeftStopped, Ready not True), its WorkatoConnection
    // (RecipesHealthy LeftStoppedByRotation), a Warning event and the metric.
    let left: Vec<i64> = stops
        .keys()
        .copied()
        .filter(|id| !after.get(id).copied().unwrap_or(false))
        .collect();
    let mut holders: BTreeSet<String> = BTreeSet::new();
    // One deadline for everything the checks wait for (conditions, metrics), however many
    // recipes and connections they look at.
    let show_deadline = Instant::now() + SHOW_WITHIN;
    for id in &left {
        let holder = rots.iter().find(|r| {
            r["status"]["recipes"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|x| x["id"] == *id && held(x["state"].as_str().unwrap_or_default()))
        });
        let Some(h) = holder else {
            rep.violation(
                Inv::I1,
                format!("recipe {id} was stopped by the operator, is not running, and no rotation names it"),
            );
            continue;
        };
        let hname = name_of(h);
        holders.insert(hname.clone());
        match condition(h, "RecipesRestarted") {
            Some((s, reason, m))
                if s == "False" && reason == "RecipesLeftStopped" && m.contains(&id.to_string()) => {}
            other => rep.violation(
                Inv::I1,
                format!("{hname} holds recipe {id} stopped but RecipesRestarted is {other:?}"),
            ),
        }
        if condition(h, "Ready").is_some_and(|c| c.0 == "True") {
            rep.violation(
                Inv::I1,
                format!("{hname} holds recipe {id} stopped with Ready True"),
            );
        }
        let warned = events(&w.client, &w.ns, &hname).await.iter().any(|(t, r, m)| {
            t == "Warning"
                && (r == "RecipesLeftStopped" || r == "RecipeStartFailed")
                && m.contains(&id.to_string())
        });
        if !warned {
            rep.violation(
                Inv::I1,
                format!("no Warning event of {hname} names recipe {id} left stopped"),
            );
        }
        let conn = conn_of.get(id).copied().unwrap_or_default();
        let wc = wc_name(conn);
        let shown = wait_until(show_deadline, || async {
            let o = get_json::<WorkatoConnection>(&w.client, &w.ns, &wc).await?;
            condition(&o, "RecipesHealthy")
                .filter(|c| c.0 != "True" && c.1 == "LeftStoppedByRotation" && c.2.contains(&id.to_string()))
                .map(|_| ())
        })
        .await;
        if !shown {
            rep.violation(
                Inv::I1,
                format!("{wc} does not report recipe {id} LeftStoppedByRotation within {SHOW_WITHIN:?}"),
            );
        }
    }
    for hname in &holders {
        let label = format!("name=\"{hname}\"");
        let counted = wait_until(show_deadline, || async {
            let m = w.op.metrics().await?;
            (metric_sum(&m, "trackvia_operator_recipes_left_stopped", &[&label]) > 0.0).then_some(())
        })
        .await;
        if !counted {
            rep.violation(
                Inv::I1,
                format!("trackvia_operator_recipes_left_stopped of {hname} is not > 0"),
            );
        }
    }

    // I3: every connection on the published token (unless a rotation names it RollbackFailed);
    // no WorkatoConnection left RotationPending.
    let named: BTreeSet<i64> = rots
        .iter()
        .flat_map(|r| items(r, "connections"))
        .filter(|(_, _, s)| s == "RollbackFailed")
        .map(|(id, _, _)| id)
        .collect();
    for (id, (token, _)) in connections(&state) {
        if (100..=102).contains(&id) && token != published && !named.contains(&id) {
            rep.violation(
                Inv::I3,
                format!("connection {id} is not on the published token, and no rotation says so"),
            );
        }
    }
    for conn in 100..=102 {
        let wc = wc_name(conn);
        let current = wait_until(show_deadline, || async {
            let o = get_json::<WorkatoConnection>(&w.client, &w.ns, &wc).await?;
            condition(&o, "CredentialsCurrent")
                .filter(|c| c.1 != "RotationPending")
                .map(|_| ())
        })
        .await;
        if !current {
            rep.violation(
                Inv::I3,
                format!("{wc} is still CredentialsCurrent RotationPending after {SHOW_WITHIN:?}"),
            );
        }
    }

    // I5: no outcome that takes a failed read or a transient error for a fact. The campaign never
    // lets a token time out, never deletes the account, its Secrets or an old-token Secret, and
    // its faults are transient (a refused start only through the event).
    for t in seen.tracked.values() {
        let o = t.outcome();
        let name = &t.name;
        let deleted = seen.deleted.as_ref().is_some_and(|(_, n)| n == name);
        let why = match o {
            "Aborted" | "IntegrationAccountNotFound" | "NotSetUp" | "WorkspaceNotReady" => {
                Some("the campaign never causes it")
            }
            "Cancelled" if !deleted => Some("nobody deleted it"),
            "NewTokenInvalid" => Some("every token placed in an Overlap run is valid"),
            "RecipeStopFailed" => Some("Workato never refused a stop (only transient faults)"),
            _ => None,
        };
        if let Some(why) = why {
            rep.violation(
                Inv::I5,
                format!(
                    "{name} ended {o} ({why}): {}",
                    t.last["status"]["planSummary"].as_str().unwrap_or_default()
                ),
            );
        }
        let dead_token = sar && seen.deactivated.is_some();
        for id in &t.start_failed {
            let by_event = plan.event == Event::StartRefused && *id == plan.refused_recipe;
            if !by_event && !dead_token {
                rep.violation(
                    Inv::I5,
                    format!(
                        "{name} records recipe {id} StartFailed although Workato only failed transiently"
                    ),
                );
            }
        }
        if let Some(s) = &t.secret_gone {
            rep.violation(
                Inv::I5,
                format!("{name} took a Secret for gone (nobody deleted one): {s}"),
            );
        }
        if !sar && t.last["status"]["strategy"] == "StopAndRestart" {
            rep.violation(
                Inv::I5,
                format!(
                    "{name} became StopAndRestart in an Overlap run although TrackVia accepted the old token"
                ),
            );
        }
        if let Some(revoked) = t.last["status"]["oldTokenRevokedTime"].as_str() {
            let revoked: Option<jiff::Timestamp> = revoked.parse().ok();
            let ok = seen
                .deactivated
                .as_ref()
                .is_some_and(|(_, at)| revoked.is_some_and(|r| r.as_second() + 1 >= at.as_second()));
            if !ok {
                rep.violation(
                    Inv::I5,
                    format!("{name} says the old token was revoked before the person deactivated it"),
                );
            }
        }
        for (ty, reason, m) in evs.get(name).into_iter().flatten() {
            if ty == "Warning" && matches!(reason.as_str(), "OldTokenUnknown" | "TokenLost") {
                rep.violation(Inv::I5, format!("{name}: Warning {reason}: {m}"));
            }
        }
    }
    // Overlap: the revocation is confirmed, unless the old token could not be kept (a decoy at its
    // Secret's name) or the rotation was deleted before.
    if !sar
        && run_outcome == "Succeeded"
        && seen.deleted.is_none()
        && !seen.decoy_took
        && run_t.is_some_and(|t| t.last["status"]["oldTokenRevokedTime"].is_null())
    {
        rep.violation(
            Inv::I2,
            "Overlap succeeded without confirming the revocation".into(),
        );
    }

    // I6: no recipe stop before the approval (call log order).
    if plan.event == Event::Scheduled {
        if !seen.awaited_approval {
            rep.violation(
                Inv::I6,
                "the scheduled rotation was never seen AwaitingApproval".into(),
            );
        }
        let approval_seq = seen.approved.as_ref().map_or(u64::MAX, |a| a.0);
        let early: Vec<u64> = calls
            .iter()
            .filter(|c| c["route"] == "PUT /api/recipes/{id}/stop" && seq(c) <= approval_seq)
            .map(seq)
            .collect();
        if seen.approved.is_some() && !early.is_empty() {
            rep.violation(
                Inv::I6,
                format!("recipe stop calls {early:?} before the approval (call {approval_seq})"),
            );
        }
        if let (Some((_, at)), Some(t)) = (&seen.approved, run_t) {
            let approved: Option<jiff::Timestamp> = t.last["status"]["approvedTime"]
                .as_str()
                .and_then(|s| s.parse().ok());
            if approved.is_none_or(|a| a.as_second() + 1 < at.as_second()) {
                rep.violation(
                    Inv::I6,
                    format!("approvedTime {approved:?} is not after the person's approval"),
                );
            }
        }
    }

    // I7: every connection update goes to the sandbox workspace, to one of its three connections.
    for c in calls {
        let prod = c["workspace"] == "acme-prod";
        if prod
            || (c["route"] == "PUT /api/connections/{id}"
                && (c["workspace"] != "acme-dev" || !(100..=102).contains(&path_id(c, 3))))
        {
            rep.violation(
                Inv::I7,
                format!(
                    "{} {} went to workspace {}",
                    c["method"], c["path"], c["workspace"]
                ),
            );
        }
    }

    // I8: the decoys and the campaign's own Secrets are there and untouched; every Secret that
    // went was the operator's.
    let secrets = w.secrets_now().await;
    let mut lost = Vec::new();
    for (name, value) in &w.decoys {
        match secrets.get(name) {
            Some((_, Some(v))) if v == value => {}
            Some(_) => rep.violation(Inv::I8, format!("decoy Secret {name} was changed")),
            None => {
                rep.violation(Inv::I8, format!("decoy Secret {name} was deleted"));
                lost.push(name.clone());
            }
        }
    }
    for name in lost {
        w.decoys.remove(&name);
        w.secrets.remove(&name);
    }
    for name in ["tv-admin", "wk-dev", "sf-token"] {
        if !secrets.contains_key(name) {
            rep.violation(Inv::I8, format!("the campaign's Secret {name} was deleted"));
        }
    }
    for (name, owned) in &w.secrets {
        if !secrets.contains_key(name) && !owned {
            rep.violation(Inv::I8, format!("Secret {name}, not the operator's, was deleted"));
        }
    }
    w.secrets = secrets.iter().map(|(n, (o, _))| (n.clone(), *o)).collect();

    // I9: replay the call log. In a StopAndRestart run no connection is updated while a recipe
    // of it that ran at the start runs; in an Overlap run not after the old token was
    // deactivated.
    let mut sim = before.clone();
    let mut refused_left = refused_real.clone();
    for c in calls {
        if !acted(c) {
            continue;
        }
        match c["route"].as_str().unwrap_or_default() {
            "PUT /api/recipes/{id}/stop" => {
                sim.insert(path_id(c, 3), false);
            }
            "PUT /api/recipes/{id}/start" => {
                let id = path_id(c, 3);
                match refused_left.get_mut(&id) {
                    Some(n) if *n > 0 => *n -= 1,
                    _ => {
                        sim.insert(id, true);
                    }
                }
            }
            "PUT /api/connections/{id}" => {
                let conn = path_id(c, 3);
                let live: Vec<i64> = sim
                    .iter()
                    .filter(|(id, r)| {
                        **r && before.get(*id).copied().unwrap_or(false) && conn_of.get(*id) == Some(&conn)
                    })
                    .map(|(id, _)| *id)
                    .collect();
                if live.is_empty() {
                    continue;
                }
                if sar {
                    rep.violation(
                        Inv::I9,
                        format!(
                            "connection {conn} updated (call {}) while recipes {live:?} ran",
                            seq(c)
                        ),
                    );
                } else if seen.deactivated.as_ref().is_some_and(|d| seq(c) > d.0) {
                    rep.violation(
                        Inv::I9,
                        format!(
                            "connection {conn} updated (call {}) while recipes {live:?} ran and the old token was already deactivated",
                            seq(c)
                        ),
                    );
                }
            }
            _ => {}
        }
    }

    // I10: error answers per concrete path.
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    let mut window: BTreeMap<String, usize> = BTreeMap::new();
    for c in calls.iter().filter(|c| is_error(c)) {
        let path = format!(
            "{} {} {}",
            c["service"].as_str().unwrap_or_default(),
            c["method"].as_str().unwrap_or_default(),
            c["path"].as_str().unwrap_or_default()
        );
        match &seen.persistent {
            Some((e, end)) if e.matches(c) && seq(c) <= *end => {
                *window.entry(path).or_default() += 1;
            }
            _ => *errors.entry(path).or_default() += 1,
        }
    }
    if let Some((path, n)) = errors.iter().max_by_key(|(_, n)| **n) {
        rep.worst_errors = (*n, path.clone());
    }
    for (path, n) in &errors {
        if *n > I10_RUN_BOUND {
            rep.violation(
                Inv::I10,
                format!("{n} error answers on {path} in one run (bound {I10_RUN_BOUND})"),
            );
        }
    }
    if let Some((e, _)) = &seen.persistent {
        let bound = i10_window_bound(e);
        rep.window_errors = window
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(p, n)| (*n, p.clone()))
            .or(Some((0, e.label())));
        for (path, n) in &window {
            if *n > bound {
                rep.violation(
                    Inv::I10,
                    format!(
                        "{n} error answers on {path} within the {} s persistent fault (bound {bound})",
                        PERSISTENT_WINDOW.as_secs()
                    ),
                );
            }
        }
    }

    // One rotation per run, plus the one the account starts for the token left in its Secret
    // when the run's rotation did not succeed (it restarts the recipes left stopped).
    let run_ok = run_outcome == "Succeeded" && seen.deleted.is_none();
    for (uid, t) in &seen.tracked {
        if Some(uid) == seen.run_uid.as_ref() {
            continue;
        }
        let trigger = t.last["metadata"]["labels"][TRIGGER_LABEL]
            .as_str()
            .unwrap_or_default();
        let followup = !run_ok && t.name.starts_with("sf-newtoken-") && trigger == "new-token";
        if followup && rep.followups.is_empty() {
            rep.followups.push((
                t.name.clone(),
                if t.outcome().is_empty() {
                    t.phase().to_owned()
                } else {
                    t.outcome().to_owned()
                },
            ));
        } else {
            rep.violation(
                Inv::OneRotation,
                format!(
                    "a second rotation was started: {} (trigger {trigger}, {})",
                    t.name,
                    t.phase()
                ),
            );
        }
    }

    // The person's clean-up. Recipes left stopped by design: the person starts them in Workato,
    // after which every finding clears (I1: "until a person resolves it").
    for id in 1001..=1009 {
        if before.get(&id).copied().unwrap_or(false) && !running(&w.state().await)[&id] {
            person_starts_recipe(&w.emu, id).await;
            rep.person_started.push(id);
        }
    }
    if !rep.person_started.is_empty() {
        let cleared = wait_for(SHOW_WITHIN, || async {
            let rots = w.rotations().await?;
            let m = w.op.metrics().await?;
            for r in &rots {
                if condition(r, "RecipesRestarted").is_some_and(|c| c.0 == "False") {
                    return None;
                }
                let label = format!("name=\"{}\"", name_of(r));
                if metric_sum(&m, "trackvia_operator_recipes_left_stopped", &[&label]) > 0.0 {
                    return None;
                }
            }
            for conn in 100..=102 {
                let o = get_json::<WorkatoConnection>(&w.client, &w.ns, &wc_name(conn)).await?;
                condition(&o, "RecipesHealthy").filter(|c| c.0 == "True")?;
            }
            Some(())
        })
        .await;
        if !cleared {
            rep.violation(
                Inv::I1,
                format!(
                    "after the person started recipes {:?}, a rotation, the metric or a WorkatoConnection still reports them within {SHOW_WITHIN:?}",
                    rep.person_started
                ),
            );
        }
    }
    // A deleted rotation that waited for a person goes now (I4).
    if let Some((uid, name)) = &seen.deleted {
        let still = || async {
            w.rotations()
                .await
                .and_then(|rs| rs.into_iter().find(|r| uid_of(r) == *uid))
        };
        let gone = wait_for(SHOW_WITHIN, || async {
            w.rotations()
                .await?
                .iter()
                .all(|r| uid_of(r) != *uid)
                .then_some(())
        })
        .await;
        if !gone {
            let r = still().await;
            rep.violation(
                Inv::I4,
                format!(
                    "the deleted rotation {name} is still there with everything running: Ready {:?}",
                    r.as_ref().and_then(|r| condition(r, "Ready"))
                ),
            );
        }
    }
    // A token the person placed and no rotation published: the person puts the published one
    // back (the account does not try a token twice).
    let published_now = w
        .secret_value("sf-credentials", "authToken")
        .await
        .unwrap_or(published.clone());
    if w.secret_value("sf-token", "token").await.as_deref() != Some(published_now.as_str()) {
        w.put_token(&published_now).await;
        rep.happened
            .push("the person put the published token back in the token Secret".into());
    }

    // The IntegrationAccount settles on what was published.
    let ias: Api<IntegrationAccount> = Api::namespaced(w.client.clone(), &w.ns);
    let settled = tokio::time::timeout(SHOW_WITHIN, async {
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
            Inv::Settles,
            "the IntegrationAccount did not settle (Ready, published = current token) within 60 s".into(),
        );
    }
    for uid in seen.tracked.keys() {
        w.known.insert(uid.clone());
    }
    for r in w.rotations().await.unwrap_or_default() {
        w.known.insert(uid_of(&r));
    }
    // The campaign continues from the token now published; every other token of the integration
    // user goes (TrackVia keeps at most 100).
    let state = w.state().await;
    let toks = tokens(&state);
    match toks.get(&published_now) {
        Some((id, true)) => w.token = (*id, published_now.clone()),
        _ => {
            rep.violation(
                Inv::I5,
                "at the end the credentials Secret holds a token TrackVia rejects".into(),
            );
            rep.fatal = true;
        }
    }
    for (value, (id, _)) in &toks {
        if *value != published_now && *id != 1 {
            w.delete(&format!("trackvia/accounts/{SANDBOX}/tokens/{id}"))
                .await;
        }
    }
}

/// I10's bound within the persistent fault's window for a path of endpoint `e`: each controller
/// that calls it for the rotation gets the rotation's budget, `I10_WINDOW_BOUND` (the rotation,
/// and for TrackVia's validation endpoints the IntegrationAccount, which validates the same new
/// token); endpoints other controllers poll on their own interval (the workspace check `GET
/// /api/recipes`, the WorkatoConnections' shared inventories `GET /api/connections` and `GET
/// /api/recipes`, every 5 s in the campaign) get 4 attempts per poll on top.
fn i10_window_bound(e: &Endpoint) -> usize {
    let callers = match (e.service.as_str(), e.method.as_str(), e.template.as_str()) {
        ("trackvia", "GET", "/openapi/views" | "/openapi/apps") => 2,
        _ => 1,
    };
    let pollers = match (e.service.as_str(), e.method.as_str(), e.template.as_str()) {
        ("workato", "GET", "/api/recipes") => 2,
        ("workato", "GET", "/api/connections") => 1,
        _ => 0,
    };
    callers * I10_WINDOW_BOUND + pollers * 4 * (PERSISTENT_WINDOW.as_secs() as usize / 5 + 1)
}

/// Polls `f` every 250 ms until it returns `Some` (true) or `timeout` passes (false).
async fn wait_for<F, Fut>(timeout: Duration, f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<()>>,
{
    wait_until(Instant::now() + timeout, f).await
}

/// Polls `f` every 250 ms until it returns `Some` (true) or `deadline` passes (false); `f` runs
/// at least once.
async fn wait_until<F, Fut>(deadline: Instant, mut f: F) -> bool
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

fn runs_from_env(matrix: usize) -> usize {
    match std::env::var("FAULT_RUNS").ok().as_deref().map(str::trim) {
        Some("all") => matrix,
        Some(n) => n.parse().unwrap_or(DEFAULT_RUNS),
        None => DEFAULT_RUNS,
    }
}

fn print_run(plan: &Plan, rep: &Report) {
    for (inv, v) in &rep.violations {
        println!("      VIOLATION [{}] {v}", inv.short());
    }
    if !rep.violations.is_empty() {
        println!(
            "      replay: FAULT_SEED as printed above; run {} event {}; rotation status: {}",
            plan.index,
            plan.event_label(),
            rep.status_json
        );
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
        known: BTreeSet::new(),
        decoys: BTreeMap::new(),
        secrets: BTreeMap::new(),
    };
    w.known = list_retry(
        &Api::<CredentialRotation>::namespaced(client.clone(), &ns),
        KUBE_RETRY,
    )
    .await
    .iter()
    .map(|r| uid_of(&json_of(r)))
    .collect();
    // I8: Secrets that are not the operator's, one at a name like a rotation's old-token Secret.
    for name in ["run-2-old-token", "foreign-settings"] {
        assert!(w.decoy(name).await, "creating decoy {name}");
    }
    w.secrets = w
        .secrets_now()
        .await
        .into_iter()
        .map(|(n, (o, _))| (n, o))
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
        let plan = Plan::clean(i, strategy);
        let rep = run(&mut w, &plan).await;
        println!(
            "  baseline {:<7} {:>5.1} s  {}  violations {}",
            strategy.label(),
            rep.duration.as_secs_f64(),
            rep.outcome,
            rep.violations.len()
        );
        print_run(&plan, &rep);
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
    // The events, in rounds of seven in a drawn order: 7 runs cover every event.
    let mut events_order: Vec<Event> = Vec::new();
    while events_order.len() < runs {
        let mut round = Event::DRAWN.to_vec();
        w.rng.shuffle(&mut round);
        events_order.extend(round);
    }
    println!(
        "  {runs} runs (FAULT_RUNS; matrix of {} endpoint x fault pairs), API server restart in run {}",
        matrix.len(),
        restart_run.map_or("-".into(), |r| (r + 2).to_string())
    );

    for i in 0..runs {
        let (endpoint, kind) = matrix[i % matrix.len()].clone();
        let mut event = events_order[i];
        let sar_ok = used[&endpoint].contains("SAR");
        let overlap_ok = used[&endpoint].contains("Overlap");
        if event.sar_only() && !sar_ok {
            event = Event::None;
        }
        let strategy = if event.sar_only() || !overlap_ok {
            Strategy::StopAndRestart
        } else if !sar_ok || w.rng.bool() {
            Strategy::Overlap
        } else {
            Strategy::StopAndRestart
        };
        let span = clean[strategy.label()].as_secs_f64();
        let mut plan = Plan {
            index: i + 2,
            strategy,
            fault: Some((endpoint, kind)),
            kill_after: Some(Duration::from_secs_f64(w.rng.f64() * span)),
            apiserver_restart_after: (restart_run == Some(i))
                .then(|| Duration::from_secs_f64(w.rng.f64() * span * 0.6)),
            ..Plan::clean(i + 2, strategy)
        };
        plan.event = event;
        match event {
            Event::TokenReplaced => plan.replace_at_verified = w.rng.usize(1..=2),
            Event::FailedTest => plan.failed_conn = w.rng.i64(100..=102),
            Event::StartRefused => plan.refused_recipe = w.rng.i64(1001..=1009),
            Event::Deleted => plan.delete_after = Duration::from_secs_f64(0.3 + w.rng.f64() * span),
            Event::Scheduled => plan.approve_after = Duration::from_secs_f64(0.5 + w.rng.f64() * 3.5),
            Event::Persistent => plan.persistent_status = [500, 502, 503, 504][w.rng.usize(0..4)],
            Event::None => {}
        }
        plan.decoy = strategy == Strategy::Overlap && w.rng.usize(0..4) == 0;
        println!(
            "  run {:>3} {:<7} event: {}",
            plan.index,
            strategy.label(),
            plan.event_label()
        );
        let rep = run(&mut w, &plan).await;
        let (e, k) = plan.fault.as_ref().unwrap();
        println!(
            "  run {:>3} {:<7} {:<16} {:<46} fired {:<5}  kill@{:<5} ({:<18}) {}{:>6.1} s  {:<18} violations {}",
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
        println!(
            "          {}{}{}; I10 worst {} on {}{}",
            if rep.happened.is_empty() {
                "-".to_owned()
            } else {
                rep.happened.join("; ")
            },
            rep.followups
                .iter()
                .map(|(n, o)| format!("; follow-up {n} {o}"))
                .collect::<String>(),
            if rep.person_started.is_empty() {
                String::new()
            } else {
                format!("; the person started {:?}", rep.person_started)
            },
            rep.worst_errors.0,
            if rep.worst_errors.1.is_empty() {
                "-"
            } else {
                rep.worst_errors.1.as_str()
            },
            rep.window_errors.as_ref().map_or(String::new(), |(n, p)| format!(
                "; {n} in the persistent window on {p}"
            )),
        );
        print_run(&plan, &rep);
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
    if violations > 0 {
        println!(
            "to replay: FAULT_SEED={fault_seed} FAULT_RUNS={} make fault-test",
            reports.len() - 2
        );
        for (p, r) in reports.iter().filter(|(_, r)| !r.violations.is_empty()) {
            println!(
                "  run {} ({}, fault {}, event {}): {}",
                p.index,
                p.strategy.label(),
                p.fault
                    .as_ref()
                    .map_or("-".into(), |(e, k)| format!("{} on {}", k.label(), e.label())),
                p.event_label(),
                r.violations
                    .iter()
                    .map(|(i, v)| format!("[{}] {v}", i.short()))
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
        }
    }
    assert_eq!(
        violations,
        0,
        "invariant violations with FAULT_SEED={fault_seed} (see the table above and {})",
        w.op.log.display()
    );
    assert!(
        reports.iter().all(|(_, r)| !r.fatal),
        "the campaign did not finish (FAULT_SEED={fault_seed})"
    );
}

#[allow(clippy::too_many_lines)] // one row after the other
fn table(reports: &[(Plan, Report)], seed: u64, took: Duration, w: &World) -> String {
    let mut injected: BTreeMap<&str, usize> = BTreeMap::new();
    let mut fired: BTreeMap<&str, usize> = BTreeMap::new();
    let mut logged: BTreeMap<&str, usize> = BTreeMap::new();
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut kill_phases: BTreeMap<String, usize> = BTreeMap::new();
    let mut endpoints_hit: BTreeSet<String> = BTreeSet::new();
    let mut not_fired: Vec<String> = Vec::new();
    let mut drawn: BTreeMap<Event, (usize, usize)> = BTreeMap::new();
    let mut per_inv: BTreeMap<Inv, usize> = BTreeMap::new();
    for (p, r) in reports {
        if let Some((e, k)) = &p.fault {
            *injected.entry(k.label()).or_default() += 1;
            if r.fired {
                *fired.entry(k.label()).or_default() += 1;
                endpoints_hit.insert(e.label());
            } else {
                not_fired.push(format!("{} on {}", k.label(), e.label()));
            }
            let d = drawn.entry(p.event).or_default();
            d.0 += 1;
            d.1 += usize::from(r.event_took || p.event == Event::None);
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
        for (i, _) in &r.violations {
            *per_inv.entry(*i).or_default() += 1;
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
    let followups: Vec<String> = reports
        .iter()
        .flat_map(|(p, r)| {
            r.followups
                .iter()
                .map(move |(n, o)| format!("run {} {} {o}", p.index, &n[..n.len().min(24)]))
        })
        .collect();
    let person: Vec<String> = reports
        .iter()
        .filter(|(_, r)| !r.person_started.is_empty())
        .map(|(p, r)| format!("run {} {:?}", p.index, r.person_started))
        .collect();
    let decoys: usize = reports.iter().map(|(_, r)| r.decoys).sum::<usize>() + 2;
    let worst = reports
        .iter()
        .max_by_key(|(_, r)| r.worst_errors.0)
        .map(|(p, r)| format!("{} ({}, run {})", r.worst_errors.0, r.worst_errors.1, p.index))
        .unwrap_or_default();
    let windows: Vec<String> = reports
        .iter()
        .filter_map(|(p, r)| {
            let (n, path) = r.window_errors.as_ref()?;
            let (e, _) = p.fault.as_ref()?;
            Some(format!(
                "run {}: {n} on {path} (bound {})",
                p.index,
                i10_window_bound(e)
            ))
        })
        .collect();
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
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.join("; ")
        }
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
    let _ = writeln!(t, "| injected faults that never fired | {} |", list(&not_fired));
    let _ = writeln!(
        t,
        "| events drawn (took effect) | {} |",
        Event::DRAWN
            .iter()
            .map(|e| {
                let (n, took) = drawn.get(e).copied().unwrap_or_default();
                format!("{} {n} ({took})", e.label())
            })
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        t,
        "| follow-up rotations (the account's, for the token left after a failure) | {} {} |",
        followups.len(),
        list(&followups)
    );
    let _ = writeln!(
        t,
        "| recipes left stopped by design, started by the person after the checks | {} |",
        list(&person)
    );
    let _ = writeln!(
        t,
        "| decoy Secrets (not the operator's) | {decoys} (2 at the start, the rest at Overlap rotations' old-token names) |"
    );
    let _ = writeln!(
        t,
        "| I10: most error answers on one path in a run | {worst} (bound {I10_RUN_BOUND}) |"
    );
    let _ = writeln!(
        t,
        "| I10: error answers in the {} s persistent-fault windows | {} |",
        PERSISTENT_WINDOW.as_secs(),
        list(&windows)
    );
    let _ = writeln!(t, "| repeated stop/start calls Workato refused | {repeats} |");
    let _ = writeln!(t, "| operator exits by itself | {exits} |");
    let _ = writeln!(t, "| run duration | mean {mean:.1} s, max {max:.1} s |");
    for inv in Inv::ALL {
        let _ = writeln!(
            t,
            "| {} | {} |",
            inv.label(),
            per_inv.get(&inv).copied().unwrap_or(0)
        );
    }
    let _ = writeln!(t, "| **invariant violations** | **{violations}** (target 0) |");
    let _ = writeln!(t, "| campaign wall time | {:.0} s |", took.as_secs_f64());
    t
}
