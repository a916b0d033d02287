//! The machinery every reconciler shares, below the domain: the [`Context`] (Kubernetes client,
//! clock, settings, metrics, vendor client registry), the error type, status writes, events,
//! intervals, and the listing cache. Nothing here knows a kind's rules; see `crate::domain` for
//! what the product knows and `crate::controller` for the reconcilers.

pub mod cache;
pub mod cached_secret;
pub mod context;
pub mod credential_check;
pub mod error;
pub mod kube_client;
pub mod lookup;
pub mod recheck;
pub mod timers;
pub mod vendors;
pub mod written;

use std::fmt::Debug;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::Condition;

pub use context::{Context, Scoped, Settings};
pub use error::Error;

/// Field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "trackvia-operator";

/// How soon an object whose status the API server stored otherwise than written is looked at
/// again (see [`apply_status`]).
pub const SETTLE: Duration = Duration::from_secs(1);

/// Writes the status subresource with server-side apply (the operator owns all of status).
/// Returns whether the API server stored it as written: server-side apply can store a field
/// differently (an emptied object as `null`), and since the echo of our own write starts no
/// reconcile, the caller then looks again soon ([`SETTLE`]) so that the status settles.
pub async fn apply_status<K>(ctx: &Context, obj: &K, status: &impl Serialize) -> Result<bool, Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + Debug,
{
    let ns = obj.namespace().ok_or(Error::Malformed("namespace"))?;
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    let written = api
        .patch_status(
            &obj.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
        .map_err(Error::kube("writing status"))?;
    ctx.written.record(
        written.meta().uid.as_deref(),
        written.meta().resource_version.as_deref(),
    );
    let stored = serde_json::to_value(&written)
        .ok()
        .and_then(|v| v.get("status").cloned());
    let settled = stored.as_ref() == patch.get("status");
    tracing::debug!(object = %obj.name_any(), settled, "status written");
    Ok(settled)
}

/// Counts every condition transition and publishes an event for each one a person cares about
/// (Warning when it turned bad).
pub async fn announce<K>(ctx: &Context, kind: &str, obj: &K, old: &[Condition], new: &[Condition])
where
    K: Resource<DynamicType = ()>,
{
    // A Recorder per Event: a shared one would keep every Event it sent for six minutes (for
    // series), which with thousands of objects is tens of MiB for little gain here.
    let recorder = Recorder::new(ctx.client.clone(), ctx.reporter.clone());
    for c in crate::conditions::transitions(old, new) {
        ctx.metrics
            .condition_transitions
            .get_or_create(&crate::metrics::TransitionLabels {
                controller: kind.to_owned(),
                condition: c.type_.to_string(),
                status: c.status.to_string(),
                reason: c.reason.to_string(),
            })
            .inc();
        if !worth_an_event(old, c) {
            continue;
        }
        let event = Event {
            type_: if crate::conditions::abnormal(c) {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: c.reason.to_string(),
            note: Some(format!("{}={}: {}", c.type_, c.status, c.message)),
            action: format!("Update{}", c.type_),
            secondary: None,
        };
        tracing::debug!(reason = %event.reason, "event");
        if let Err(e) = recorder.publish(&event, &obj.object_ref(&())).await {
            tracing::warn!(error = %e, "could not publish event");
        }
    }
}

/// The object as it is now, status included (the caches of the numerous kinds hold no status),
/// or `None` when it is gone.
pub async fn latest<K>(ctx: &Context, cached: &K) -> Result<Option<K>, Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let ns = cached
        .meta()
        .namespace
        .clone()
        .ok_or(Error::Malformed("namespace"))?;
    let name = cached.meta().name.clone().ok_or(Error::Malformed("name"))?;
    kube::Api::<K>::namespaced(ctx.client.clone(), &ns)
        .get_opt(&name)
        .await
        .map_err(Error::kube("reading the object"))
}

/// The object a reconcile works on: the copy in `store` (the cache of its kind; without one, the
/// copy the controller handed it, `cached`), unless the cache has not shown the last write of ours
/// yet (see [`written::Written`]); then the object as the API server has it, or `None` when it is
/// gone. A reconcile so never decides on a status older than the one it wrote, and a reconcile
/// that changes nothing reads nothing.
///
/// The cache is read again rather than trusting `cached`: kube's runner takes its copy when it
/// starts the reconcile, and the echo of our last write can reach the cache and be taken between
/// then and now. Asking [`written::Written::unseen`] first and reading the cache after is what
/// makes the answer safe in every order (`tests::a_reconcile_never_decides_on_a_copy_older_than_our_last_write`).
pub async fn current<K>(ctx: &Context, cached: &K, store: Option<&Store<K>>) -> Result<Option<K>, Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let uid = cached.meta().uid.as_deref();
    let unseen = ctx.written.unseen(uid);
    let copy = store
        .and_then(|s| s.get(&ObjectRef::from_obj(cached)))
        .filter(|o| o.meta().uid.as_deref() == uid)
        .map_or_else(|| cached.clone(), |o| (*o).clone());
    let Some(unseen) = unseen else {
        return Ok(Some(copy));
    };
    if copy.meta().resource_version.as_deref() == Some(unseen.as_str()) {
        ctx.written.settle(uid, &unseen);
        return Ok(Some(copy));
    }
    tracing::debug!(object = %cached.name_any(), "the cache has not shown our last write: reading the object");
    let latest = latest(ctx, cached).await?;
    match &latest {
        // The cache is as new as the API server (it moved past our write through a relist).
        Some(l) if l.meta().resource_version == copy.meta().resource_version => ctx.written.forget(uid),
        None => ctx.written.forget(uid),
        Some(_) => {}
    }
    Ok(latest)
}

