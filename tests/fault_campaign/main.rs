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
//!
//! Modules: `plan` (what a run does), `run` (one run, tick by tick), `person` (the person's steps),
//! `during` and `quiet` (checks at every tick, the end of a run), `after`, `after_recipes`,
//! `after_tokens` and `cleanup` (the checks after a run, the person's clean-up), `report` and
//! `table` (what the campaign prints), `world` (the campaign's world and observations).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)] // test code: failing loudly is the point; the campaign prints its table

#[path = "../support/mod.rs"]
mod support;

mod after;
mod after_recipes;
mod after_tokens;
mod cleanup;
mod during;
mod person;
mod plan;
mod quiet;
mod report;
mod run;
mod table;
mod world;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kube::api::Api;
use serde_json::json;
use trackvia_operator::api::CredentialRotation;

use plan::{Endpoint, Event, Kind, Plan, Strategy, runs_from_env};
use report::{Report, print_run};
use support::chaos::{self, list_retry};
use support::operator::{Emulators, Operator};
use support::world::{OLD as FIRST_TOKEN, json_of, seed, setup_sandbox_only};
use world::{World, uid_of};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the emulator serves while the test blocks
#[ignore = "needs a kube-apiserver: run `make test` or `make fault-test`"]
async fn rotations_survive_kills_an_api_server_restart_and_vendor_faults() {
    let campaign_start = Instant::now();
    let fault_seed = chaos::seed_from_env();
    println!("fault campaign: FAULT_SEED={fault_seed}");
    let mut w = start_world(fault_seed).await;
    let (mut reports, clean, used) = baselines(&mut w).await;
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
        let plan = draw_plan(
            &mut w,
            i,
            endpoint,
            kind,
            events_order[i],
            &used,
            &clean,
            restart_run,
        );
        println!(
            "  run {:>3} {:<7} event: {}",
            plan.index,
            plan.strategy.label(),
            plan.event_label()
        );
        let rep = run::run(&mut w, &plan).await;
        print_run_line(&plan, &rep);
        print_run(&plan, &rep);
        let fatal = rep.fatal;
        reports.push((plan, rep));
        if fatal {
            println!("  the campaign stops: run {} left nothing to rotate from", i + 2);
            break;
        }
    }
    finish(&reports, fault_seed, campaign_start.elapsed(), &w);
}

/// The namespace, the emulators, the operator (with the campaign's vendor timeout), the world
/// set up, and two decoy Secrets (I8).
async fn start_world(fault_seed: u64) -> World {
    let (client, ns) = support::cluster("faults").await;
    let emu = Emulators::start(&seed()).await;
    let op = Operator::start_with(
        &ns,
        &format!("{ns}-operator"),
        &["--vendor-request-timeout", CLIENT_TIMEOUT],
        &[],
    );
    // No PROD workspace: the campaign counts any call to it as a violation of the guard (I7).
    setup_sandbox_only(
        &client,
        &ns,
        &emu,
        json!({"newTokenTimeout": "1h", "revocationGracePeriod": "1h"}),
    )
    .await;
    let mut w = World {
        client: client.clone(),
        ns: ns.clone(),
        emu,
        op,
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
    w
}

/// Baseline: one clean rotation of each strategy, for the endpoints the operator uses (and which
/// strategy used each) and the duration the kill moments are drawn from.
#[allow(clippy::type_complexity)]
async fn baselines(
    w: &mut World,
) -> (
    Vec<(Plan, Report)>,
    BTreeMap<&'static str, Duration>,
    BTreeMap<Endpoint, BTreeSet<&'static str>>,
) {
    let mut reports: Vec<(Plan, Report)> = Vec::new();
    let mut clean = BTreeMap::new();
    let mut used: BTreeMap<Endpoint, BTreeSet<&'static str>> = BTreeMap::new();
    for (i, strategy) in [Strategy::StopAndRestart, Strategy::Overlap]
        .into_iter()
        .enumerate()
    {
        let plan = Plan::clean(i, strategy);
        let rep = run::run(w, &plan).await;
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
    (reports, clean, used)
}

/// Run `i + 2`'s plan: its fault, a strategy that uses the faulted endpoint, the kill moment and
/// the API server restart drawn within a clean run's duration, and the event's details.
#[allow(clippy::too_many_arguments)]
fn draw_plan(
    w: &mut World,
    i: usize,
    endpoint: Endpoint,
    kind: Kind,
    mut event: Event,
    used: &BTreeMap<Endpoint, BTreeSet<&'static str>>,
    clean: &BTreeMap<&'static str, Duration>,
    restart_run: Option<usize>,
) -> Plan {
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
    plan
}

/// The run's line: its fault, kill, API server restart, outcome, what the event did, I10.
fn print_run_line(plan: &Plan, rep: &Report) {
    let (e, k) = plan.fault.as_ref().unwrap();
    println!(
        "  run {:>3} {:<7} {:<16} {:<46} fired {:<5}  kill@{:<5} ({:<18}) {}{:>6.1} s  {:<18} violations {}",
        plan.index,
        plan.strategy.label(),
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
}

/// The table (printed, and written to target/fault-campaign.txt), the replay line, and the
/// campaign's verdict.
fn finish(reports: &[(Plan, Report)], fault_seed: u64, took: Duration, w: &World) {
    let table = table::table(reports, fault_seed, took, w);
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
