//! The checks after a run: I1..I10 and the campaign's own, each on its own, over what the run
//! observed (`Seen`) and the world right after it.

use std::collections::BTreeMap;
use std::time::Instant;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use serde_json::Value;
use trackvia_operator::api::CredentialRotation;

use crate::after_recipes::{left_stopped_is_named, once_and_scope, refused_starts, staged_or_nothing};
use crate::after_tokens::{
    bounded_retries, environment_guard, errors_are_not_facts, no_unattended_outage, nothing_foreign_deleted,
    one_rotation_per_run, one_token,
};
use crate::plan::{Plan, Strategy};
use crate::report::Report;
use crate::support::chaos::{get_retry, list_retry};
use crate::support::world::{events, json_of, running_in};
use crate::world::{Seen, Tracked, World};
use crate::{KUBE_RETRY, SHOW_WITHIN};

/// What the checks after a run look at.
pub struct After<'a> {
    pub plan: &'a Plan,
    pub seen: &'a Seen,
    pub before: &'a BTreeMap<i64, bool>,
    pub conn_of: &'a BTreeMap<i64, i64>,
    pub sar: bool,
    /// The emulator's state after the run, and its recipes' running flags.
    pub state: Value,
    pub after: BTreeMap<i64, bool>,
    /// The token in the credentials Secret after the run.
    pub published: String,
    /// Every CredentialRotation now.
    pub rots: Vec<Value>,
    /// The Events of every rotation of the run.
    pub evs: BTreeMap<String, Vec<(String, String, String)>>,
    pub run_t: Option<&'a Tracked>,
    pub run_outcome: String,
    /// One deadline for everything the checks wait for (conditions, metrics), however many
    /// recipes and connections they look at.
    pub show_deadline: Instant,
}

/// The checks after a run (I1..I10 and the campaign's own), then the person's clean-up so that
/// the next run starts from a clean world on the token now published.
pub async fn check_after(
    w: &mut World,
    plan: &Plan,
    rep: &mut Report,
    seen: &Seen,
    before: &BTreeMap<i64, bool>,
    conn_of: &BTreeMap<i64, i64>,
) {
    let a = observe_after(w, plan, seen, before, conn_of).await;
    let refused_real = refused_starts(rep, &a);
    let stops = once_and_scope(rep, &a, &refused_real);
    left_stopped_is_named(w, rep, &a, &stops).await;
    one_token(w, rep, &a).await;
    errors_are_not_facts(rep, &a);
    no_unattended_outage(rep, &a);
    environment_guard(rep, &a);
    nothing_foreign_deleted(w, rep).await;
    staged_or_nothing(rep, &a, &refused_real);
    bounded_retries(rep, &a);
    one_rotation_per_run(rep, &a);
    let published = a.published.clone();
    crate::cleanup::clean_up_and_settle(w, rep, seen, before, published).await;
}

/// The world right after the run.
async fn observe_after<'a>(
    w: &World,
    plan: &'a Plan,
    seen: &'a Seen,
    before: &'a BTreeMap<i64, bool>,
    conn_of: &'a BTreeMap<i64, i64>,
) -> After<'a> {
    let state = w.state().await;
    let after = running_in(&state);
    let published = get_retry(
        &Api::<Secret>::namespaced(w.client.clone(), &w.ns),
        "sf-credentials",
        KUBE_RETRY,
    )
    .await
    .and_then(|s| String::from_utf8(s.data?.get("authToken")?.0.clone()).ok())
    .unwrap_or_default();
    let rots = list_retry(
        &Api::<CredentialRotation>::namespaced(w.client.clone(), &w.ns),
        KUBE_RETRY,
    )
    .await
    .iter()
    .map(json_of)
    .collect::<Vec<Value>>();
    let mut evs: BTreeMap<String, Vec<(String, String, String)>> = BTreeMap::new();
    for t in seen.tracked.values() {
        evs.insert(t.name.clone(), events(&w.client, &w.ns, &t.name).await);
    }
    let run_t = seen.run_uid.as_ref().and_then(|u| seen.tracked.get(u));
    let run_outcome = run_t.map(Tracked::outcome).unwrap_or_default().to_owned();
    After {
        plan,
        seen,
        before,
        conn_of,
        sar: plan.strategy == Strategy::StopAndRestart,
        state,
        after,
        published,
        rots,
        evs,
        run_t,
        run_outcome,
        show_deadline: Instant::now() + SHOW_WITHIN,
    }
}
