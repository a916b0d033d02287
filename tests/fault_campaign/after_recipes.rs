//! The checks after a run about recipes: no recipe stopped or started twice, the StopAndRestart
//! scope, I1 (a recipe left stopped is named everywhere) and I9 (staged or nothing).

use std::collections::{BTreeMap, BTreeSet};

use trackvia_operator::api::WorkatoConnection;

use crate::SHOW_WITHIN;
use crate::after::After;
use crate::plan::Event;
use crate::report::{Inv, Report};
use crate::support::operator::metric_sum;
use crate::support::world::{condition, events, get_json};
use crate::world::{World, acted, held, items, name_of, path_id, seq, wait_until, wc_name};

/// Starts Workato refused for real, per recipe.
pub fn refused_starts(rep: &Report, a: &After<'_>) -> BTreeMap<i64, usize> {
    let (plan, seen, evs) = (a.plan, a.seen, &a.evs);
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
    refused_real
}

/// No recipe stopped or started twice; StopAndRestart stopped exactly the running dependents,
/// Overlap none. Returns the stops Workato acted on.
pub fn once_and_scope(
    rep: &mut Report,
    a: &After<'_>,
    refused_real: &BTreeMap<i64, usize>,
) -> BTreeMap<i64, usize> {
    let (seen, before, after, sar, run_t, run_outcome) =
        (a.seen, a.before, &a.after, a.sar, a.run_t, &a.run_outcome);
    let calls = &seen.calls;
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
    stops
}

pub async fn left_stopped_is_named(w: &World, rep: &mut Report, a: &After<'_>, stops: &BTreeMap<i64, usize>) {
    let (after, rots, conn_of, show_deadline) = (&a.after, &a.rots, a.conn_of, a.show_deadline);
    // I1: every recipe the operator stopped runs, or is named by the rotation holding it (status,
    // RecipesRestarted=False RecipesLeftStopped, Ready not True), its WorkatoConnection
    // (RecipesHealthy LeftStoppedByRotation), a Warning event and the metric.
    let left: Vec<i64> = stops
        .keys()
        .copied()
        .filter(|id| !after.get(id).copied().unwrap_or(false))
        .collect();
    let mut holders: BTreeSet<String> = BTreeSet::new();
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
}

pub fn staged_or_nothing(rep: &mut Report, a: &After<'_>, refused_real: &BTreeMap<i64, usize>) {
    let (seen, before, conn_of, sar) = (a.seen, a.before, a.conn_of, a.sar);
    let calls = &seen.calls;
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
}
