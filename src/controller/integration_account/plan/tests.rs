use super::*;
use crate::api::integration_account::{
    AccessSpec, IntegrationAccountSpec, IntegrationAccountStatus, ViewAccess,
};
use crate::api::{Environment, LocalRef, SecretKeyRef};

use crate::api::credential_rotation::RotationPhase;
use crate::api::integration_account::{TokenStatus, UserStatus};
use crate::controller::integration_account::seen::*;
use crate::domain::rotation::Revocation;
use crate::trackvia::{App, View};

fn now() -> Timestamp {
    "2026-11-28T12:00:00Z".parse().unwrap()
}

fn every() -> Intervals {
    Intervals {
        token_check: Duration::from_secs(900),
        user_poll: Duration::from_secs(60),
        user_recheck: Duration::from_secs(300),
    }
}

fn ia() -> IntegrationAccount {
    let mut ia = IntegrationAccount::new(
        "salesforce",
        IntegrationAccountSpec {
            account_ref: LocalRef { name: "acme".into() },
            system: "Salesforce".into(),
            email: "salesforce.integration@acme.example".into(),
            time_zone: None,
            access: Some(AccessSpec {
                apps: Some(vec!["CRM".into()]),
                views: Some(vec![ViewAccess {
                    name: "Accounts".into(),
                    app: Some("CRM".into()),
                }]),
                allow_extra: None,
            }),
            token_secret_ref: SecretKeyRef {
                name: "tok".into(),
                key: "token".into(),
            },
            token_expires_at: None,
            credentials_secret: crate::api::integration_account::PublishedSecret { name: "creds".into() },
            rotation: None,
            deletion_policy: None,
        },
    );
    ia.metadata.namespace = Some("ns".into());
    ia.metadata.generation = Some(1);
    ia
}

fn ready_account() -> AccountState {
    AccountState::Ready {
        name: "acme".into(),
        base_url: "https://acme.trackvia.com".into(),
        account_id: None,
        environment: Environment::Sandbox,
    }
}

fn user(status: &str) -> User {
    User {
        id: 7,
        email: "salesforce.integration@acme.example".into(),
        first_name: "Salesforce".into(),
        last_name: "Integration".into(),
        status: status.into(),
    }
}

fn token() -> Result<TokenSeen, SecretRefError> {
    Ok(TokenSeen {
        fingerprint: "hmac-sha256:aa".into(),
        expires_at: None,
        bad_expiry_annotation: None,
    })
}

fn reach(apps: &[&str], views: &[(&str, &str)]) -> Reach {
    Reach {
        apps: apps
            .iter()
            .enumerate()
            .map(|(i, a)| App {
                id: i as i64,
                name: (*a).into(),
            })
            .collect(),
        views: views
            .iter()
            .enumerate()
            .map(|(i, (a, v))| View {
                id: i as i64,
                name: (*v).into(),
                app: Some((*a).into()),
            })
            .collect(),
    }
}

fn observed(user: UserLookup, token: Result<TokenSeen, SecretRefError>, validation: Validation) -> Observed {
    Observed {
        account: ready_account(),
        admin_error: None,
        user,
        claimed_by: None,
        token,
        validation,
        published: SecretSeen::Absent,
        pushed_connections: 0,
        rotations: vec![],
    }
}

fn cond<'a>(p: &'a Plan, t: &str) -> &'a Cond {
    p.conditions.iter().find(|c| c.type_ == t).unwrap()
}

#[test]
fn a_missing_user_is_created_with_the_naming_convention() {
    let p = plan(
        &ia(),
        &observed(UserLookup::NotFound, token(), Validation::NotDue),
        now(),
        every(),
    );
    assert_eq!(
        p.step,
        Step::CreateUser(NewUser {
            email: "salesforce.integration@acme.example".into(),
            first_name: "Salesforce".into(),
            last_name: "Integration".into(),
            time_zone: None,
        })
    );
    assert_eq!(cond(&p, types::READY).reason, "UserCreating");
}

