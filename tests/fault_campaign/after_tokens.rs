//! The checks after a run about tokens, calls and objects: I3 (one token), I5 (errors are not
//! facts), I6 (no stop before the approval), I7 (environment guard), I8 (nothing foreign deleted),
//! I10 (bounded retries) and one rotation per run.

use std::collections::{BTreeMap, BTreeSet};

use trackvia_operator::api::WorkatoConnection;

use crate::after::After;
use crate::plan::{Event, i10_window_bound};
use crate::report::{Inv, Report};
use crate::support::internals::TRIGGER_LABEL;
use crate::support::world::{condition, connections_in, get_json};
use crate::world::{World, is_error, items, path_id, seq, wait_until, wc_name};
use crate::{I10_RUN_BOUND, PERSISTENT_WINDOW, SHOW_WITHIN};

pub async fn one_token(w: &World, rep: &mut Report, a: &After<'_>) {
    let (rots, state, published, show_deadline) = (&a.rots, &a.state, &a.published, a.show_deadline);
    // I3: every connection on the published token (unless a rotation names it RollbackFailed);
    // no WorkatoConnection left RotationPending.
    let named: BTreeSet<i64> = rots
        .iter()
        .flat_map(|r| items(r, "connections"))
        .filter(|(_, _, s)| s == "RollbackFailed")
        .map(|(id, _, _)| id)
        .collect();
    for (id, (token, _)) in connections_in(state) {
        if (100..=102).contains(&id) && token != *published && !named.contains(&id) {
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
}

pub fn errors_are_not_facts(rep: &mut Report, a: &After<'_>) {
    let (plan, seen, evs, sar, run_t, run_outcome) = (a.plan, a.seen, &a.evs, a.sar, a.run_t, &a.run_outcome);
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
}

pub fn no_unattended_outage(rep: &mut Report, a: &After<'_>) {
    let (plan, seen, run_t) = (a.plan, a.seen, a.run_t);
    let calls = &seen.calls;
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
}

pub fn environment_guard(rep: &mut Report, a: &After<'_>) {
    let calls = &a.seen.calls;
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
}

pub async fn nothing_foreign_deleted(w: &mut World, rep: &mut Report) {
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
}

pub fn bounded_retries(rep: &mut Report, a: &After<'_>) {
    let seen = a.seen;
    let calls = &seen.calls;
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
}

pub fn one_rotation_per_run(rep: &mut Report, a: &After<'_>) {
    let (seen, run_outcome) = (a.seen, &a.run_outcome);
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
}
