//! The transition table, row by row, on hand-built statuses and facts. The model-based test
//! (`model.rs`) walks generated sequences through the same functions and checks the invariants.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::*;
use crate::api::credential_rotation::{
    ConnectionProgress, ConnectionState, CredentialRotationStatus, RecipeProgress, RecipeState,
    RotationOutcome, RotationPhase,
};
use crate::api::integration_account::RotationStrategy;

const OLD: &str = "fp-old";
const NEW: &str = "fp-new";

fn t0() -> Timestamp {
    "2026-12-01T10:00:00Z".parse().unwrap()
}

pub(super) fn policy() -> Policy {
    Policy {
        strategy: None,
        dry_run: false,
        take_over: None,
        new_token_timeout: Duration::from_secs(3600),
        revocation_grace: Duration::from_secs(24 * 3600),
        probe_every: Duration::from_secs(300),
        check_every: Duration::from_secs(300),
        user: "Salesforce Integration".into(),
        token_secret: "key token of Secret sf-token".into(),
        account: "sf".into(),
    }
}

pub(super) fn facts() -> Facts {
    Facts {
        now: t0(),
        finalizer: true,
        deleting: false,
        account_exists: true,
        policy: policy(),
        trigger: Trigger::Person,
        approved: true,
        approval_deadline: t0().checked_add(jiff::SignedDuration::from_hours(4)).unwrap(),
        ahead: None,
        token: Read::Ok(Some(NEW.into())),
        published: Read::Ok(Some(OLD.into())),
        bound: Read::Ok(vec![bound("conn-1", 100), bound("conn-2", 101)]),
        stranded: Vec::new(),
        taken_over: BTreeMap::new(),
        excluded: BTreeSet::new(),
        stop_hold: Duration::ZERO,
        recheck: false,
    }
}

fn bound(name: &str, id: i64) -> Bound {
    Bound {
        name: name.into(),
        id,
        workspace: "dev".into(),
        holds: Some(OLD.into()),
    }
}

fn conn(name: &str, state: ConnectionState, holds: &str) -> ConnectionProgress {
    ConnectionProgress {
        name: name.into(),
        id: Some(100),
        workspace: Some("dev".into()),
        state,
        token_fingerprint: Some(holds.into()),
        authorized: None,
        error: None,
    }
}

fn recipe(id: i64, state: RecipeState) -> RecipeProgress {
    RecipeProgress {
        id,
        name: Some(format!("Recipe {id}")),
        connection: Some("conn-1".into()),
        state,
        inherited_from: None,
        error: None,
    }
}

/// A planned rotation in `phase`.
fn at(phase: RotationPhase, strategy: RotationStrategy) -> CredentialRotationStatus {
    CredentialRotationStatus {
        phase: Some(phase),
        phase_time: Some(Time(t0())),
        started_time: Some(Time(t0())),
        strategy: Some(strategy),
        planned_time: Some(Time(t0())),
        inventory_time: Some(Time(t0())),
        old_token_fingerprint: Some(OLD.into()),
        new_token_fingerprint: Some(NEW.into()),
        connections: vec![
            conn("conn-1", ConnectionState::Pending, OLD),
            conn("conn-2", ConnectionState::Pending, OLD),
        ],
        ..Default::default()
    }
}

#[test]
fn a_new_rotation_is_accepted_then_gets_its_finalizer_first() {
    let s = decide(&CredentialRotationStatus::default(), &facts());
    assert_eq!(s.status.phase, Some(RotationPhase::Pending));
    assert_eq!(s.effect, None);
    let f = Facts {
        finalizer: false,
        ..facts()
    };
    assert_eq!(decide(&s.status, &f).effect, Some(Effect::AddFinalizer));
}

#[test]
fn the_automatic_strategy_asks_trackvia_and_only_a_rejection_means_stop_and_restart() {
    let pending = decide(&CredentialRotationStatus::default(), &facts()).status;
    let s = decide(&pending, &facts());
    assert_eq!(s.effect, Some(Effect::ProbePublished));
    // Rejected: StopAndRestart.
    let (after, _) = absorb(
        &s.status,
        &facts(),
        &Effect::ProbePublished,
        Outcome::Verdict(Verdict::Rejected("401 token expired".into())),
    );
    assert_eq!(
        decide(&after, &facts()).status.strategy,
        Some(RotationStrategy::StopAndRestart)
    );
    // Any other failure (a 403, a decode error, a 5xx) is not a verdict: back off and ask again.
    let (after, _) = absorb(
        &s.status,
        &facts(),
        &Effect::ProbePublished,
        Outcome::Failed {
            message: "403 forbidden".into(),
            retry_after: None,
        },
    );
    assert!(after.strategy.is_none() && after.backoff.is_some());
    let again = decide(&after, &facts());
    assert_eq!(again.effect, None, "no call before the backoff passes");
    assert_eq!(again.wait, Some(BACKOFF_BASE));
}