#[test]
fn an_unverified_user_is_the_next_action_even_with_a_token() {
    let p = plan(
        &ia(),
        &observed(UserLookup::Found(user("Unverified")), token(), Validation::NotDue),
        now(),
        every(),
    );
    assert_eq!(cond(&p, types::USER_VERIFIED).reason, "Unverified");
    let next = p.next_action.unwrap();
    assert!(
        next.contains("accept the TrackVia invitation") && next.contains("Resend"),
        "{next}"
    );
    assert_eq!(p.requeue, Duration::from_secs(60));
}

#[test]
fn a_missing_token_asks_for_the_ui_steps_and_the_exact_kubectl_line() {
    let missing = Err(SecretRefError::Missing { name: "tok".into() });
    let p = plan(
        &ia(),
        &observed(UserLookup::Found(user("Active")), missing, Validation::NotDue),
        now(),
        every(),
    );
    assert_eq!(cond(&p, types::TOKEN_PROVIDED).reason, "TokenSecretMissing");
    let next = p.next_action.unwrap();
    assert!(next.contains("Set As API User"), "{next}");
    assert!(
        next.contains("kubectl create secret generic tok -n ns --from-literal=token=<token>"),
        "{next}"
    );
}

#[test]
fn a_valid_scoped_token_is_published_and_ready() {
    let v = Validation::Valid(reach(&["CRM"], &[("CRM", "Accounts")]));
    let p = plan(
        &ia(),
        &observed(UserLookup::Found(user("Active")), token(), v),
        now(),
        every(),
    );
    assert_eq!(p.step, Step::Publish);
    assert_eq!(cond(&p, types::ACCESS_SCOPED).reason, "Scoped");
    assert!(cond(&p, types::READY).is_true());
    assert_eq!(p.next_action, None);
}

#[test]
fn missing_and_excess_access_have_their_own_reasons() {
    let v = Validation::Valid(reach(&["CRM"], &[]));
    let p = plan(
        &ia(),
        &observed(UserLookup::Found(user("Active")), token(), v),
        now(),
        every(),
    );
    assert_eq!(cond(&p, types::ACCESS_SCOPED).reason, "MissingAccess");
    assert_eq!(p.access.as_ref().unwrap().missing, ["view:CRM/Accounts"]);
    assert!(!cond(&p, types::READY).is_true());

    let v = Validation::Valid(reach(&["CRM", "HR"], &[("CRM", "Accounts"), ("HR", "Employees")]));
    let p = plan(
        &ia(),
        &observed(UserLookup::Found(user("Active")), token(), v),
        now(),
        every(),
    );
    assert_eq!(cond(&p, types::ACCESS_SCOPED).reason, "ExcessAccess");
    assert_eq!(p.access.as_ref().unwrap().extra, ["app:HR", "view:HR/Employees"]);

    let mut allowing = ia();
    allowing.spec.access.as_mut().unwrap().allow_extra = Some(true);
    let v = Validation::Valid(reach(&["CRM", "HR"], &[("CRM", "Accounts"), ("HR", "Employees")]));
    let p = plan(
        &allowing,
        &observed(UserLookup::Found(user("Active")), token(), v),
        now(),
        every(),
    );
    assert_eq!(cond(&p, types::ACCESS_SCOPED).reason, "Scoped");
}

