//! Which watch events start a reconcile: one reconcile per change that matters.
//!
//! The shared caches (`super::watches`) hand every subscriber each object that changed. A
//! subscriber passes an object on only when the part of it its reconciler reads ([`Inputs`])
//! changed since it last passed it, and, for an object's own controller, not when the change is
//! the echo of a write of ours (a status, a finalizer, an annotation; see
//! [`crate::reconcile::written`]). A status-only update therefore reconciles nothing: what a
//! reconciler needs next it asks for itself (`Action::requeue`), and periodic checks run on their
//! own timers.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use futures::{Stream, StreamExt};
use kube::Resource;
use kube::runtime::reflector::Store;

use crate::conditions::{self, types};
use crate::reconcile::Context;
use crate::reconcile::written::Written;

/// A change a shared cache hands its subscribers.
pub enum Change<K> {
    /// Created or updated (or listed).
    Applied(Arc<K>),
    /// Deleted: a change for the objects referring to it, not for its own controller.
    Deleted(Arc<K>),
}

impl<K> Clone for Change<K> {
    fn clone(&self) -> Self {
        match self {
            Self::Applied(o) => Self::Applied(o.clone()),
            Self::Deleted(o) => Self::Deleted(o.clone()),
        }
    }
}

/// What a subscriber reads of an object, as a hash: a change of it starts a reconcile.
pub type Inputs<K> = fn(&K) -> u64;

/// What a reconciler reads of its own object's metadata and spec: the generation (any spec
/// change), deletion, finalizers, labels and annotations (the recheck and rotation requests, the
/// pushed credentials). Not the status, which only the operator writes.
pub fn own<K: Resource>(obj: &K) -> u64 {
    let m = obj.meta();
    let mut h = DefaultHasher::new();
    m.generation.hash(&mut h);
    m.deletion_timestamp.as_ref().map(|t| t.0).hash(&mut h);
    m.finalizers.hash(&mut h);
    m.labels.hash(&mut h);
    m.annotations.hash(&mut h);
    h.finish()
}

/// What another kind reads of an object it refers to: the spec and whether it is being deleted.
pub fn spec<K: Resource>(obj: &K) -> u64 {
    let m = obj.meta();
    let mut h = DefaultHasher::new();
    m.generation.hash(&mut h);
    m.deletion_timestamp.is_some().hash(&mut h);
    h.finish()
}

/// The spec and the `Ready` condition of a checked kind (TrackViaAccount, WorkatoWorkspace): what
/// the objects that use them read. A periodic check that confirms the verdict changes neither.
pub fn spec_and_ready<K>(obj: &K) -> u64
where
    K: Resource + crate::reconcile::credential_check::HasCheckedStatus,
{
    let mut h = DefaultHasher::new();
    spec(obj).hash(&mut h);
    let conds = obj
        .checked_status()
        .map(|s| &s.common.conditions[..])
        .unwrap_or(&[]);
    if let Some(c) = conditions::find(conds, types::READY) {
        (&c.status, &c.reason, &c.message).hash(&mut h);
    }
    h.finish()
}

/// What a WorkatoConnection reads of its account's rotations: whether each is finished or lost
/// its token, and which recipes it holds stopped on which connection.
pub fn held_recipes(r: &crate::api::CredentialRotation) -> u64 {
    let mut h = DefaultHasher::new();
    if let Some(s) = &r.status {
        s.phase.map(|p| p.is_terminal()).hash(&mut h);
        s.token_lost_time.is_some().hash(&mut h);
        for x in s.recipes.iter().filter(|x| x.state.is_held()) {
            (x.id, &x.connection).hash(&mut h);
        }
    }
    r.meta().deletion_timestamp.is_some().hash(&mut h);
    h.finish()
}