#[test]
fn a_failed_read_is_not_a_missing_secret() {
    for phase in [
        RotationPhase::Switching,
        RotationPhase::Validating,
        RotationPhase::Publishing,
    ] {
        let s = at(phase, RotationStrategy::Overlap);
        let f = Facts {
            token: Read::Failed("503 Service Unavailable".into()),
            ..facts()
        };
        let step = decide(&s, &f);
        assert_eq!(step.effect, None, "{phase}");
        assert_eq!(step.status.phase, Some(phase), "{phase}: stays");
        assert_eq!(step.status.connections, s.connections);
        assert!(step.wait.is_some());
    }
}

#[test]
fn a_token_replaced_mid_switch_is_validated_and_every_connection_moves_to_it() {
    let mut s = at(RotationPhase::Switching, RotationStrategy::Overlap);
    s.connections[0] = conn("conn-1", ConnectionState::Verified, NEW);
    let newer = Facts {
        token: Read::Ok(Some("fp-newer".into())),
        ..facts()
    };
    let step = decide(&s, &newer);
    assert_eq!(step.status.phase, Some(RotationPhase::Validating));
    let step = decide(&step.status, &newer);
    assert_eq!(step.effect, Some(Effect::Validate("fp-newer".into())));
    let (after, _) = absorb(
        &step.status,
        &newer,
        &Effect::Validate("fp-newer".into()),
        Outcome::Verdict(Verdict::Accepted),
    );
    assert_eq!(after.phase, Some(RotationPhase::Switching));
    assert_eq!(
        after.connections[0].state,
        ConnectionState::Pending,
        "the connection on the superseded token is switched again"
    );
    // Overlap: the old token is confirmed once more before anything switches.
    let step = decide(&after, &newer);
    assert_eq!(step.effect, Some(Effect::ProbePublished));
    let (after, _) = absorb(
        &step.status,
        &newer,
        &Effect::ProbePublished,
        Outcome::Verdict(Verdict::Accepted),
    );
    let step = decide(&after, &newer);
    assert_eq!(
        step.effect,
        Some(Effect::Push {
            index: 0,
            fingerprint: "fp-newer".into()
        })
    );
}

#[test]
fn a_failed_test_rolls_back_and_a_failed_rollback_is_named() {
    let mut s = at(RotationPhase::Switching, RotationStrategy::Overlap);
    s.connections[0] = conn("conn-1", ConnectionState::Verified, NEW);
    s.connections[1].state = ConnectionState::Updating;
    let push = Effect::Push {
        index: 1,
        fingerprint: NEW.into(),
    };
    let (after, _) = absorb(
        &s,
        &facts(),
        &push,
        Outcome::Pushed {
            authorized: false,
            error: Some("401".into()),
        },
    );
    assert_eq!(after.closing_outcome, Some(RotationOutcome::RolledBack));
    let step = decide(&after, &facts());
    assert_eq!(step.status.phase, Some(RotationPhase::RollingBack));
    let Some(Effect::Push { index, fingerprint }) = step.effect.clone() else {
        panic!("{:?}", step.effect)
    };
    assert_eq!(fingerprint, OLD);
    let (after, _) = absorb(
        &step.status,
        &facts(),
        step.effect.as_ref().unwrap(),
        Outcome::Refused("422 invalid input".into()),
    );
    assert_eq!(after.connections[index].state, ConnectionState::RollbackFailed);
    // The other one goes back; then the rotation ends naming the one that did not.
    let mut s = after;
    for _ in 0..4 {
        let step = decide(&s, &facts());
        match step.effect {
            Some(e @ Effect::Push { .. }) => {
                s = absorb(
                    &step.status,
                    &facts(),
                    &e,
                    Outcome::Pushed {
                        authorized: true,
                        error: None,
                    },
                )
                .0
            }
            _ => s = step.status,
        }
    }
    assert_eq!(s.outcome, Some(RotationOutcome::RollbackFailed));
    assert!(s.plan_summary.unwrap().contains("conn-"), "names the connection");
}

#[test]
fn a_recipe_that_fails_to_start_is_not_a_success() {
    let mut s = at(RotationPhase::Restarting, RotationStrategy::StopAndRestart);
    s.recipes = vec![
        recipe(1, RecipeState::Started),
        recipe(2, RecipeState::StartFailed),
    ];
    let step = decide(
        &s,
        &Facts {
            published: Read::Ok(Some(NEW.into())),
            ..facts()
        },
    );
    assert_eq!(step.status.outcome, Some(RotationOutcome::RecipeStartFailed));
    assert_eq!(step.status.phase, Some(RotationPhase::Failed));
    assert!(
        step.notes
            .iter()
            .any(|n| n.warning && n.reason == "RecipesLeftStopped")
    );
}

#[test]
fn a_scheduled_stop_and_restart_stops_nothing_before_approval_and_expires_unanswered() {
    let mut s = at(RotationPhase::Pending, RotationStrategy::StopAndRestart);
    s.planned_time = None;
    s.recipes = vec![recipe(1, RecipeState::ToStop)];
    let f = Facts {
        trigger: Trigger::Scheduled,
        approved: false,
        ..facts()
    };
    let step = decide(&s, &f);
    assert_eq!(step.status.phase, Some(RotationPhase::AwaitingApproval));
    assert_eq!(step.effect, None);
    let later = Facts {
        now: f.approval_deadline,
        ..f.clone()
    };
    let end = decide(&step.status, &later);
    assert_eq!(end.status.outcome, Some(RotationOutcome::ApprovalExpired));
    assert_eq!(
        end.status.recipes[0].state,
        RecipeState::Released,
        "never stopped"
    );
    let approved = Facts { approved: true, ..f };
    let go = decide(&step.status, &approved);
    assert_eq!(go.status.phase, Some(RotationPhase::Stopping));
    assert!(go.status.approved_time.is_some());
}