#[test]
fn each_401_class_has_its_reason() {
    let cases = [
        (
            r#"{"error":"invalid_token","error_description":"Access token expired: x"}"#,
            "TokenExpired",
        ),
        (
            r#"{"error":"invalid_token","error_description":"Invalid access token: x"}"#,
            "TokenInvalid",
        ),
        (
            r#"{"error":"unauthorized","error_description":"User is disabled"}"#,
            "UserInactive",
        ),
    ];
    for (body, reason) in cases {
        let e = TrackviaError::from_response("list views", 401, None, body, &[]);
        let p = plan(
            &ia(),
            &observed(UserLookup::Found(user("Active")), token(), Validation::Failed(e)),
            now(),
            every(),
        );
        assert_eq!(cond(&p, types::TOKEN_VALID).reason, reason);
        assert_eq!(p.step, Step::None, "nothing is published for an invalid token");
    }
    let wrong = Validation::WrongEnvironment {
        account: "acme-prod".into(),
        environment: Environment::Production,
    };
    let p = plan(
        &ia(),
        &observed(UserLookup::Found(user("Active")), token(), wrong),
        now(),
        every(),
    );
    assert_eq!(cond(&p, types::TOKEN_VALID).reason, "WrongEnvironment");
    assert!(
        cond(&p, types::TOKEN_VALID)
            .message
            .contains("production account acme-prod")
    );
}

#[test]
fn a_foreign_secret_is_never_overwritten() {
    let v = Validation::Valid(reach(&["CRM"], &[("CRM", "Accounts")]));
    let mut o = observed(UserLookup::Found(user("Active")), token(), v);
    o.published = SecretSeen::Foreign;
    let p = plan(&ia(), &o, now(), every());
    assert_eq!(p.step, Step::None);
    assert_eq!(cond(&p, types::CREDENTIALS_PUBLISHED).reason, "SecretConflict");
    assert_eq!(cond(&p, types::READY).reason, "SecretConflict");
}

#[test]
fn rotation_turns_due_renew_before_ahead_of_expiry() {
    let mut t = token().unwrap();
    t.expires_at = Some("2026-12-05T12:00:00Z".parse().unwrap()); // 7 days ahead; default renewBefore 14 days
    let v = Validation::Valid(reach(&["CRM"], &[("CRM", "Accounts")]));
    let p = plan(
        &ia(),
        &observed(UserLookup::Found(user("Active")), Ok(t), v),
        now(),
        every(),
    );
    let due = cond(&p, types::ROTATION_DUE);
    assert_eq!((due.status, due.reason), (Status::True, "ExpiresSoon"));
    assert!(cond(&p, types::READY).is_true(), "due is not unready");

    let mut t = token().unwrap();
    t.expires_at = Some("2027-03-01T00:00:00Z".parse().unwrap());
    let v = Validation::Valid(reach(&["CRM"], &[("CRM", "Accounts")]));
    let p = plan(
        &ia(),
        &observed(UserLookup::Found(user("Active")), Ok(t), v),
        now(),
        every(),
    );
    assert_eq!(cond(&p, types::ROTATION_DUE).reason, "NotDue");
}

#[test]
fn a_second_claim_on_the_same_user_is_refused() {
    let mut o = observed(UserLookup::Skipped, token(), Validation::NotDue);
    o.claimed_by = Some("salesforce-old".into());
    let p = plan(&ia(), &o, now(), every());
    assert_eq!(cond(&p, types::USER_VERIFIED).reason, "UserClaimed");
    assert_eq!(p.step, Step::None);
}

#[test]
fn the_email_convention_is_a_warning_only() {
    let mut odd = ia();
    odd.spec.email = "sf-bot@acme.example".into();
    let v = Validation::Valid(reach(&["CRM"], &[("CRM", "Accounts")]));
    let mut o = observed(UserLookup::Found(user("Active")), token(), v);
    o.published = SecretSeen::Ours {
        up_to_date: true,
        fingerprint: Some("hmac-sha256:aa".into()),
    };
    let p = plan(&odd, &o, now(), every());
    assert_eq!(cond(&p, types::NAMING_CONVENTION).reason, "NonConventionalEmail");
    assert!(cond(&p, types::READY).is_true());
}

#[test]
fn status_never_differs_between_two_identical_plans() {
    // Determinism: the same input gives the same decision (no hidden clock or randomness).
    let o = || observed(UserLookup::Found(user("Active")), token(), Validation::NotDue);
    let mut with_status = ia();
    with_status.status = Some(IntegrationAccountStatus::default());
    let a = plan(&with_status, &o(), now(), every());
    let b = plan(&with_status, &o(), now(), every());
    assert_eq!(a.conditions, b.conditions);
    assert_eq!(a.token, b.token);
}

