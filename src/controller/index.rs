//! What the caches keep of each object.
//!
//! Every cache drops `managedFields` and kubectl's last-applied annotation: nothing here reads
//! them, and together they are most of an object's size. The rest is kept: the reconcilers read
//! their objects, the objects they refer to and the Secrets they need from these caches.

use k8s_openapi::api::core::v1::Secret;
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

/// A Secret as cached: without the above, and without the data of the types the operator never
/// reads (service account tokens, Helm releases, registry credentials, bootstrap tokens), which
/// are then read from the API server if ever asked for (see [`Context::secret`]).
pub fn secret(s: &mut Secret) {
    lean(s);
    if !crate::reconcile::context::secret_data_cached(s.type_.as_deref()) {
        s.data = None;
        s.string_data = None;
    }
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

        let secret = |type_: &str| Secret {
            type_: Some(type_.to_owned()),
            data: Some([("k".to_owned(), k8s_openapi::ByteString(b"v".to_vec()))].into()),
            ..Default::default()
        };
        let mut opaque = secret("Opaque");
        self::secret(&mut opaque);
        assert!(opaque.data.is_some());
        let mut helm = secret("helm.sh/release.v1");
        self::secret(&mut helm);
        assert!(helm.data.is_none());
    }
}
