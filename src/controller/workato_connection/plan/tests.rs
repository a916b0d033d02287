use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::json;

use super::*;
use crate::api::credential_rotation::{RotationOutcome, RotationPhase};
use crate::conditions::Status;

fn wc(spec: serde_json::Value) -> WorkatoConnection {
    let mut base = json!({"workspaceRef": {"name": "ws"}, "integrationAccountRef": {"name": "sf"}, "connection": {"name": "TrackVia (Salesforce)"}});
    if let (Some(b), Some(s)) = (base.as_object_mut(), spec.as_object()) {
        b.extend(s.clone());
    }
    serde_json::from_value(json!({
        "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "WorkatoConnection",
        "metadata": {"name": "sf-conn", "namespace": "ns", "uid": "0123456789abcdef"},
        "spec": base,
    }))
    .unwrap()
}

fn conn(id: i64, name: &str, provider: &str, status: Option<&str>) -> Connection {
    Connection {
        id,
        name: name.into(),
        provider: Some(provider.into()),
        authorization_status: status.map(Into::into),
        ..Default::default()
    }
}

fn recipe(id: i64, running: bool, stop_cause: Option<&str>) -> Recipe {
    Recipe {
        id,
        name: format!("r{id}"),
        running,
        stop_cause: stop_cause.map(Into::into),
        ..Default::default()
    }
}

fn unresolved_reason(r: Resolution) -> String {
    match r {
        Resolution::Unresolved(c) => c.reason.to_string(),
        other => panic!("expected Unresolved, got {other:?}"),
    }
}