#[test]
fn a_verdict_carried_over_still_names_the_next_action() {
    // First reconcile: validated, wrong access. Second: not due, the verdict and action remain.
    let v = Validation::Valid(reach(&["CRM"], &[]));
    let first = plan(
        &ia(),
        &observed(UserLookup::Found(user("Active")), token(), v),
        now(),
        every(),
    );
    let mut again = ia();
    again.status = Some(IntegrationAccountStatus {
        common: crate::api::common::CommonStatus {
            observed_generation: Some(1),
            recheck_handled: None,
            conditions: conditions::merge(&[], &first.conditions, Some(1), &Time(now())),
        },
        access: first.access.clone(),
        token: first.token.clone(),
        ..Default::default()
    });
    let second = plan(
        &again,
        &observed(UserLookup::Skipped, token(), Validation::NotDue),
        now(),
        every(),
    );
    assert_eq!(cond(&second, types::ACCESS_SCOPED).reason, "MissingAccess");
    assert_eq!(second.next_action, first.next_action);
    assert!(second.next_action.unwrap().contains("view:CRM/Accounts"));
}

#[test]
fn a_refused_create_is_reported_with_what_to_do() {
    let e = TrackviaError::from_response(
        "create user",
        403,
        None,
        r#"{"errors":[],"message":"Access is denied","name":"accessDenied","code":"403"}"#,
        &[],
    );
    let p = plan(
        &ia(),
        &observed(UserLookup::CreateFailed(e), token(), Validation::NotDue),
        now(),
        every(),
    );
    let c = cond(&p, types::USER_VERIFIED);
    assert_eq!((c.status, c.reason), (Status::False, "UserCreateFailed"));
    assert!(c.message.contains("403"), "{}", c.message);
    assert!(p.next_action.unwrap().contains("Super Admin"));
    assert_eq!(p.step, Step::None, "no second create in the same reconcile");
}

fn seen(
    name: &str,
    phase: RotationPhase,
    outcome: Option<crate::api::credential_rotation::RotationOutcome>,
) -> RotationSeen {
    RotationSeen {
        name: name.into(),
        finished: phase.is_terminal(),
        phase: Some(phase),
        outcome,
        finished_time: phase.is_terminal().then(now),
        created: Some(now()),
        trigger: Trigger::Person,
        revocation: None,
        held_recipes: 0,
    }
}

fn valid() -> Validation {
    Validation::Valid(reach(&["CRM"], &[("CRM", "Accounts")]))
}

#[test]
fn a_failed_create_backs_off_doubling_up_to_an_hour() {
    let failed = |attempts: i32| UserStatus {
        state: Some(CREATE_FAILED.into()),
        create_failed_time: Some(Time(now())),
        create_attempts: Some(attempts),
        ..Default::default()
    };
    let wait = |a| {
        create_retry_at(&failed(a))
            .unwrap()
            .duration_since(now())
            .as_secs()
    };
    assert_eq!(
        [wait(1), wait(2), wait(3), wait(7), wait(30)],
        [60, 120, 240, 3600, 3600]
    );
    assert_eq!(
        create_retry_at(&UserStatus::default()),
        None,
        "only after a failure"
    );
    // While backing off, the last failure is carried over and nothing is created.
    let mut ia = ia();
    ia.status = Some(IntegrationAccountStatus {
        user: Some(failed(2)),
        common: crate::api::common::CommonStatus {
            observed_generation: Some(1),
            recheck_handled: None,
            conditions: conditions::merge(
                &[],
                &[Cond::false_(
                    reasons::UserVerified::UserCreateFailed,
                    "creating ... failed: 403",
                )],
                Some(1),
                &Time(now()),
            ),
        },
        ..Default::default()
    });
    let p = plan(
        &ia,
        &observed(UserLookup::CreateBackingOff, token(), Validation::NotDue),
        now(),
        every(),
    );
    assert_eq!(p.step, Step::None);
    assert_eq!(cond(&p, types::USER_VERIFIED).reason, "UserCreateFailed");
    assert!(
        p.requeue <= Duration::from_secs(120),
        "wakes when the backoff ends"
    );
}

