//! The campaign's table: what was injected and what it did, and every invariant's count.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use crate::plan::{Event, Kind, Plan, i10_window_bound};
use crate::report::{Inv, Report};
use crate::world::World;
use crate::{I10_RUN_BOUND, PERSISTENT_WINDOW};

#[allow(clippy::too_many_lines)] // one row after the other
pub fn table(reports: &[(Plan, Report)], seed: u64, took: Duration, w: &World) -> String {
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
