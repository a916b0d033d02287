//! What the caches keep of each object.
//!
//! Every cache drops `managedFields` and kubectl's last-applied annotation: nothing here reads
//! them, and together they are most of an object's size. The rest is kept: the reconcilers read
//! their objects and the objects they refer to from these caches. Secrets are kept in a compact
//! form of their own (`crate::reconcile::cached_secret`).

use kube::Resource;

use crate::api::{IntegrationAccount, WorkatoConnection};
#[cfg(doc)]
use crate::reconcile::Context;

/// Written by `kubectl apply` (client-side): a copy of the whole manifest.
const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Any cached object: without `managedFields` and the last-applied annotation.
pub fn lean<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove(LAST_APPLIED_ANNOTATION);
    }
    // An empty map still holds a node of about 540 bytes.
    meta.annotations = meta.annotations.take().filter(|a| !a.is_empty());
    meta.labels = meta.labels.take().filter(|l| !l.is_empty());
}

/// An IntegrationAccount as cached: all of it but the above. Its reconciler reads it from the
/// cache (see `crate::reconcile::current`), and the metrics read its status.
pub fn integration_account(ia: &mut IntegrationAccount) {
    lean(ia);
}

/// A WorkatoConnection as cached: all of it but the above (its reconciler reads it from the
/// cache; an IntegrationAccount counts the connections that received its credentials).
pub fn workato_connection(wc: &mut WorkatoConnection) {
    lean(wc);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caches_keep_what_reconcilers_read_and_drop_what_nobody_reads() {
        let mut ia: IntegrationAccount = serde_json::from_value(serde_json::json!({
            "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "IntegrationAccount",
            "metadata": {"name": "sf", "namespace": "ns", "annotations": {LAST_APPLIED_ANNOTATION: "{}", "c": "d"},
                         "managedFields": [{"manager": "kubectl"}]},
            "spec": {"accountRef": {"name": "acme"}, "system": "Salesforce", "email": "sf@acme.example",
                     "tokenSecretRef": {"name": "sf-token", "key": "token"},
                     "credentialsSecret": {"name": "sf-credentials"}, "rotation": {"interval": "720h"}},
            "status": {"nextAction": "x"}
        }))
        .unwrap();
        integration_account(&mut ia);
        assert!(ia.metadata.managed_fields.is_none());
        assert_eq!(
            ia.metadata.annotations,
            Some([("c".to_owned(), "d".to_owned())].into())
        );
        assert!(ia.spec.rotation.is_some() && ia.status.is_some());

        // kubectl's annotation was the only one: no map is kept.
        let mut only = ia.clone();
        only.metadata.annotations = Some([(LAST_APPLIED_ANNOTATION.to_owned(), "{}".to_owned())].into());
        only.metadata.labels = Some(Default::default());
        integration_account(&mut only);
        assert!(only.metadata.annotations.is_none() && only.metadata.labels.is_none());
    }
}