#[test]
fn a_failed_rotation_for_a_token_is_reported_not_started_again() {
    let mut o = observed(UserLookup::Found(user("Active")), token(), valid());
    o.published = SecretSeen::Ours {
        up_to_date: false,
        fingerprint: Some("hmac-sha256:old".into()),
    };
    o.pushed_connections = 2;
    let p = plan(&ia(), &o, now(), every());
    let Step::StartRotation(req) = &p.step else {
        panic!("{:?}", p.step)
    };
    assert_eq!(req.trigger, "new-token");
    o.rotations = vec![seen(
        &req.name,
        RotationPhase::Failed,
        Some(crate::api::credential_rotation::RotationOutcome::RolledBack),
    )];
    let p = plan(&ia(), &o, now(), every());
    assert_eq!(p.step, Step::None, "one rotation per token");
    let c = cond(&p, types::CREDENTIALS_PUBLISHED);
    assert_eq!((c.status, c.reason), (Status::False, "RotationFailed"));
    assert!(c.message.contains("RolledBack"), "{}", c.message);
}

#[test]
fn a_rotation_awaiting_approval_is_the_next_action_and_awaiting_revocation_holds_nothing() {
    let mut o = observed(UserLookup::Found(user("Active")), token(), valid());
    o.published = SecretSeen::Ours {
        up_to_date: true,
        fingerprint: Some("hmac-sha256:aa".into()),
    };
    o.rotations = vec![seen("sf-scheduled-1", RotationPhase::AwaitingApproval, None)];
    let p = plan(&ia(), &o, now(), every());
    assert!(
        p.next_action
            .as_deref()
            .unwrap_or_default()
            .contains("kubectl trackvia approve sf-scheduled-1"),
        "{:?}",
        p.next_action
    );
    // SecretSeen, awaiting revocation: the account is Ready and warns about the old token.
    let mut r = seen("sf-newtoken-1", RotationPhase::AwaitingRevocation, None);
    r.revocation = Some(Revocation::Overdue {
        fingerprint: "hmac-sha256:old".into(),
        deadline: now(),
    });
    o.rotations = vec![r];
    let p = plan(&ia(), &o, now(), every());
    assert!(cond(&p, types::READY).is_true());
    let c = cond(&p, types::OLD_TOKEN_REVOKED);
    assert_eq!((c.status, c.reason), (Status::False, "OldTokenStillActive"));
}

#[test]
fn an_unanswered_scheduled_rotation_keeps_the_schedule_quiet_until_the_next_window() {
    use crate::api::integration_account::{MaintenanceWindow, RotationPolicy};
    let mut ia = ia();
    ia.spec.rotation = Some(RotationPolicy {
        maintenance_window: Some(MaintenanceWindow {
            days: None,
            start: "11:00".into(),
            duration: "3h".into(),
        }),
        ..Default::default()
    });
    let mut t = token().unwrap();
    t.expires_at = Some("2026-12-05T12:00:00Z".parse().unwrap());
    let mut o = observed(UserLookup::Found(user("Active")), Ok(t), valid());
    o.published = SecretSeen::Ours {
        up_to_date: true,
        fingerprint: Some("hmac-sha256:aa".into()),
    };
    o.pushed_connections = 1;
    let mut expired = seen(
        "sf-scheduled-1",
        RotationPhase::Aborted,
        Some(crate::api::credential_rotation::RotationOutcome::ApprovalExpired),
    );
    expired.trigger = Trigger::Scheduled;
    expired.created = Some("2026-11-28T11:05:00Z".parse().unwrap());
    expired.finished_time = Some("2026-11-28T10:00:00Z".parse().unwrap()); // more than an hour ago
    o.rotations = vec![expired.clone()];
    // 12:00, same window: quiet.
    assert_eq!(plan(&ia, &o, now(), every()).step, Step::None);
    // The next day's window: a new one.
    expired.created = Some("2026-11-27T11:05:00Z".parse().unwrap());
    o.rotations = vec![expired];
    assert!(
        matches!(plan(&ia, &o, now(), every()).step, Step::StartRotation(ref r) if r.trigger == "scheduled")
    );
    assert_eq!(
        approval_deadline(
            ia.spec.rotation.as_ref().unwrap().maintenance_window.as_ref(),
            now()
        ),
        "2026-11-28T14:00:00Z".parse::<Timestamp>().unwrap()
    );
}