/// Passes on the objects of `changed` whose [`Inputs`] changed (every change without `inputs`:
/// Secrets have no status, and a rotation's every step matters to someone), and, with `echoes`, that are not
/// the echo of a write of ours; deleted objects only with `deletes` (an object's own controller
/// has nothing to do with it once deleted: finalizers are seen while it is still there; the
/// objects referring to it do). `store` is the cache the events come from (to forget objects it
/// no longer holds).
pub fn changes<K>(
    changed: impl Stream<Item = Change<K>> + Send + 'static,
    store: Store<K>,
    inputs: Option<Inputs<K>>,
    (echoes, deletes): (Option<Arc<Context>>, bool),
) -> impl Stream<Item = Arc<K>> + Send + 'static
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    let mut seen: HashMap<u64, u64> = HashMap::new();
    changed.filter_map(move |change| {
        let pass = match change {
            Change::Applied(obj) => passes(
                &mut seen,
                &store,
                &obj,
                inputs,
                echoes.as_deref().map(|c| &c.written),
            )
            .then_some(obj),
            Change::Deleted(obj) => {
                seen.remove(&key(&*obj));
                if let Some(c) = &echoes {
                    c.written.forget(obj.meta().uid.as_deref());
                }
                deletes.then_some(obj)
            }
        };
        futures::future::ready(pass)
    })
}

/// An object's place in the hashes kept: its namespace and name, hashed (16 bytes an object
/// instead of its reference).
fn key<K: Resource>(obj: &K) -> u64 {
    let mut h = DefaultHasher::new();
    (&obj.meta().namespace, &obj.meta().name).hash(&mut h);
    h.finish()
}

fn passes<K>(
    seen: &mut HashMap<u64, u64>,
    store: &Store<K>,
    obj: &K,
    inputs: Option<Inputs<K>>,
    echoes: Option<&Written>,
) -> bool
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    // Deletions missed while a watch was down are not announced: forget them now and then.
    if seen.len() > 2 * store.len() + 1024 {
        let present: std::collections::HashSet<u64> = store.state().iter().map(|o| key(&**o)).collect();
        seen.retain(|k, _| present.contains(k));
    }
    // (no hashes kept without `inputs`: one entry per object and subscriber adds up)
    let changed = inputs.is_none_or(|inputs| {
        let hash = inputs(obj);
        seen.insert(key(obj), hash) != Some(hash)
    });
    let m = obj.meta();
    let echo = echoes.is_some_and(|w| w.echo(m.uid.as_deref(), m.resource_version.as_deref()));
    changed && !echo
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::IntegrationAccount;

    fn ia(rv: &str, generation: i64, annotations: &[(&str, &str)], status: &str) -> IntegrationAccount {
        let a: serde_json::Map<String, serde_json::Value> = annotations
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
            .collect();
        serde_json::from_value(serde_json::json!({
            "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "IntegrationAccount",
            "metadata": {"name": "sf", "namespace": "ns", "uid": "u", "resourceVersion": rv,
                         "generation": generation, "annotations": a},
            "spec": {"accountRef": {"name": "acme"}, "system": "Salesforce", "email": "sf@acme.example",
                     "tokenSecretRef": {"name": "sf-token", "key": "token"},
                     "credentialsSecret": {"name": "sf-credentials"}},
            "status": {"nextAction": status}
        }))
        .unwrap()
    }

    #[test]
    fn a_status_only_update_or_an_echo_of_ours_starts_no_reconcile() {
        let (store, _writer) = kube::runtime::reflector::store::<IntegrationAccount>();
        let written = Written::default();
        let mut seen = HashMap::new();
        let mut pass = |o: &IntegrationAccount| passes(&mut seen, &store, o, Some(own), Some(&written));
        assert!(pass(&ia("1", 1, &[], "")), "created");
        assert!(!pass(&ia("2", 1, &[], "x")), "status only");
        assert!(pass(&ia("3", 2, &[], "x")), "spec changed");
        assert!(pass(&ia("4", 2, &[("a", "b")], "x")), "annotation changed");
        written.record(Some("u"), Some("5"));
        assert!(
            !pass(&ia("5", 2, &[("a", "b"), ("pushed", "fp")], "x")),
            "our own annotation"
        );
        assert!(
            pass(&ia("6", 2, &[("a", "c"), ("pushed", "fp")], "x")),
            "someone else's after it"
        );
    }
}
