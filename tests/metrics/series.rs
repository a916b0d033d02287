//! The per-object series: computed at the scrape, following the objects' statuses, and gone with
//! the objects.

use serde_json::json;
use trackvia_operator::api::{CredentialRotation, IntegrationAccount, TrackViaAccount, WorkatoConnection};

use crate::support::operator::{Operator, eventually, samples};
use crate::support::world::*;
use crate::{delete, due_world, has_series_of, named, value};

/// An account whose token expires within `renewBefore` is due at once: `rotation_due` is 1 (the
/// maintenance window is closed, so no scheduled rotation starts: "due and not started"), with
/// since when and the lead time; deleting a WorkatoConnection, a CredentialRotation and the
/// IntegrationAccount takes each one's series away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_due_account_exports_rotation_due_and_deleted_objects_lose_their_series() {
    let (client, ns, _emu, op) = due_world("metrics-series").await;
    expiring_soon(&client, &ns).await;
    wait_condition::<IntegrationAccount>(&client, &ns, "sf", "RotationDue", |c| c.0 == "True").await;
    let sf = named("sf");
    let text = op
        .scrape_until("rotation_due 1 for sf", |m| {
            value(m, "trackvia_operator_rotation_due", &[&sf]) == Some(1.0)
        })
        .await;
    let ia = get_json::<IntegrationAccount>(&client, &ns, "sf").await.unwrap();
    let expiry: jiff::Timestamp = ia["status"]["token"]["expiresAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        value(&text, "trackvia_operator_token_expiry_timestamp_seconds", &[&sf]),
        Some(expiry.as_second() as f64),
        "{text}"
    );
    assert_eq!(
        value(&text, "trackvia_operator_token_renew_before_seconds", &[&sf]),
        Some(720.0 * 3600.0)
    );
    assert_eq!(
        value(
            &text,
            "trackvia_operator_rotation_due_since_timestamp_seconds",
            &[&sf]
        ),
        Some((expiry.as_second() - 720 * 3600) as f64),
        "due since the expiry minus renewBefore"
    );
    assert!(
        rotations(&client, &ns).await.is_empty(),
        "the window is closed: nothing started"
    );

    // A rotation (a dry run finishes at once) and its phase, the one series of it.
    rotation(&client, &ns, "dry", json!({"dryRun": true})).await;
    let finished = eventually(WAIT, "the dry run finished", || async {
        let r = get_json::<CredentialRotation>(&client, &ns, "dry").await?;
        r["status"]["finishedTime"].is_string().then_some(r)
    })
    .await;
    let dry = named("dry");
    let current = format!("phase=\"{}\"", phase(&finished));
    let text = op
        .scrape_until("the dry run's phase", |m| {
            value(m, "trackvia_operator_rotation_phase", &[&dry, &current]) == Some(1.0)
        })
        .await;
    assert_eq!(
        samples(&text, "trackvia_operator_rotation_phase", &[&dry]).len(),
        1,
        "{text}"
    );
    let text = op
        .scrape_until("series of conn-1", |m| has_series_of(m, &ns, "conn-1"))
        .await;
    let conn = named("conn-1");
    assert_eq!(
        value(&text, "trackvia_operator_recipes_auth_failing", &[&conn]),
        Some(0.0)
    );
    assert_eq!(
        value(&text, "trackvia_operator_recipes_stopped_by_workato", &[&conn]),
        Some(0.0)
    );
    assert_eq!(
        value(&text, "trackvia_operator_recipes_left_stopped", &[&dry]),
        Some(0.0)
    );

    // Deleted, each one's series go (while the others' stay).
    delete::<WorkatoConnection>(&client, &ns, "conn-1").await;
    delete::<CredentialRotation>(&client, &ns, "dry").await;
    let text = op
        .scrape_until("no series of conn-1 and dry", |m| {
            !has_series_of(m, &ns, "conn-1") && !has_series_of(m, &ns, "dry")
        })
        .await;
    assert!(has_series_of(&text, &ns, "conn-2") && has_series_of(&text, &ns, "sf"));
    for name in ["conn-2", "conn-3"] {
        delete::<WorkatoConnection>(&client, &ns, name).await;
    }
    delete::<IntegrationAccount>(&client, &ns, "sf").await;
    eventually(WAIT, "sf deleted", || async {
        get_json::<IntegrationAccount>(&client, &ns, "sf")
            .await
            .is_none()
            .then_some(())
    })
    .await;
    let text = op
        .scrape_until("no series of sf", |m| !has_series_of(m, &ns, "sf"))
        .await;
    for metric in [
        "token_expiry_timestamp_seconds",
        "rotation_due",
        "rotation_due_since_timestamp_seconds",
        "token_renew_before_seconds",
    ] {
        assert!(
            !text.contains(&format!("trackvia_operator_{metric}{{")),
            "{metric}: {text}"
        );
    }
    // The TrackViaAccount is still there, and still exported.
    assert!(has_series_of(&text, &ns, "acme"), "{text}");
}

/// `ready_status` follows the Ready condition: a TrackViaAccount whose Secret is missing is
/// `False`; once the Secret exists it turns `True`, with the time of the transition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn ready_status_flips_with_the_ready_condition() {
    let (client, ns, emu) = emulated("metrics-ready", 0).await;
    let op = Operator::start(&ns);
    crate::support::sandbox::account(&client, &ns, &emu, "acme").await;
    wait_condition::<TrackViaAccount>(&client, &ns, "acme", "Ready", |c| c.0 == "False").await;
    let acme = named("acme");
    let kind = "kind=\"TrackViaAccount\"";
    let status = |s: &'static str| format!("condition=\"{s}\"");
    let (t, f, u) = (status("True"), status("False"), status("Unknown"));
    op.scrape_until("Ready False in ready_status", |m| {
        let v = |c: &str| value(m, "trackvia_operator_ready_status", &[kind, &acme, c]);
        (v(&t), v(&f), v(&u)) == (Some(0.0), Some(1.0), Some(0.0))
    })
    .await;
    crate::support::sandbox::admin_secret(&client, &ns).await;
    let o = wait_condition::<TrackViaAccount>(&client, &ns, "acme", "Ready", |c| c.0 == "True").await;
    let text = op
        .scrape_until("Ready True in ready_status", |m| {
            let v = |c: &str| value(m, "trackvia_operator_ready_status", &[kind, &acme, c]);
            (v(&t), v(&f), v(&u)) == (Some(1.0), Some(0.0), Some(0.0))
        })
        .await;
    let ready = o["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap();
    let since: jiff::Timestamp = ready["lastTransitionTime"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        value(
            &text,
            "trackvia_operator_ready_condition_since_timestamp_seconds",
            &[kind, &acme]
        ),
        Some(since.as_second() as f64),
        "{text}"
    );
}