/// Which transitions people hear about: every change of `Ready` (except the first "not there
/// yet"), any other condition going bad (or bad for a new reason), and its recovery. A condition
/// turning `True` on the way to `Ready` is in the status, not an Event: creating a thousand
/// objects must not mean ten thousand Events for the API server to store.
fn worth_an_event(old: &[Condition], c: &Condition) -> bool {
    let was = crate::conditions::find(old, &c.type_);
    if c.type_ == crate::conditions::types::READY {
        return !(c.status == "Unknown" && was.is_none_or(|w| w.status == "Unknown"));
    }
    crate::conditions::abnormal(c) || was.is_some_and(crate::conditions::abnormal)
}

/// Publishes one event outside condition transitions (a step taken).
pub async fn event<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    obj: &K,
    warning: bool,
    reason: &str,
    note: String,
) {
    // A Recorder per Event: a shared one would keep every Event it sent for six minutes (for
    // series), which with thousands of objects is tens of MiB for little gain here.
    let recorder = Recorder::new(ctx.client.clone(), ctx.reporter.clone());
    let event = Event {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.to_owned(),
        note: Some(crate::external::http::trim_message(&note, 1000)),
        action: reason.to_owned(),
        secondary: None,
    };
    tracing::debug!(reason, "event");
    if let Err(e) = recorder.publish(&event, &obj.object_ref(&())).await {
        tracing::warn!(error = %e, "could not publish event");
    }
}

/// Parses an optional Go duration from a spec, falling back to `default` (the schema already
/// rejects malformed values).
pub fn interval(spec: Option<&str>, default: Duration) -> Duration {
    spec.and_then(|s| s.parse::<kube::core::Duration>().ok())
        .map(Duration::from)
        .unwrap_or(default)
}

/// Whether a periodic check is due: never done, or `every` has passed since `last`.
pub fn due(last: Option<&Time>, every: Duration, now: Timestamp) -> bool {
    match last {
        None => true,
        Some(t) => t.0.checked_add(signed(every)).map_or(true, |next| next <= now),
    }
}

/// How long until `last + every` (zero when due).
pub fn until_due(last: Option<&Time>, every: Duration, now: Timestamp) -> Duration {
    last.and_then(|t| t.0.checked_add(signed(every)).ok())
        .map(|next| next.duration_since(now))
        .and_then(|d| Duration::try_from(d).ok())
        .unwrap_or(Duration::ZERO)
}

/// A std duration as jiff's signed duration (saturating).
pub fn signed(d: Duration) -> jiff::SignedDuration {
    jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX)
}

