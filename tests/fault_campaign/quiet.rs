//! When a run is over: every rotation finished and taken in by the account, and evidence that the
//! operator reconciled the account since (it may start another rotation for the token left in its
//! Secret), not a fixed hold.

use std::time::Instant;

use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use trackvia_operator::api::IntegrationAccount;

use crate::SHOW_WITHIN;
use crate::run::{Loop, Start, View};
use crate::support::operator::metric_sum;
use crate::support::world::get_json;
use crate::world::{Seen, World, account_quiet, terminal};

/// Done when the run's rotation and any the account started after it have finished (a deleted
/// one: gone), the account has taken it in, no restart is pending, and the operator has
/// reconciled the account since (it may start another rotation for the token in its Secret).
pub async fn done(w: &World, start: &Start, seen: &Seen, lp: &mut Loop, view: &View) -> bool {
    let all_finished = seen.run_uid.is_some() && seen.tracked.values().all(|t| t.gone || terminal(t.phase()));
    let quiet = all_finished
        && (start.persistent_id.is_none() || seen.persistent.is_some())
        && lp.restart.is_none()
        && lp.restart_op_at.is_none()
        && get_json::<IntegrationAccount>(&w.client, &w.ns, "sf")
            .await
            .is_some_and(|ia| account_quiet(&ia));
    if !view.newly_gone.is_empty() {
        // A rotation went: the account must be seen to look again.
        lp.account_saw = None;
    }
    if !quiet {
        lp.quiet_since = None;
        lp.account_saw = None;
        return false;
    }
    let since = *lp.quiet_since.get_or_insert_with(Instant::now);
    let deleted_gone = seen
        .deleted
        .as_ref()
        .is_none_or(|(uid, _)| seen.tracked.get(uid).is_some_and(|t| t.gone));
    // The account reacts to a rotation that went (it may start another for the token in its
    // Secret) after its status said it was quiet: evidence that it looked since, not a fixed hold.
    let saw = match &mut lp.account_saw {
        Some(s) => s.step(w).await,
        None => {
            lp.account_saw = AccountSaw::start(w).await;
            false
        }
    };
    // A deleted rotation may wait for a person (DeletionBlocked): the checks see it.
    (deleted_gone && saw) || since.elapsed() > SHOW_WITHIN
}

/// Evidence, built over the loop's ticks without blocking them, that the operator reconciled the
/// IntegrationAccount after a moment: it is woken (an annotation nothing reads) and two of its
/// reconciles must finish, the second having started after the moment (reconciles of one object
/// run one at a time). A restarted operator counts from zero and reconciles every object when it
/// starts: the count starts again.
pub struct AccountSaw {
    starts: u32,
    mark: f64,
    finished: u8,
}

impl AccountSaw {
    async fn reconciles(w: &World) -> Option<f64> {
        let m = w.op.metrics().await?;
        Some(metric_sum(
            &m,
            "trackvia_operator_reconciles_total",
            &["controller=\"IntegrationAccount\""],
        ))
    }

    /// Wakes the account; `None` while `/metrics` does not answer (the next tick tries again).
    async fn start(w: &World) -> Option<Self> {
        let mark = Self::reconciles(w).await?;
        poke_account(w).await;
        Some(Self {
            starts: w.op.starts,
            mark,
            finished: 0,
        })
    }

    /// True once two reconciles finished after the start.
    async fn step(&mut self, w: &World) -> bool {
        let Some(n) = Self::reconciles(w).await else {
            return false;
        };
        if self.starts != w.op.starts {
            *self = Self {
                starts: w.op.starts,
                mark: n,
                finished: 0,
            };
            poke_account(w).await;
            return false;
        }
        if n > self.mark {
            self.finished += 1;
            self.mark = n;
            if self.finished >= 2 {
                return true;
            }
            poke_account(w).await;
        }
        false
    }
}

/// Wakes the IntegrationAccount up (a failed write, the API server away, is tried again later).
async fn poke_account(w: &World) {
    let patch = json!({"metadata": {"annotations": {"trackvia-operator.test/poke": jiff::Timestamp::now().to_string()}}});
    let _ = Api::<IntegrationAccount>::namespaced(w.client.clone(), &w.ns)
        .patch("sf", &PatchParams::default(), &Patch::Merge(&patch))
        .await;
}
