//! One run: a rotation under the plan's fault, SIGKILL, API server restart and event, watched
//! tick by tick (the checks that must hold at every moment, the person's steps) until it and any
//! rotation the account starts after it have finished and the account has taken them in; then the
//! checks after it (`after.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::task::JoinHandle;
use trackvia_operator::api::CredentialRotation;

use crate::during::{check_before_steps, check_published};
use crate::plan::{Endpoint, Event, Kind, Plan, Strategy};
use crate::quiet::AccountSaw;
use crate::report::{Inv, Report, dump};
use crate::support::internals::TRIGGER_LABEL;
use crate::support::world::{failed_test, phase, running_in, start_refused};
use crate::world::{Seen, Tracked, World, name_of, recipe_connections, uid_of};
use crate::{PERSISTENT_WINDOW, RUN_DEADLINE, support};

/// What a run starts from.
pub struct Start {
    pub sar: bool,
    /// Recipe id -> running, before the run.
    pub before: BTreeMap<i64, bool>,
    /// Recipe id -> its connection.
    pub conn_of: BTreeMap<i64, i64>,
    /// The token in use before the run (emulator id, value).
    pub old: (i64, String),
    /// The name a StopAndRestart run gives its rotation.
    pub rot_name: String,
    fault_id: Option<i64>,
    event_fault: Option<i64>,
    pub persistent_id: Option<i64>,
}

/// What the loop keeps between its ticks.
pub struct Loop {
    pub started: Instant,
    pub last_seq: u64,
    pub killed: bool,
    pub restart_op_at: Option<Instant>,
    pub restart: Option<JoinHandle<Result<Duration, String>>>,
    pub last_phase: String,
    /// The person's mistyped token (TokenReplaced, StopAndRestart) and when it was placed.
    pub bogus: Option<(String, Instant)>,
    pub replaced: bool,
    pub delete_done: bool,
    pub deleted_at: Option<(Instant, String)>,
    pub awaiting_since: Option<Instant>,
    pub decoy_tried: bool,
    pub quiet_since: Option<Instant>,
    /// Evidence that the account looked after the run went quiet (replaces a fixed hold).
    pub account_saw: Option<AccountSaw>,
}

/// What one tick observed.
pub struct View {
    /// Every CredentialRotation; `None` when the list failed (not "none exist").
    pub rots: Option<Vec<Value>>,
    /// The emulator's state right after.
    pub state: Value,
    /// The token in the credentials Secret right after.
    pub published: Option<String>,
    /// Uids of the rotations seen gone this tick.
    pub newly_gone: Vec<String>,
    /// The run's rotation, while it exists.
    pub run_rot: Option<Value>,
    pub run_phase: String,
}