#[test]
fn a_validation_trackvia_did_not_answer_backs_off() {
    let e = TrackviaError::from_response("list views", 503, None, "unavailable", &[]);
    let p = plan(
        &ia(),
        &observed(UserLookup::Found(user("Active")), token(), Validation::Failed(e)),
        now(),
        every(),
    );
    let t = p.token.clone().unwrap();
    assert_eq!(t.validation_failures, Some(1));
    assert_eq!(cond(&p, types::TOKEN_VALID).reason, "Unreachable");
    assert!(p.requeue <= Duration::from_secs(15));
    let at = |n: i32| {
        validation_retry_at(&TokenStatus {
            validation_failed_time: Some(Time(now())),
            validation_failures: Some(n),
            ..Default::default()
        })
        .unwrap()
        .duration_since(now())
        .as_secs()
    };
    assert_eq!([at(1), at(2), at(3), at(9)], [15, 30, 60, 600]);
    // A verdict clears it.
    let mut ia = ia();
    ia.status = Some(IntegrationAccountStatus {
        token: Some(t),
        ..Default::default()
    });
    let p = plan(
        &ia,
        &observed(UserLookup::Found(user("Active")), token(), valid()),
        now(),
        every(),
    );
    assert_eq!(p.token.unwrap().validation_failures, None);
}

/// An IntegrationAccount whose status knows user 7 as active and verified, its token valid.
fn active_before() -> IntegrationAccount {
    let mut a = ia();
    let before = plan(
        &a,
        &observed(UserLookup::Found(user("Active")), token(), valid()),
        now(),
        every(),
    );
    let conditions = conditions::merge(&[], &before.conditions, Some(1), &Time(now()));
    a.status = Some(IntegrationAccountStatus {
        common: crate::api::common::CommonStatus {
            observed_generation: Some(1),
            recheck_handled: None,
            conditions,
        },
        user: before.user,
        token: before.token,
        ..Default::default()
    });
    a
}

#[test]
fn an_active_user_is_read_again_within_the_user_recheck_interval() {
    let p = plan(
        &active_before(),
        &observed(UserLookup::Found(user("Active")), token(), valid()),
        now(),
        every(),
    );
    assert!(cond(&p, types::USER_VERIFIED).is_true());
    assert!(p.requeue <= every().user_recheck, "{:?}", p.requeue);
}

#[test]
fn a_user_deactivated_after_it_was_active_is_unready_with_what_to_do() {
    for status in ["Inactive", "Deactivated", "Disabled"] {
        let mut o = observed(UserLookup::Found(user(status)), token(), Validation::NotDue);
        o.published = SecretSeen::Ours {
            up_to_date: true,
            fingerprint: Some("hmac-sha256:aa".into()),
        };
        let p = plan(&active_before(), &o, now(), every());
        let c = cond(&p, types::USER_VERIFIED);
        assert_eq!((c.status, c.reason), (Status::False, "UserInactive"), "{status}");
        assert!(c.message.contains(status), "{}", c.message);
        assert_eq!(cond(&p, types::READY).status, Status::False);
        let next = p.next_action.clone().unwrap();
        assert!(
            next.contains("reactivate") && next.contains("Manage Users"),
            "{next}"
        );
        assert_eq!(p.user.as_ref().unwrap().state.as_deref(), Some(status));
        assert!(p.requeue <= every().user_poll);
        assert_eq!(
            p.step,
            Step::None,
            "the Secret is left as it is, nothing else is done"
        );
    }
}

