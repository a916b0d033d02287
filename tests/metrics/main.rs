//! The operator's `/metrics` as Prometheus scrapes it (issue 15): the per-object state read from
//! the caches at each scrape (series go with their objects, `ready_status` follows `Ready`,
//! `rotation_due` is computed at the scrape), counters that start at 0, `build_info`, and a real
//! scrape after a story with every kind, written for the alert rules' tests. The operator binary
//! on the real API server against both emulators; run through `make test`.
//!
//! Every assertion on a per-object series polls the scrape: the caches the collector reads may lag
//! a status write by a moment, as any scrape lags the state it reports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[path = "../support/mod.rs"]
mod support;

mod counters;
mod scrape;
mod series;

use kube::api::Api;
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use support::operator::{Emulators, Operator, samples};
use support::world::set_up;

/// The label text of object `name` (exactly: `name="sf"` does not match `name="sf-2"`).
fn named(name: &str) -> String {
    format!("name=\"{name}\"")
}

/// Whether a scrape holds any series of object `name` in `ns`.
fn has_series_of(text: &str, ns: &str, name: &str) -> bool {
    let (ns, name) = (format!("namespace=\"{ns}\""), named(name));
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .any(|l| l.contains(&ns) && l.contains(&name))
}

/// The value of the one sample of `metric` with all of `labels`, if there is exactly one.
fn value(text: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    match samples(text, metric, labels).as_slice() {
        [(_, v)] => Some(*v),
        _ => None,
    }
}

/// A maintenance window that opened 12 hours ago for one hour: no scheduled rotation starts now.
fn closed_window() -> Value {
    let then = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(12);
    let at = then.to_zoned(jiff::tz::TimeZone::UTC);
    json!({"start": format!("{:02}:{:02}", at.hour(), at.minute()), "duration": "1h"})
}

/// The world (account `sf`, connections `conn-1..3`) with a closed maintenance window and
/// `renewBefore` 30 days: an account whose token expires within 30 days is due, and no scheduled
/// rotation starts ("due and not started").
async fn due_world(prefix: &str) -> (Client, String, Emulators, Operator) {
    let rotation = json!({"renewBefore": "720h", "maintenanceWindow": closed_window(),
                          "newTokenTimeout": "1h", "revocationGracePeriod": "1h"});
    set_up(prefix, 0, Some(rotation)).await
}

/// Deletes object `name` of kind `K`.
async fn delete<K>(client: &Client, ns: &str, name: &str)
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    Api::<K>::namespaced(client.clone(), ns)
        .delete(name, &Default::default())
        .await
        .unwrap();
}