/// One rotation under the plan's faults and event; every invariant checked.
pub async fn run(w: &mut World, plan: &Plan) -> Report {
    let mut rep = Report::default();
    let start = arm(w, plan).await;
    let mut seen = Seen::default();
    let mut lp = Loop {
        started: Instant::now(),
        last_seq: 0,
        killed: false,
        restart_op_at: None,
        restart: None,
        last_phase: String::from("(no rotation yet)"),
        bogus: None,
        replaced: false,
        delete_done: false,
        deleted_at: None,
        awaiting_since: None,
        decoy_tried: false,
        quiet_since: None,
        account_saw: None,
    };
    trigger(w, plan, &start, &mut seen).await;
    let start = Start {
        persistent_id: persistent_fault(w, plan).await,
        ..start
    };
    loop {
        if !chaos(w, plan, &mut rep, &mut lp).await {
            break;
        }
        let view = observe(w, plan, &start, &mut seen, &mut lp, &mut rep).await;
        check_before_steps(&mut rep, &mut seen, &view, &start, &lp);
        crate::person::person_steps(w, plan, &start, &mut rep, &mut seen, &mut lp, &view).await;
        check_published(&mut rep, &seen, &view, &start, &lp);
        if crate::quiet::done(w, &start, &seen, &mut lp, &view).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wrap_up(w, plan, &start, &mut rep, &mut seen, &lp).await;
    if rep.fatal {
        return rep;
    }
    crate::after::check_after(w, plan, &mut rep, &seen, &start.before, &start.conn_of).await;
    if !rep.violations.is_empty() {
        dump(w, plan, &rep, &seen);
    }
    rep
}

/// Resets the emulators' call log and rate limits, reads the world before the run and arms the
/// plan's one-shot fault and the event's fault.
async fn arm(w: &mut World, plan: &Plan) -> Start {
    w.emu.reset_calls().await;
    // Runs are independent: Workato's rate-limit buckets start full (a run makes ~40 recipe
    // calls; back to back, runs would only measure the 60/min budget).
    w.emu.delete("rate-limits").await;
    let state0 = w.state().await;
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
    Start {
        sar: plan.strategy == Strategy::StopAndRestart,
        before: running_in(&state0),
        conn_of: recipe_connections(&state0),
        old: w.token.clone(),
        rot_name: format!("run-{}", plan.index),
        fault_id,
        event_fault,
        persistent_id: None,
    }
}

/// StopAndRestart: a rotation by hand (labelled scheduled for that event); Overlap: the person
/// places a new token.
async fn trigger(w: &mut World, plan: &Plan, start: &Start, seen: &mut Seen) {
    if start.sar {
        let mut metadata = json!({"name": start.rot_name});
        if plan.event == Event::Scheduled {
            metadata["labels"] = json!({TRIGGER_LABEL: "scheduled"});
        }
        support::create::<CredentialRotation>(&w.client, &w.ns, json!({
            "apiVersion": support::API, "kind": "CredentialRotation", "metadata": metadata,
            "spec": {"integrationAccountRef": {"name": "sf"}, "strategy": "StopAndRestart", "reason": "fault campaign"}
        })).await;
    } else {
        let t = w.new_token(plan.index).await;
        w.put_token(&t.1).await;
        seen.placed.push(t);
    }
}

/// The `persistent` event's fault on the run's endpoint (removed after its window).
async fn persistent_fault(w: &World, plan: &Plan) -> Option<i64> {
    if plan.event != Event::Persistent {
        return None;
    }
    let (e, _) = plan.fault.as_ref()?;
    let f = json!({"service": e.service, "method": e.method, "route": e.template,
                   "status": plan.persistent_status, "count": 1_000_000});
    w.emu.control("faults", f).await["id"].as_i64()
}

/// The run's deadline, the API server restart, the SIGKILL and the operator's comeback, and a
/// crash. False when the run must end (its deadline passed).
async fn chaos(w: &mut World, plan: &Plan, rep: &mut Report, lp: &mut Loop) -> bool {
    let elapsed = lp.started.elapsed();
    if elapsed > RUN_DEADLINE {
        rep.violation(
            Inv::Finishes,
            format!(
                "the run did not finish within {RUN_DEADLINE:?} (last phase {})",
                lp.last_phase
            ),
        );
        rep.fatal = true;
        return false;
    }
    if let Some(at) = plan.apiserver_restart_after
        && lp.restart.is_none()
        && rep.apiserver_away.is_none()
        && elapsed >= at
    {
        println!(
            "    restarting the API server at {:.1} s (phase {})",
            elapsed.as_secs_f64(),
            lp.last_phase
        );
        lp.restart = Some(tokio::task::spawn_blocking(
            crate::support::chaos::restart_apiserver,
        ));
    }
    if let Some(h) = &lp.restart
        && h.is_finished()
    {
        let away = lp
            .restart
            .take()
            .unwrap()
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{e}"));
        rep.apiserver_away = Some(away);
    }
    if let Some(at) = plan.kill_after
        && !lp.killed
        && elapsed >= at
    {
        w.op.kill();
        lp.killed = true;
        rep.kill_phase = Some(lp.last_phase.clone());
        // A pod comes back after a moment.
        lp.restart_op_at = Some(Instant::now() + Duration::from_millis(w.rng.u64(0..=1000)));
    }
    if let Some(at) = lp.restart_op_at
        && Instant::now() >= at
    {
        w.op.restart();
        lp.restart_op_at = None;
    }
    if lp.restart_op_at.is_none()
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
    true
}

/// The call log (and the persistent fault's end), then the rotations (the run's and any the
/// account starts after it), then what Workato and the credentials Secret say right after.
async fn observe(
    w: &World,
    plan: &Plan,
    start: &Start,
    seen: &mut Seen,
    lp: &mut Loop,
    rep: &mut Report,
) -> View {
    let elapsed = lp.started.elapsed();
    lp.last_seq = w.fetch_calls(&mut seen.calls, lp.last_seq).await;
    if let (Some(id), Some((e, _))) = (start.persistent_id, &plan.fault)
        && seen.persistent.is_none()
        && elapsed >= PERSISTENT_WINDOW
    {
        w.emu.delete(&format!("faults/{id}")).await;
        lp.last_seq = w.fetch_calls(&mut seen.calls, lp.last_seq).await;
        seen.persistent = Some((e.clone(), lp.last_seq));
        rep.event_took = true;
        rep.happened.push(format!(
            "persistent fault removed after {:.1} s",
            elapsed.as_secs_f64()
        ));
    }

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
            let t = seen
                .tracked
                .entry(uid.clone())
                .or_insert_with(|| Tracked::new(&name));
            t.saw(r);
            if seen.run_uid.is_none() && (!start.sar || name == start.rot_name) {
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
        lp.last_phase = match phase(r) {
            "" => "(no status yet)".to_owned(),
            p => p.to_owned(),
        };
    }
    let run_phase = run_rot.as_ref().map_or("", |r| phase(r)).to_owned();
    View {
        rots,
        state,
        published,
        newly_gone,
        run_rot,
        run_phase,
    }
}

/// After the loop: the persistent fault removed, the run's outcome, the faults that fired, and
/// every vendor route the run called.
async fn wrap_up(w: &World, plan: &Plan, start: &Start, rep: &mut Report, seen: &mut Seen, lp: &Loop) {
    let mut last_seq = lp.last_seq;
    rep.duration = lp.started.elapsed();
    if let Some(id) = start.persistent_id
        && seen.persistent.is_none()
    {
        w.emu.delete(&format!("faults/{id}")).await;
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
        || lp.last_phase.clone(),
        |t| match (t.outcome(), t.gone) {
            ("", true) => "(deleted)".to_owned(),
            ("", false) => t.phase().to_owned(),
            (o, _) => o.to_owned(),
        },
    );
    rep.status_json = run_t.map_or_else(String::new, |t| t.last["status"].to_string());
    if !lp.killed {
        rep.kill_phase = plan.kill_after.map(|_| "(finished first)".to_owned());
    }

    // The faults that fired, and every call of the run.
    let pending = w.emu.get("faults").await;
    let pending = pending["faults"]
        .as_array()
        .or(pending.as_array())
        .cloned()
        .unwrap_or_default();
    rep.fired = start
        .fault_id
        .is_some_and(|id| !pending.iter().any(|f| f["id"] == id));
    if let Some(id) = start.event_fault {
        let fired = !pending.iter().any(|f| f["id"] == id);
        rep.event_took = fired;
        rep.happened.push(format!(
            "{} fault {}",
            plan.event.label(),
            if fired { "fired" } else { "did NOT fire" }
        ));
    }
    if !pending.is_empty() {
        w.emu.delete("faults").await;
    }
    if rep.fatal {
        return;
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
}
