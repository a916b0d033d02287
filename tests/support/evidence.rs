//! Evidence that the operator has looked, for tests about what it must NOT do: instead of a fixed
//! sleep (which passes when the operator is merely slow), wait until it has reconciled the object
//! as it is now, then assert that nothing happened.

use std::sync::atomic::{AtomicU32, Ordering};

use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use super::operator::{Operator, eventually};
use super::world::{WAIT, get_json};

/// Annotates object `name` with an annotation the operator does not read: a change of the object
/// (not of its spec) that wakes its controller up.
pub async fn poke<K>(client: &Client, ns: &str, name: &str)
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    static POKES: AtomicU32 = AtomicU32::new(0);
    let n = POKES.fetch_add(1, Ordering::Relaxed);
    let patch = json!({"metadata": {"annotations": {"trackvia-operator.test/poke": n.to_string()}}});
    Api::<K>::namespaced(client.clone(), ns)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

/// Evidence that the operator has reconciled object `name` as it is now, for a test about what it
/// must NOT do: wakes the object up twice ([`poke`]), each time waiting for a reconcile of its
/// controller to finish (`trackvia_operator_reconciles_total`). Reconciles of one object run one
/// at a time, so the second one to finish after this call started after it, and saw everything
/// the API server held when this was called. (Sound while no other object of the kind is being
/// reconciled: the counter is per controller.)
pub async fn operator_saw<K>(client: &Client, ns: &str, op: &Operator, name: &str)
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let controller = K::kind(&());
    for _ in 0..2 {
        let before = op.reconciles(&controller).await;
        poke::<K>(client, ns, name).await;
        op.reconciled_since(&controller, before).await;
    }
}

/// Evidence that the operator has reconciled object `name` after a change of its spec: merge-patches
/// `spec` into it and waits until `status.observedGeneration` reaches the generation that makes.
/// (For kinds with several objects reconciled at once, where [`operator_saw`]'s counter is no
/// evidence about one of them; `spec` must be a change the test does not care about.)
pub async fn operator_saw_spec<K>(client: &Client, ns: &str, name: &str, spec: Value)
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let patched = Api::<K>::namespaced(client.clone(), ns)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": spec})),
        )
        .await
        .unwrap();
    let generation = patched.meta().generation.unwrap();
    eventually(
        WAIT,
        &format!("{name}: observedGeneration {generation}"),
        || async {
            let o = get_json::<K>(client, ns, name).await?;
            (o["status"]["observedGeneration"].as_i64()? >= generation).then_some(())
        },
    )
    .await;
}