/// Runs `f` and records its duration, count and error label.
pub async fn measured<F, T>(ctx: &Context, controller: &str, f: F) -> Result<T, Error>
where
    F: Future<Output = Result<T, Error>>,
{
    let labels = crate::metrics::ControllerLabels {
        controller: controller.to_owned(),
    };
    let start = std::time::Instant::now();
    let result = f.await;
    ctx.metrics.reconciles.get_or_create(&labels).inc();
    ctx.metrics
        .reconcile_duration
        .get_or_create(&labels)
        .observe(start.elapsed().as_secs_f64());
    if let Err(e) = &result {
        ctx.metrics
            .reconcile_errors
            .get_or_create(&crate::metrics::ErrorLabels {
                controller: controller.to_owned(),
                error: e.label().to_owned(),
            })
            .inc();
    }
    result
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http::{Request, Response};
    use kube::client::Body;
    use kube::runtime::watcher;

    use super::*;
    use crate::api::IntegrationAccount;

    fn ia(rv: &str) -> IntegrationAccount {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "IntegrationAccount",
            "metadata": {"name": "sf", "namespace": "ns", "uid": "u", "resourceVersion": rv, "generation": 1},
            "spec": {"accountRef": {"name": "acme"}, "system": "Salesforce", "email": "sf@acme.example",
                     "tokenSecretRef": {"name": "sf-token", "key": "token"},
                     "credentialsSecret": {"name": "sf-credentials"}},
            "status": {"nextAction": rv}
        }))
        .unwrap()
    }

    /// A context whose API server holds `latest` and counts the reads.
    fn context(latest: IntegrationAccount, reads: Arc<AtomicUsize>) -> Context {
        let service = tower::service_fn(move |_: Request<Body>| {
            reads.fetch_add(1, Ordering::SeqCst);
            let body = serde_json::to_vec(&latest).unwrap();
            async move {
                Ok::<_, std::convert::Infallible>(
                    Response::builder()
                        .status(200)
                        .header("content-type", "application/json")
                        .body(Body::from(body))
                        .unwrap(),
                )
            }
        });
        Context::new(
            kube::Client::new(service, "ns"),
            Arc::new(crate::clock::SystemClock),
            crate::secret::Sensitive::new(b"key".to_vec()),
            Settings::default(),
            Arc::new(crate::metrics::Metrics::new()),
        )
    }

    /// What happens around a status write X of ours (the object was at W before it), in any order
    /// the operator's tasks allow.
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Step {
        /// The answer to the write arrives: `Written::record`.
        Answered,
        /// The watch delivers X into the cache.
        Cached,
        /// The trigger stream takes the echo of X (after the cache holds it).
        Echoed,
        /// kube's runner starts the next reconcile, handing it the cache's copy (after the reconcile
        /// that wrote X has finished, so after the answer).
        Handed,
        /// That reconcile asks for its object.
        Asked,
    }

    fn allowed(order: &[Step]) -> bool {
        let at = |s: Step| order.iter().position(|o| *o == s).unwrap();
        at(Step::Cached) < at(Step::Echoed)
            && at(Step::Answered) < at(Step::Handed)
            && at(Step::Handed) < at(Step::Asked)
    }

    fn orders(rest: Vec<Step>) -> Vec<Vec<Step>> {
        if rest.is_empty() {
            return vec![Vec::new()];
        }
        let mut all = Vec::new();
        for (i, s) in rest.iter().enumerate() {
            let mut others = rest.clone();
            others.remove(i);
            for mut tail in orders(others) {
                tail.insert(0, *s);
                all.push(tail);
            }
        }
        all
    }

    /// Invariant: a reconcile started after our write never decides on the object as it was
    /// before that write, in every order of the write's answer, its echo, the cache taking it, and
    /// the runner handing the next reconcile its copy.
    #[tokio::test]
    async fn a_reconcile_never_decides_on_a_copy_older_than_our_last_write() {
        let (w, x) = (ia("1"), ia("2"));
        let steps = vec![
            Step::Answered,
            Step::Cached,
            Step::Echoed,
            Step::Handed,
            Step::Asked,
        ];
        let mut walked = 0;
        for order in orders(steps).into_iter().filter(|o| allowed(o)) {
            walked += 1;
            let reads = Arc::new(AtomicUsize::new(0));
            let ctx = context(x.clone(), reads.clone());
            let (store, mut writer) = kube::runtime::reflector::store::<IntegrationAccount>();
            writer.apply_watcher_event(&watcher::Event::Apply(w.clone()));
            let mut handed = None;
            let mut got = None;
            for step in &order {
                match step {
                    Step::Answered => ctx.written.record(Some("u"), Some("2")),
                    Step::Cached => writer.apply_watcher_event(&watcher::Event::Apply(x.clone())),
                    Step::Echoed => {
                        ctx.written.echo(Some("u"), Some("2"));
                    }
                    Step::Handed => handed = store.get(&ObjectRef::from_obj(&w)),
                    Step::Asked => {
                        let copy = handed.clone().expect("handed before asked");
                        got = current(&ctx, &*copy, Some(&store)).await.unwrap();
                    }
                }
            }
            let got = got.expect("the object exists");
            assert_eq!(
                got.meta().resource_version.as_deref(),
                Some("2"),
                "order {order:?}: decided on the copy before our write ({} reads)",
                reads.load(Ordering::SeqCst)
            );
        }
        assert_eq!(walked, 10);
    }
}