#[test]
fn deletion_before_any_change_ends_at_once_and_after_a_stop_restarts_first() {
    let s = at(RotationPhase::WaitingForToken, RotationStrategy::Overlap);
    let deleting = Facts {
        deleting: true,
        ..facts()
    };
    let step = decide(&s, &deleting);
    assert_eq!(step.status.outcome, Some(RotationOutcome::Cancelled));
    let step = decide(&step.status, &deleting);
    assert_eq!(step.effect, Some(Effect::RemoveFinalizer));

    let mut s = at(RotationPhase::WaitingForToken, RotationStrategy::StopAndRestart);
    s.recipes = vec![recipe(1, RecipeState::Stopped)];
    let step = decide(&s, &deleting);
    assert_eq!(step.status.closing_outcome, Some(RotationOutcome::Cancelled));
    assert_eq!(
        step.effect,
        Some(Effect::ProbePublished),
        "asks whether the old token works"
    );
    let (after, _) = absorb(
        &step.status,
        &deleting,
        &Effect::ProbePublished,
        Outcome::Verdict(Verdict::Accepted),
    );
    let step = decide(&after, &deleting);
    assert_eq!(step.effect, Some(Effect::StartRecipe(0)));
    assert_eq!(step.status.phase, Some(RotationPhase::Aborting));
}

#[test]
fn awaiting_revocation_ends_after_the_grace_period_with_a_warning() {
    let mut s = at(RotationPhase::AwaitingRevocation, RotationStrategy::Overlap);
    s.old_token_secret = Some("r-old-token-1234".into());
    s.revocation_deadline = Some(Time(t0()));
    s.last_checked_time = Some(Time(t0()));
    let f = Facts {
        now: t0().checked_add(jiff::SignedDuration::from_secs(30)).unwrap(),
        published: Read::Ok(Some(NEW.into())),
        ..facts()
    };
    let step = decide(&s, &f);
    assert_eq!(step.status.outcome, Some(RotationOutcome::Succeeded));
    assert!(step.notes.iter().any(|n| n.reason == "RevocationOverdue"));
    // A missing old-token Secret is not a revocation.
    let (after, _) = absorb(&s, &f, &Effect::ProbeOldToken, Outcome::Verdict(Verdict::Missing));
    assert!(after.old_token_revoked_time.is_none());
}

#[test]
fn a_finished_rotation_releases_recipes_a_person_started_or_a_later_rotation_took_over() {
    let mut s = at(RotationPhase::Failed, RotationStrategy::StopAndRestart);
    s.outcome = Some(RotationOutcome::RolledBack);
    s.recipes = vec![
        recipe(1, RecipeState::Stopped),
        recipe(2, RecipeState::StartFailed),
    ];
    let step = decide(&s, &facts());
    assert_eq!(step.effect, Some(Effect::CheckRecipes));
    let (after, _) = absorb(
        &step.status,
        &facts(),
        &Effect::CheckRecipes,
        Outcome::Running(BTreeMap::from([(1, true), (2, false)])),
    );
    assert_eq!(after.recipes[0].state, RecipeState::Released);
    assert_eq!(after.recipes[1].state, RecipeState::StartFailed);
    let f = Facts {
        taken_over: BTreeMap::from([(2, "later".to_owned())]),
        ..facts()
    };
    let step = decide(&after, &f);
    assert_eq!(step.status.recipes[1].state, RecipeState::Released);
}

#[test]
fn backoff_grows_and_is_capped() {
    assert_eq!(backoff_delay(1), Duration::from_secs(5));
    assert_eq!(backoff_delay(2), Duration::from_secs(10));
    assert_eq!(backoff_delay(6), Duration::from_secs(160));
    assert_eq!(backoff_delay(7), BACKOFF_MAX);
    assert_eq!(backoff_delay(100), BACKOFF_MAX);
}

#[test]
fn an_inherited_recipe_that_runs_after_all_is_stopped_like_the_others() {
    let mut s = at(RotationPhase::Pending, RotationStrategy::StopAndRestart);
    s.inventory_time = None;
    s.planned_time = None;
    s.recipes = vec![RecipeProgress {
        inherited_from: Some("regen".into()),
        ..recipe(1, RecipeState::Stopped)
    }];
    let listed = vec![Listed {
        id: 1,
        name: "Recipe 1".into(),
        running: true,
        connection: "conn-1".into(),
    }];
    let (after, _) = absorb(&s, &facts(), &Effect::ListRecipes, Outcome::Listed(listed));
    assert_eq!(after.recipes[0].state, RecipeState::ToStop);
    assert_eq!(after.recipes[0].inherited_from, None);
}
