//! The checks that must hold at every moment of a run, made at every tick.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::report::{Inv, Report};
use crate::run::{Loop, Start, View};
use crate::support::world::{connections_in, running_in};
use crate::world::{Seen, Tracked, held, items, terminal, tokens};

/// The checks made before the person's steps of a tick: I4 when the deleted rotation goes, I2 on
/// recipes taken over, I2 when a rotation is first seen finished.
pub fn check_before_steps(rep: &mut Report, seen: &mut Seen, view: &View, start: &Start, lp: &Loop) {
    deleted_rotation_went(rep, seen, view, start, lp);
    inherited_recipes(rep, seen, view);
    if let Some(published) = &view.published {
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
            judge_finished(rep, t, &view.state, published, newest.as_deref(), &others);
            seen.tracked.get_mut(&uid).unwrap().judged = true;
        }
    }
}

/// I4: the deleted rotation goes only once what it stopped runs again, or another rotation has
/// taken it over (inheritedFrom).
fn deleted_rotation_went(rep: &mut Report, seen: &Seen, view: &View, start: &Start, lp: &Loop) {
    let (Some((uid, name)), Some(rots)) = (&seen.deleted, &view.rots) else {
        return;
    };
    if !view.newly_gone.contains(uid) {
        return;
    }
    let now = running_in(&view.state);
    let handed: BTreeSet<i64> = rots
        .iter()
        .flat_map(|r| r["status"]["recipes"].as_array().cloned().unwrap_or_default())
        .filter(|x| x["inheritedFrom"] == name.as_str() && held(x["state"].as_str().unwrap_or_default()))
        .filter_map(|x| x["id"].as_i64())
        .collect();
    let stray: Vec<i64> = start
        .before
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
    if let Some((at, ph)) = &lp.deleted_at {
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

/// I2: a recipe a rotation takes over from an earlier one (inheritedFrom) as stopped is stopped
/// in Workato when it is first listed.
fn inherited_recipes(rep: &mut Report, seen: &mut Seen, view: &View) {
    let now = running_in(&view.state);
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
}

/// The checks made after the person's steps of a tick. I5: the credentials Secret always holds a
/// token that works; the only exception is the person's own regeneration in a StopAndRestart run
/// (the old token dies while the recipes are stopped, until a rotation publishes the new one).
/// I9: a token TrackVia rejected never reaches a connection.
pub fn check_published(rep: &mut Report, seen: &Seen, view: &View, start: &Start, lp: &Loop) {
    let last_phase = &lp.last_phase;
    let old = &start.old;
    if let Some(published) = &view.published {
        let toks = tokens(&view.state);
        let active = toks.get(published).is_some_and(|t| t.1);
        let regenerated = start.sar && seen.deactivated.is_some() && *published == old.1;
        let expected = *published == old.1 || seen.placed.iter().any(|t| t.1 == *published);
        if lp.bogus.as_ref().is_some_and(|b| b.0 == *published) {
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
    if let Some((b, _)) = &lp.bogus {
        for (id, (token, _)) in connections_in(&view.state) {
            if token == *b {
                rep.violation(
                    Inv::I9,
                    format!("connection {id} holds the token TrackVia rejects"),
                );
            }
        }
    }
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
    let conns = connections_in(state);
    let now = running_in(state);
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