#[test]
fn a_recorded_id_wins_over_the_spec_and_the_name() {
    let w = wc(json!({"connection": {"id": 7, "name": "x"}}));
    let list = [conn(7, "x", "trackvia", None), conn(8, "x", "trackvia", None)];
    match resolve(&w, Some(8), &list) {
        Resolution::Found(c, cond) => {
            assert_eq!(c.id, 8);
            assert_eq!(cond.reason, "Found");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_connection_of_another_connector_is_never_chosen() {
    let by_id = wc(json!({"connection": {"id": 7}}));
    let list = [conn(7, "TrackVia (Salesforce)", "salesforce", Some("success"))];
    assert_eq!(
        unresolved_reason(resolve(&by_id, None, &list)),
        "ProviderMismatch"
    );
    // By name: neither adopted nor shadowed by a new connection of the same name.
    assert_eq!(
        unresolved_reason(resolve(&wc(json!({})), None, &list)),
        "ProviderMismatch"
    );
}

#[test]
fn a_name_is_adopted_once_created_when_absent_and_refused_when_ambiguous() {
    let w = wc(json!({}));
    let one = [
        conn(3, "TrackVia (Salesforce)", "trackvia", None),
        conn(4, "other", "trackvia", None),
    ];
    assert!(
        matches!(resolve(&w, None, &one), Resolution::Found(c, cond) if c.id == 3 && cond.reason == "Adopted")
    );
    assert_eq!(
        resolve(&w, None, &one[1..]),
        Resolution::Create {
            name: "TrackVia (Salesforce)".into()
        }
    );
    let two = [
        conn(3, "TrackVia (Salesforce)", "trackvia", None),
        conn(5, "TrackVia (Salesforce)", "trackvia", None),
    ];
    assert_eq!(unresolved_reason(resolve(&w, None, &two)), "AmbiguousName");
    assert_eq!(
        unresolved_reason(resolve(&w, Some(9), &two)),
        "ConnectionNotFound"
    );
    let none = wc(json!({"connection": {}}));
    assert_eq!(unresolved_reason(resolve(&none, None, &two)), "NoSelector");
}

#[test]
fn credentials_are_pushed_once_and_a_live_connection_is_never_overwritten() {
    // Nothing published: wait.
    let Credentials::Report(c, None) = credentials::<()>(None, None, false, "sf") else {
        panic!()
    };
    assert_eq!((c.reason, c.status), ("CredentialsNotPublished", Status::Unknown));
    // Never pushed, not live: push.
    assert_eq!(
        credentials(Some((&(), "fp1")), None, false, "sf"),
        Credentials::Push {
            published: &(),
            fingerprint: "fp1".into()
        }
    );
    // Never pushed, live (I9): take over, never a plain update.
    assert_eq!(
        credentials(Some((&(), "fp1")), None, true, "sf"),
        Credentials::TakeOver
    );
    // Pushed: current, or a rotation brings them together; never pushed again here.
    let Credentials::Report(c, Some(held)) = credentials(Some((&(), "fp1")), Some("fp1"), true, "sf") else {
        panic!()
    };
    assert_eq!((c.reason, held.as_str()), ("Current", "fp1"));
    let Credentials::Report(c, Some(held)) = credentials(Some((&(), "fp2")), Some("fp1"), true, "sf") else {
        panic!()
    };
    assert_eq!((c.reason, held.as_str()), ("RotationPending", "fp1"));
}

#[test]
fn a_takeover_needs_the_opt_in_the_recorded_id_and_starts_one_rotation() {
    let no_opt_in = wc(json!({}));
    let TakeOver::Report(c) = take_over(&no_opt_in, 7, None) else {
        panic!()
    };
    assert_eq!((c.reason, c.status), ("AdoptionPending", Status::False));

    let mut w = wc(json!({"adoption": "StopAndRestart"}));
    let TakeOver::Report(c) = take_over(&w, 7, None) else {
        panic!()
    };
    assert_eq!(c.reason, "TakingOver", "waits for the connection id in status");

    w.status = Some(WorkatoConnectionStatus {
        connection_id: Some(7),
        ..Default::default()
    });
    let TakeOver::Start { name, spec, cond } = take_over(&w, 7, None) else {
        panic!()
    };
    assert_eq!(name, "sf-conn-takeover-01234567");
    assert_eq!(spec.strategy, Some(RotationStrategy::StopAndRestart));
    assert_eq!(spec.take_over.map(|r| r.name).as_deref(), Some("sf-conn"));
    assert_eq!(spec.integration_account_ref.name, "sf");
    assert_eq!(cond.reason, "TakingOver");

    // The rotation exists: report, never start another.
    let TakeOver::Report(c) = take_over(&w, 7, Some(None)) else {
        panic!()
    };
    assert_eq!(c.reason, "TakingOver");
    let failed = CredentialRotationStatus {
        phase: Some(RotationPhase::Failed),
        outcome: Some(RotationOutcome::RolledBack),
        ..Default::default()
    };
    let TakeOver::Report(c) = take_over(&w, 7, Some(Some(&failed))) else {
        panic!()
    };
    assert_eq!((c.reason, c.status), ("TakeOverFailed", Status::False));
}

#[test]
fn recipes_left_stopped_by_a_rotation_come_before_everything_else() {
    let rs = [
        recipe(1, false, None),
        recipe(2, false, Some("trigger_errors_limit")),
        recipe(3, false, Some("txn_quota_limit")),
    ];
    let mine: Vec<&Recipe> = rs.iter().collect();
    let hold = |left| {
        BTreeMap::from([(
            1,
            Held {
                rotation: "rot".into(),
                left,
            },
        )])
    };
    assert_eq!(recipes(&mine, &hold(true), &[]).reason, "LeftStoppedByRotation");
    assert_eq!(recipes(&mine, &hold(false), &[]).reason, "StoppedForRotation");
    assert_eq!(recipes(&mine, &BTreeMap::new(), &[]).reason, "StoppedByErrors");
    assert_eq!(
        recipes(&mine[2..], &BTreeMap::new(), &[]).reason,
        "TaskLimitReached"
    );
    assert_eq!(recipes(&mine[..1], &BTreeMap::new(), &[]).reason, "Healthy");
    // A finished rotation's recipe that runs again is resolved.
    let running = [recipe(1, true, None)];
    let mine: Vec<&Recipe> = running.iter().collect();
    assert_eq!(recipes(&mine, &hold(true), &[]).reason, "Healthy");
}

#[test]
fn the_inventory_refresh_time_moves_only_on_change_or_after_an_interval() {
    let rs = [recipe(1, true, None)];
    let mine: Vec<&Recipe> = rs.iter().collect();
    let every = Duration::from_secs(300);
    let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let at = |secs: i64| Time(t0.checked_add(jiff::SignedDuration::from_secs(secs)).unwrap());
    let mut s = WorkatoConnectionStatus::default();
    record_inventory(&mut s, &mine, &BTreeMap::new(), at(0), every);
    assert_eq!(
        (s.recipes_refreshed_time.clone(), s.recipe_count),
        (Some(at(0)), Some(1))
    );
    record_inventory(&mut s, &mine, &BTreeMap::new(), at(10), every);
    assert_eq!(
        s.recipes_refreshed_time,
        Some(at(0)),
        "nothing learnt: nothing written"
    );
    let stopped = [recipe(1, false, Some("txn_quota_limit"))];
    let mine2: Vec<&Recipe> = stopped.iter().collect();
    record_inventory(&mut s, &mine2, &BTreeMap::new(), at(20), every);
    assert_eq!(s.recipes_refreshed_time, Some(at(20)), "a change");
    record_inventory(&mut s, &mine2, &BTreeMap::new(), at(320), every);
    assert_eq!(s.recipes_refreshed_time, Some(at(320)), "an interval");
}

#[test]
fn only_opted_in_task_limit_stops_are_restarted() {
    let rs = [
        recipe(1, false, Some("txn_quota_limit")),
        recipe(2, false, Some("trigger_errors_limit")),
        recipe(3, true, None),
    ];
    let mine: Vec<&Recipe> = rs.iter().collect();
    assert!(to_restart(&wc(json!({})), &mine).is_empty());
    let opted = wc(json!({"recipes": {"restartAfterTaskLimit": true}}));
    let ids: Vec<i64> = to_restart(&opted, &mine).iter().map(|r| r.id).collect();
    assert_eq!(ids, [1]);
}

#[test]
fn workato_messages_are_scrubbed_of_credentials() {
    let c = Connection {
        id: 7,
        authorization_status: Some("failed".into()),
        authorization_error: Some("401: token s3cr3t-token rejected".into()),
        connection_lost_reason: Some("s3cr3t-token expired".into()),
        ..Default::default()
    };
    let mut s = WorkatoConnectionStatus::default();
    record_connection(&mut s, &c, &["s3cr3t-token"]);
    assert!(!s.authorization_error.as_deref().unwrap().contains("s3cr3t"));
    assert!(!s.connection_lost_reason.as_deref().unwrap().contains("s3cr3t"));
    assert_eq!(s.connection_id, Some(7));
    assert_eq!(verified(&c, &s).reason, "AuthorizationFailed");
}

#[test]
fn a_lost_connection_is_not_verified_until_authorized_again() {
    let mut c = Connection {
        id: 7,
        authorization_status: Some("success".into()),
        authorized_at: Some("2026-01-01T00:00:00Z".into()),
        connection_lost_at: Some("2026-01-01T01:00:00Z".into()),
        connection_lost_reason: Some("401 Unauthorized: Invalid access token: s3cr3t-token".into()),
        ..Default::default()
    };
    let mut s = WorkatoConnectionStatus::default();
    record_connection(&mut s, &c, &["s3cr3t-token"]);
    let v = verified(&c, &s);
    assert_eq!((v.reason, v.status), ("ConnectionLost", Status::False));
    assert!(v.message.contains("2026-01-01T01:00:00Z"), "{}", v.message);
    assert!(v.message.contains("401 Unauthorized"), "{}", v.message);
    assert!(!v.message.contains("s3cr3t"), "scrubbed: {}", v.message);
    // Authorized again after the loss: verified.
    c.authorized_at = Some("2026-01-01T02:00:00Z".into());
    assert_eq!(verified(&c, &s).reason, "Authorized");
    // A failing test says more than the loss.
    c.authorization_status = Some("failed".into());
    c.authorized_at = None;
    assert_eq!(verified(&c, &s).reason, "AuthorizationFailed");
    // Lost, never authorized: lost.
    c.authorization_status = None;
    assert_eq!(verified(&c, &s).reason, "ConnectionLost");
}

fn at(secs: i64) -> Time {
    let t0: Timestamp = "2026-01-01T12:00:00Z".parse().unwrap();
    Time(t0.checked_add(jiff::SignedDuration::from_secs(secs)).unwrap())
}

fn job(secs: i64, error: Option<&str>) -> crate::workato::Job {
    crate::workato::Job {
        id: json!(format!("j-{secs}")),
        started_at: Some(at(secs).0.to_string()),
        completed_at: Some(at(secs).0.to_string()),
        is_error: error.is_some(),
        error: error.map(Into::into),
        ..Default::default()
    }
}

fn page(jobs: Vec<crate::workato::Job>) -> crate::workato::JobPage {
    let mut items = jobs;
    items.reverse(); // Workato lists the newest first
    crate::workato::JobPage {
        items,
        ..Default::default()
    }
}

fn counted(id: i64, failed: u64, succeeded: u64) -> Recipe {
    Recipe {
        job_failed_count: Some(failed),
        job_succeeded_count: Some(succeeded),
        ..recipe(id, true, None)
    }
}

const AUTH: &str = "401 Unauthorized: Invalid access token: s3cr3t-token-1234";

#[test]
fn jobs_are_read_on_their_interval_and_only_where_counters_moved() {
    let every = Duration::from_secs(300);
    let mut s = WorkatoConnectionStatus::default();
    assert!(jobs_due(&s, &at(0), every), "never read");
    assert!(!jobs_due(&s, &at(0), Duration::ZERO), "zero: never");
    s.jobs_checked_time = Some(at(0));
    assert!(!jobs_due(&s, &at(299), every));
    assert!(jobs_due(&s, &at(300), every));

    let rs = [counted(1, 0, 5), counted(2, 3, 5), recipe(3, true, None)];
    let mine: Vec<&Recipe> = rs.iter().collect();
    // Never read: those with failures, and those whose listing has no counters.
    assert_eq!(jobs_to_read(&mine, &[]), [2, 3]);
    let seen = |id, failed, succeeded, failing: bool| RecipeJobsStatus {
        id,
        failed_count: Some(failed),
        succeeded_count: Some(succeeded),
        auth_failure_time: failing.then(|| at(0)),
        ..Default::default()
    };
    // Nothing moved: nothing read (the recipe without counters is always read).
    assert_eq!(
        jobs_to_read(&mine[..2], &[seen(2, 3, 5, false)]),
        Vec::<i64>::new()
    );
    // A new failure: read.
    assert_eq!(jobs_to_read(&mine[..2], &[seen(2, 2, 5, false)]), [2]);
    // Only successes, while an auth failure is reported: read (it may be over).
    assert_eq!(jobs_to_read(&mine[..2], &[seen(2, 3, 4, true)]), [2]);
    assert_eq!(
        jobs_to_read(&mine[..2], &[seen(2, 3, 4, false)]),
        Vec::<i64>::new()
    );
    // Bounded per check.
    let many: Vec<Recipe> = (1..=50).map(|i| counted(i, 1, 0)).collect();
    let all: Vec<&Recipe> = many.iter().collect();
    assert_eq!(jobs_to_read(&all, &[]).len(), super::jobs::MAX_JOB_READS);
}

#[test]
fn auth_failures_are_reported_once_scrubbed_and_cleared_by_a_later_success() {
    let r = counted(1001, 2, 1);
    let mine = [&r];
    let now = at(600);
    // First read: an old success, a recent auth failure, a recent other failure, and an auth
    // failure older than the first read's lookback (history, not counted).
    let p = page(vec![
        job(-7200, Some(AUTH)),
        job(100, None),
        job(200, Some("500 Internal Server Error")),
        job(300, Some(AUTH)),
    ]);
    let read = read_jobs(&r, None, &p, &now, "trackvia", &["s3cr3t-token-1234"]);
    assert_eq!((read.auth, read.other), (1, 1));
    assert_eq!(read.entry.auth_failure_time, Some(at(300)));
    assert_eq!(read.entry.newest_job_time, Some(at(300)));
    let excerpt = read.entry.auth_failure.clone().unwrap();
    assert!(
        excerpt.starts_with("401 Unauthorized") && !excerpt.contains("s3cr3t"),
        "{excerpt}"
    );

    let mut s = WorkatoConnectionStatus::default();
    record_jobs(&mut s, &mine, vec![read.entry.clone()], true, &now);
    assert_eq!(s.jobs_checked_time, Some(now.clone()));
    let c = recipes(&mine, &BTreeMap::new(), &s.recipe_jobs);
    assert_eq!((c.reason, c.status), ("AuthFailures", Status::False));
    assert!(c.message.contains("r1001 (1001)"), "{}", c.message);
    assert!(!c.message.contains("s3cr3t"), "{}", c.message);

    // The same page read again: nothing new is counted, the failure stays.
    let again = read_jobs(&r, Some(&read.entry), &p, &at(900), "trackvia", &[]);
    assert_eq!((again.auth, again.other), (0, 0));
    assert_eq!(again.entry.auth_failure_time, Some(at(300)));

    // Status keeps whole seconds: a cursor read back from status does not count the job again.
    let ms = |secs: i64, e: Option<&str>| crate::workato::Job {
        completed_at: Some(format!(
            "{}",
            at(secs)
                .0
                .checked_add(jiff::SignedDuration::from_millis(300))
                .unwrap()
        )),
        ..job(secs, e)
    };
    let precise = page(vec![ms(300, Some(AUTH))]);
    let first = read_jobs(&r, None, &precise, &now, "trackvia", &[]);
    let back: RecipeJobsStatus = serde_json::from_value(serde_json::to_value(&first.entry).unwrap()).unwrap();
    let second = read_jobs(&r, Some(&back), &precise, &at(900), "trackvia", &[]);
    assert_eq!((first.auth, second.auth), (1, 0));

    // A later success clears it; the older failures are not counted again.
    let mut later = p.items.clone();
    later.insert(0, job(400, None));
    let cleared = read_jobs(
        &r,
        Some(&read.entry),
        &page_newest_first(later),
        &at(900),
        "trackvia",
        &[],
    );
    assert_eq!((cleared.auth, cleared.other), (0, 0));
    assert_eq!(cleared.entry.auth_failure_time, None);
    record_jobs(&mut s, &mine, vec![cleared.entry], true, &at(900));
    assert_eq!(recipes(&mine, &BTreeMap::new(), &s.recipe_jobs).reason, "Healthy");
}

fn page_newest_first(items: Vec<crate::workato::Job>) -> crate::workato::JobPage {
    crate::workato::JobPage {
        items,
        ..Default::default()
    }
}

#[test]
fn other_failures_are_counted_not_alarmed_and_auth_failures_age_out() {
    let r = counted(1004, 1, 0);
    let mine = [&r];
    let p = page(vec![job(100, Some("Salesforce: 503 Service Unavailable"))]);
    let read = read_jobs(&r, None, &p, &at(200), "trackvia", &[]);
    assert_eq!((read.auth, read.other), (0, 1));
    let mut s = WorkatoConnectionStatus::default();
    record_jobs(&mut s, &mine, vec![read.entry], true, &at(200));
    assert_eq!(recipes(&mine, &BTreeMap::new(), &s.recipe_jobs).reason, "Healthy");

    // An auth failure with no job after it: reported for a day, then aged out.
    let failing = read_jobs(
        &r,
        None,
        &page(vec![job(100, Some("403 Forbidden"))]),
        &at(200),
        "trackvia",
        &[],
    );
    record_jobs(&mut s, &mine, vec![failing.entry], true, &at(200));
    assert_eq!(
        recipes(&mine, &BTreeMap::new(), &s.recipe_jobs).reason,
        "AuthFailures"
    );
    record_jobs(&mut s, &mine, Vec::new(), false, &at(100 + 24 * 3600 - 1));
    assert_eq!(
        recipes(&mine, &BTreeMap::new(), &s.recipe_jobs).reason,
        "AuthFailures"
    );
    record_jobs(&mut s, &mine, Vec::new(), false, &at(100 + 24 * 3600 + 1));
    assert_eq!(recipes(&mine, &BTreeMap::new(), &s.recipe_jobs).reason, "Healthy");
    assert_eq!(
        s.jobs_checked_time,
        Some(at(200)),
        "no read: the check time stays"
    );
    // A recipe that no longer depends on the connection is forgotten.
    record_jobs(&mut s, &[], Vec::new(), false, &at(0));
    assert!(s.recipe_jobs.is_empty());
}

#[test]
fn auth_failures_come_after_rotation_holds_and_workato_stops() {
    let rs = [
        counted(1, 1, 0),
        recipe(2, false, Some("trigger_errors_limit")),
        recipe(3, false, Some("txn_quota_limit")),
    ];
    let failing = [RecipeJobsStatus {
        id: 1,
        auth_failure_time: Some(at(0)),
        auth_failure: Some("401 Unauthorized".into()),
        ..Default::default()
    }];
    let mine: Vec<&Recipe> = rs.iter().collect();
    let held = BTreeMap::from([(
        3,
        Held {
            rotation: "rot".into(),
            left: true,
        },
    )]);
    assert_eq!(recipes(&mine, &held, &failing).reason, "LeftStoppedByRotation");
    assert_eq!(
        recipes(&mine, &BTreeMap::new(), &failing).reason,
        "StoppedByErrors"
    );
    let no_errors: Vec<&Recipe> = [&rs[0], &rs[2]].into();
    assert_eq!(
        recipes(&no_errors, &BTreeMap::new(), &failing).reason,
        "AuthFailures"
    );
    assert_eq!(
        recipes(&no_errors, &BTreeMap::new(), &[]).reason,
        "TaskLimitReached"
    );
}

mod connector_fit {
    use super::wc;
    use crate::conditions::{Cond, reasons};
    use crate::controller::workato_connection::fit::{dedicated, fit};
    use crate::domain::connector::{Connector, ConnectorKind, Field};

    fn custom(fields: &[(&str, &[&str])]) -> Connector {
        Connector {
            provider: "tv_custom".into(),
            kind: ConnectorKind::Custom { id: 8 },
            oauth: false,
            fields: Some(
                fields
                    .iter()
                    .map(|(n, o)| Field {
                        name: (*n).into(),
                        options: o.iter().map(|s| (*s).into()).collect(),
                    })
                    .collect(),
            ),
        }
    }

    fn is(c: &Cond, r: impl crate::conditions::reasons::Reason) -> bool {
        c.is(r)
    }

    #[test]
    fn a_standard_connector_gets_the_configured_fields_and_auth_type() {
        let c = Connector {
            provider: "trackvia".into(),
            kind: ConnectorKind::Standard,
            oauth: true,
            fields: None,
        };
        let f = fit(&wc(serde_json::json!({})), &c).unwrap();
        assert!(is(&f.cond, reasons::ConnectorCompatible::FieldsNotPublished));
        assert_eq!(f.status.auth_type.as_deref(), Some("auth_type=auth_token"));
        let spec = serde_json::json!({"authType": {"field": "authentication_type", "value": "api_token"}});
        let f = fit(&wc(spec), &c).unwrap();
        assert_eq!(
            f.status.auth_type.as_deref(),
            Some("authentication_type=api_token")
        );
    }

    #[test]
    fn a_connector_declaring_other_fields_is_refused_and_its_fields_listed() {
        let refused = fit(
            &wc(serde_json::json!({})),
            &custom(&[("api_token", &[]), ("subdomain", &[])]),
        )
        .unwrap_err();
        assert!(is(&refused, reasons::ConnectorCompatible::NoMatchingFields));
        assert!(
            refused.message.contains("[api_token, subdomain]"),
            "{}",
            refused.message
        );
        // Configured to the connector's fields, it fits, and no type is sent (none declared).
        let spec = serde_json::json!({"inputKeys": {"apiKey": "api_token", "authToken": "subdomain"}});
        let f = fit(&wc(spec), &custom(&[("api_token", &[]), ("subdomain", &[])])).unwrap();
        assert!(is(&f.cond, reasons::ConnectorCompatible::FieldsMatch));
        assert_eq!(f.status.auth_type, None);
    }

    #[test]
    fn an_auth_type_the_connector_does_not_offer_is_refused() {
        let c = custom(&[
            ("auth_type", &["oauth", "api_key"]),
            ("user_key", &[]),
            ("access_token", &[]),
        ]);
        let refused = fit(&wc(serde_json::json!({})), &c).unwrap_err();
        assert!(is(&refused, reasons::ConnectorCompatible::AuthTypeNotOffered));
        assert!(refused.message.contains("[oauth, api_key]"));
        let f = fit(&wc(serde_json::json!({"authType": {"value": "api_key"}})), &c).unwrap();
        assert_eq!(f.status.auth_type.as_deref(), Some("auth_type=api_key"));
    }

    #[test]
    fn an_unknown_provider_is_refused() {
        let c = Connector {
            provider: "nope".into(),
            kind: ConnectorKind::Missing,
            oauth: false,
            fields: None,
        };
        let refused = fit(&wc(serde_json::json!({})), &c).unwrap_err();
        assert!(is(&refused, reasons::ConnectorCompatible::ConnectorNotFound));
    }

    #[test]
    fn dedicated_credentials_say_what_is_known() {
        let plain = wc(serde_json::json!({}));
        assert!(is(
            &dedicated(&plain, 1, true, true),
            reasons::DedicatedCredentials::AuthToken
        ));
        assert!(is(
            &dedicated(&plain, 1, false, true),
            reasons::DedicatedCredentials::AuthNotShown
        ));
        for migrate in [true, false] {
            let w = wc(serde_json::json!({"migrateFromOAuth": migrate}));
            assert!(is(
                &dedicated(&w, 1, false, true),
                reasons::DedicatedCredentials::EmployeeBoundAuth
            ));
        }
    }
}
