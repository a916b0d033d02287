//! The person's steps during a run: the token of a StopAndRestart (regenerated in place, or
//! mistyped first), the old token's deactivation in Overlap, and the plan's event (decoys, a
//! second token mid-switch, the deletion, the late approval).

use std::time::{Duration, Instant};

use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};
use trackvia_operator::api::CredentialRotation;

use crate::plan::{Event, Plan};
use crate::report::{Inv, Report};
use crate::run::{Loop, Start, View};
use crate::support::internals::APPROVED_ANNOTATION;
use crate::support::world::{phase, running_in};
use crate::world::{Seen, World, items, name_of, terminal, uid_of};

/// The person's steps: the token of a StopAndRestart, the old token's deactivation in Overlap,
/// and the plan's event (decoys, a second token, the deletion, the approval).
pub async fn person_steps(
    w: &mut World,
    plan: &Plan,
    start: &Start,
    rep: &mut Report,
    seen: &mut Seen,
    lp: &mut Loop,
    view: &View,
) {
    if start.sar && seen.deleted.is_none() && view.run_phase == "WaitingForToken" {
        place_token_when_waiting(w, plan, start, rep, seen, lp, view).await;
    }
    // Overlap: the person deactivates the old token when asked to.
    if !start.sar
        && seen.deactivated.is_none()
        && seen
            .tracked
            .values()
            .any(|t| !t.gone && t.phase() == "AwaitingRevocation")
    {
        deactivate_old(w, start, seen, lp).await;
    }
    if plan.decoy
        && !lp.decoy_tried
        && let Some(r) = &view.run_rot
    {
        lp.decoy_tried = true;
        place_decoys(w, rep, seen, r).await;
    }
    if !start.sar && plan.event == Event::TokenReplaced && !lp.replaced {
        replace_token_mid_switch(w, plan, rep, seen, lp, view).await;
    }
    if plan.event == Event::Deleted
        && !lp.delete_done
        && lp.started.elapsed() >= plan.delete_after
        && let Some(r) = &view.run_rot
    {
        delete_rotation(w, rep, seen, lp, r).await;
    }
    if plan.event == Event::Scheduled && seen.approved.is_none() {
        approve_late(w, plan, start, rep, seen, lp, view).await;
    }
}

/// The person deactivates the old token (its moment is recorded in the call log's order).
async fn deactivate_old(w: &World, start: &Start, seen: &mut Seen, lp: &mut Loop) {
    lp.last_seq = w.fetch_calls(&mut seen.calls, lp.last_seq).await;
    w.deactivate(start.old.0).await;
    seen.deactivated = Some((lp.last_seq, jiff::Timestamp::now()));
}

/// StopAndRestart, the rotation waits for the token: the person regenerates it in place (the old
/// one dies, the new one goes into the Secret); with TokenReplaced, mistyped first.
async fn place_token_when_waiting(
    w: &mut World,
    plan: &Plan,
    start: &Start,
    rep: &mut Report,
    seen: &mut Seen,
    lp: &mut Loop,
    view: &View,
) {
    if plan.event != Event::TokenReplaced {
        if seen.placed.is_empty() {
            deactivate_old(w, start, seen, lp).await;
            let t = w.new_token(plan.index).await;
            w.put_token(&t.1).await;
            seen.placed.push(t);
        }
        return;
    }
    match &lp.bogus {
        None => {
            // Regenerate in place, and mistype the new token.
            deactivate_old(w, start, seen, lp).await;
            let typo = format!("sf-typo-{}-{:08x}", plan.index, w.rng.u32(..));
            w.put_token(&typo).await;
            lp.bogus = Some((typo, Instant::now()));
        }
        Some((_, at)) if seen.placed.is_empty() => {
            let rejected = view
                .run_rot
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
}

/// Overlap: decoys (not the operator's) at the names of the rotation's old-token Secret (I8).
async fn place_decoys(w: &mut World, rep: &mut Report, seen: &mut Seen, r: &Value) {
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

/// TokenReplaced, Overlap: a second token while the connections switch.
async fn replace_token_mid_switch(
    w: &mut World,
    plan: &Plan,
    rep: &mut Report,
    seen: &mut Seen,
    lp: &mut Loop,
    view: &View,
) {
    let verified = view.run_rot.as_ref().map_or(0, |r| {
        items(r, "connections")
            .iter()
            .filter(|(_, _, s)| s == "Verified")
            .count()
    });
    if view.run_phase == "Switching" && verified >= plan.replace_at_verified {
        let t = w.new_token(plan.index).await;
        w.put_token(&t.1).await;
        seen.placed.push(t);
        lp.replaced = true;
        rep.event_took = true;
        rep.happened.push(format!(
            "second token placed in Switching with {verified} verified"
        ));
    } else if matches!(
        view.run_phase.as_str(),
        "Publishing" | "AwaitingRevocation" | "Succeeded" | "Failed" | "Aborted"
    ) {
        lp.replaced = true;
        rep.happened.push(format!(
            "second token NOT placed: the rotation reached {} first",
            view.run_phase
        ));
    }
}

/// Deleted: the person deletes the rotation mid-way.
async fn delete_rotation(w: &World, rep: &mut Report, seen: &mut Seen, lp: &mut Loop, r: &Value) {
    if terminal(phase(r)) {
        lp.delete_done = true;
        rep.happened
            .push(format!("NOT deleted: the rotation finished first ({})", phase(r)));
    } else if Api::<CredentialRotation>::namespaced(w.client.clone(), &w.ns)
        .delete(&name_of(r), &DeleteParams::default())
        .await
        .is_ok()
    {
        lp.delete_done = true;
        rep.event_took = true;
        seen.deleted = Some((uid_of(r), name_of(r)));
        lp.deleted_at = Some((Instant::now(), phase(r).to_owned()));
    }
}

/// Scheduled: the person approves after a while; nothing is stopped before (I6).
async fn approve_late(
    w: &World,
    plan: &Plan,
    start: &Start,
    rep: &mut Report,
    seen: &mut Seen,
    lp: &mut Loop,
    view: &View,
) {
    let run_phase = view.run_phase.as_str();
    if run_phase == "AwaitingApproval" {
        seen.awaited_approval = true;
        lp.awaiting_since.get_or_insert_with(Instant::now);
    } else if !matches!(run_phase, "" | "Pending" | "Queued") {
        rep.violation(
            Inv::I6,
            format!("the scheduled rotation went to {run_phase} before a person approved it"),
        );
    }
    let now = running_in(&view.state);
    let stopped: Vec<i64> = start
        .before
        .iter()
        .filter(|(id, was)| **was && !now.get(*id).copied().unwrap_or(false))
        .map(|(id, _)| *id)
        .collect();
    if !stopped.is_empty() {
        rep.violation(
            Inv::I6,
            format!("recipes {stopped:?} stopped before the approval"),
        );
    }
    if let Some(since) = lp.awaiting_since
        && since.elapsed() >= plan.approve_after
    {
        lp.last_seq = w.fetch_calls(&mut seen.calls, lp.last_seq).await;
        let at = jiff::Timestamp::now();
        let patch = json!({"metadata": {"annotations": {APPROVED_ANNOTATION: "true"}}});
        if Api::<CredentialRotation>::namespaced(w.client.clone(), &w.ns)
            .patch(&start.rot_name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .is_ok()
        {
            seen.approved = Some((lp.last_seq, at));
            rep.event_took = true;
            rep.happened.push(format!(
                "approved {:.1} s after the trigger",
                lp.started.elapsed().as_secs_f64()
            ));
        }
    }
}
