//! One case run: its objects, an operator of its own, the condition it must end in, then a window
//! in which its controller's reconciles and the vendor calls are counted.

use std::time::{Duration, Instant};

use kube::Client;
use trackvia_operator::api::Condition;
use trackvia_operator::api::{
    CredentialRotation, IntegrationAccount, TrackViaAccount, WorkatoConnection, WorkatoWorkspace,
};

use super::arrange::arrange;
use super::{CASES, Outcome, REACH, SEED, WINDOW};
use crate::support::operator::{Emulators, Operator, metric_sum};
use crate::support::world::get_json;

/// The object's conditions (a rotation's phase and outcome appear as a `Phase` condition).
async fn conditions(client: &Client, ns: &str, kind: &str, name: &str) -> Vec<Condition> {
    let o = match kind {
        "IntegrationAccount" => get_json::<IntegrationAccount>(client, ns, name).await,
        "TrackViaAccount" => get_json::<TrackViaAccount>(client, ns, name).await,
        "WorkatoWorkspace" => get_json::<WorkatoWorkspace>(client, ns, name).await,
        "WorkatoConnection" => get_json::<WorkatoConnection>(client, ns, name).await,
        "CredentialRotation" => get_json::<CredentialRotation>(client, ns, name).await,
        _ => None,
    };
    let Some(status) = o.map(|o| o["status"].clone()) else {
        return Vec::new();
    };
    let mut c: Vec<Condition> = serde_json::from_value(status["conditions"].clone()).unwrap_or_default();
    if kind == "CredentialRotation" && status.is_object() {
        let text = |field: &str| status[field].as_str().unwrap_or_default().to_owned();
        c.push(Condition {
            type_: "Phase".into(),
            status: text("phase").into(),
            reason: text("outcome").into(),
            message: text("planSummary"),
            last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                jiff::Timestamp::now(),
            ),
            observed_generation: None,
        });
    }
    c
}

pub(crate) async fn run_case(i: usize, client: Client) -> Outcome {
    let case = &CASES[i];
    let started = Instant::now();
    let ns = crate::support::namespace(&client, &format!("bad{i}")).await;
    let other = crate::support::namespace(&client, &format!("bad{i}-other")).await;
    let emu = Emulators::start(SEED).await;
    arrange(i, &client, &ns, &other, &emu).await;
    let mut op = Operator::start(&ns);
    let mut reached = None;
    while started.elapsed() < REACH {
        let conds = conditions(&client, &ns, case.kind, case.object).await;
        if let Some(c) = conds
            .iter()
            .find(|c| c.type_ == case.condition && c.reason == case.reason)
        {
            reached = Some(c.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let Some(found) = reached else {
        let conds = conditions(&client, &ns, case.kind, case.object).await;
        return Outcome {
            condition: format!(
                "NOT REACHED; conditions: {}",
                conds
                    .iter()
                    .map(|c| format!("{}={} {}: {}", c.type_, c.status, c.reason, c.message))
                    .collect::<Vec<_>>()
                    .join(" | ")
            ),
            reached: false,
            reconciles: 0.0,
            errors: 0.0,
            vendor_calls: 0,
            alive: op.exited().is_none(),
            panicked: op.log_text().contains("panicked"),
            took: started.elapsed(),
        };
    };
    // Let the reconcile that wrote it finish, then watch the window. (Both sleeps measure time:
    // the bounds are rates over WINDOW.)
    tokio::time::sleep(Duration::from_secs(2)).await;
    let label = format!("controller=\"{}\"", case.kind);
    let m0 = op.metrics().await.unwrap_or_default();
    emu.reset_calls().await;
    tokio::time::sleep(WINDOW).await;
    let m1 = op.metrics().await.unwrap_or_default();
    let vendor_calls = emu.calls().await.len();
    let delta = |name: &str| metric_sum(&m1, name, &[&label]) - metric_sum(&m0, name, &[&label]);
    let reconciles = delta("trackvia_operator_reconciles_total");
    let errors = delta("trackvia_operator_reconcile_errors_total");
    // The condition still says the same.
    let now = conditions(&client, &ns, case.kind, case.object).await;
    let still = now
        .iter()
        .find(|c| c.type_ == case.condition)
        .map(|c| c.reason == case.reason)
        .unwrap_or(false);
    let alive = op.exited().is_none();
    let panicked = op.log_text().contains("panicked");
    op.kill();
    let mentions = case.mentions.iter().all(|m| found.message.contains(m));
    Outcome {
        condition: format!(
            "{}={} {}: {}{}{}",
            found.type_,
            found.status,
            found.reason,
            found.message,
            if mentions {
                ""
            } else {
                "  [MESSAGE DOES NOT NAME THE PROBLEM]"
            },
            if still {
                ""
            } else {
                "  [CHANGED DURING THE WINDOW]"
            }
        ),
        // Metrics that could not be read would look like a calm object.
        reached: mentions && still && !m0.is_empty() && !m1.is_empty(),
        reconciles,
        errors,
        vendor_calls,
        alive,
        panicked,
        took: started.elapsed(),
    }
}