#[test]
fn a_user_gone_from_the_list_is_inactive_and_never_created_again() {
    let p = plan(
        &active_before(),
        &observed(UserLookup::NotFound, token(), Validation::NotDue),
        now(),
        every(),
    );
    let c = cond(&p, types::USER_VERIFIED);
    assert_eq!((c.status, c.reason), (Status::False, "UserInactive"));
    assert!(
        c.message.contains("no longer in the account's user list"),
        "{}",
        c.message
    );
    assert!(!matches!(p.step, Step::CreateUser(_)), "{:?}", p.step);
    assert_eq!(p.user.as_ref().unwrap().id, Some(7), "the user's id is kept");
    // A new email (a spec change) is looked for, and created, afresh.
    let mut changed = active_before();
    changed.spec.email = "sf2.integration@acme.example".into();
    changed.metadata.generation = Some(2);
    let p = plan(
        &changed,
        &observed(UserLookup::NotFound, token(), Validation::NotDue),
        now(),
        every(),
    );
    assert!(matches!(p.step, Step::CreateUser(_)), "{:?}", p.step);
}

#[test]
fn a_failed_re_read_of_an_active_user_keeps_it_verified() {
    let e = TrackviaError::from_response("list users", 503, None, "{}", &[]);
    let p = plan(
        &active_before(),
        &observed(UserLookup::Failed(e), token(), Validation::NotDue),
        now(),
        every(),
    );
    assert!(cond(&p, types::USER_VERIFIED).is_true());
    assert!(cond(&p, types::READY).is_true());
}

#[test]
fn no_rotation_starts_while_the_user_is_inactive() {
    let mut a = active_before();
    a.spec.rotation = Some(crate::api::integration_account::RotationPolicy {
        requested_at: Some(Time(now())),
        ..Default::default()
    });
    let active = plan(
        &a,
        &observed(UserLookup::Found(user("Active")), token(), valid()),
        now(),
        every(),
    );
    assert!(
        matches!(active.step, Step::StartRotation(_) | Step::Publish),
        "{:?}",
        active.step
    );
    let mut o = observed(UserLookup::Found(user("Inactive")), token(), valid());
    o.published = SecretSeen::Ours {
        up_to_date: true,
        fingerprint: Some("hmac-sha256:aa".into()),
    };
    let inactive = plan(&a, &o, now(), every());
    assert_eq!(inactive.step, Step::None);
}

#[test]
fn the_rotate_annotation_requests_a_rotation_once_without_a_spec_change() {
    let mut a = active_before();
    let at = "2026-12-01T23:00:00Z";
    a.metadata.annotations = Some([(crate::api::common::ROTATE_ANNOTATION.to_owned(), at.to_owned())].into());
    let mut o = observed(UserLookup::Found(user("Active")), token(), valid());
    o.published = SecretSeen::Ours {
        up_to_date: true,
        fingerprint: Some("hmac-sha256:aa".into()),
    };
    let p = plan(&a, &o, now(), every());
    let Step::StartRotation(req) = &p.step else {
        panic!("{:?}", p.step)
    };
    assert_eq!(
        req.requested_at.as_ref().map(|t| t.0.to_string()).as_deref(),
        Some(at)
    );
    // Once handled (echoed in status), the same value requests nothing.
    let mut handled = a.clone();
    let status = handled.status.get_or_insert_with(Default::default);
    status
        .rotation
        .get_or_insert_with(Default::default)
        .handled_requested_at = req.requested_at.clone();
    assert!(!matches!(
        plan(&handled, &o, now(), every()).step,
        Step::StartRotation(_)
    ));
}
