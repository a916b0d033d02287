//! What the caches keep of each object.
//!
//! Every cache drops `managedFields` and kubectl's last-applied annotation: nothing here reads
//! them, and together they are most of an object's size. The two kinds there are thousands of
//! (IntegrationAccount, WorkatoConnection) keep even less: their caches serve the watch mappings
//! and the checks that scan them, and every reconcile reads its object from the API server first
//! (see [`super::latest`]). So those caches are indexes that happen to have the object's type:
//! a field not kept here is empty in them, whatever the object says.

use kube::Resource;

use crate::api::{IntegrationAccount, WorkatoConnection};
use crate::domain::connection::PUSHED_FINGERPRINT_ANNOTATION;

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

/// Metadata the mappings do not read: labels, annotations, owners, finalizers.
fn bare<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    meta.labels = None;
    meta.annotations = None;
    meta.owner_references = None;
    meta.finalizers = None;
    meta.generate_name = None;
}

/// An IntegrationAccount as cached: name, namespace, creation and deletion time, and the spec's
/// references (TrackViaAccount, email, token Secret, credentials Secret). Read by the mappings
/// from Secrets and TrackViaAccounts and by the check for another account claiming the same
/// user.
pub fn integration_account(ia: &mut IntegrationAccount) {
    bare(ia);
    let spec = &mut ia.spec;
    spec.system = String::new();
    spec.time_zone = None;
    spec.access = None;
    spec.token_expires_at = None;
    spec.rotation = None;
    spec.deletion_policy = None;
    ia.status = None;
}

/// A WorkatoConnection as cached: name, namespace, its workspace and IntegrationAccount, and
/// whether it already received credentials (the annotation recording what was pushed). Read by
/// the mappings from IntegrationAccounts and WorkatoWorkspaces and by an IntegrationAccount
/// counting the connections bound to it.
pub fn workato_connection(wc: &mut WorkatoConnection) {
    let pushed = wc
        .meta_mut()
        .annotations
        .as_mut()
        .and_then(|a| a.remove_entry(PUSHED_FINGERPRINT_ANNOTATION));
    bare(wc);
    wc.metadata.annotations = pushed.map(|(k, v)| [(k, v)].into());
    let spec = &mut wc.spec;
    spec.connection = Default::default();
    spec.folder_id = None;
    spec.provider = None;
    spec.input_keys = None;
    spec.recipes = None;
    wc.status = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_numerous_kinds_keep_what_their_mappings_read() {
        let ia: IntegrationAccount = serde_json::from_value(serde_json::json!({
            "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "IntegrationAccount",
            "metadata": {"name": "sf", "namespace": "ns", "creationTimestamp": "2026-01-01T00:00:00Z",
                         "labels": {"a": "b"}, "annotations": {"c": "d"}, "finalizers": ["f"]},
            "spec": {"accountRef": {"name": "acme"}, "system": "Salesforce", "email": "sf@acme.example",
                     "access": {"apps": ["CRM"]}, "tokenSecretRef": {"name": "sf-token", "key": "token"},
                     "credentialsSecret": {"name": "sf-credentials"}, "rotation": {"interval": "720h"}},
            "status": {"nextAction": "x"}
        }))
        .unwrap();
        let mut cached = ia.clone();
        integration_account(&mut cached);
        assert_eq!(cached.metadata.name, ia.metadata.name);
        assert_eq!(cached.metadata.creation_timestamp, ia.metadata.creation_timestamp);
        assert_eq!(cached.spec.account_ref, ia.spec.account_ref);
        assert_eq!(cached.spec.email, ia.spec.email);
        assert_eq!(cached.spec.token_secret_ref, ia.spec.token_secret_ref);
        assert_eq!(cached.spec.credentials_secret, ia.spec.credentials_secret);
        assert!(cached.spec.access.is_none() && cached.spec.rotation.is_none() && cached.status.is_none());
        assert!(cached.metadata.labels.is_none() && cached.metadata.finalizers.is_none());

        let wc: WorkatoConnection = serde_json::from_value(serde_json::json!({
            "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "WorkatoConnection",
            "metadata": {"name": "c", "namespace": "ns",
                         "annotations": {PUSHED_FINGERPRINT_ANNOTATION: "hmac-sha256:ab", "other": "x"}},
            "spec": {"workspaceRef": {"name": "dev"}, "integrationAccountRef": {"name": "sf"},
                     "connection": {"id": 7}, "recipes": {"include": [1]}}
        }))
        .unwrap();
        let mut cached = wc.clone();
        workato_connection(&mut cached);
        assert_eq!(cached.spec.workspace_ref, wc.spec.workspace_ref);
        assert_eq!(
            cached.spec.integration_account_ref,
            wc.spec.integration_account_ref
        );
        assert_eq!(
            cached.metadata.annotations,
            Some(
                [(
                    PUSHED_FINGERPRINT_ANNOTATION.to_owned(),
                    "hmac-sha256:ab".to_owned()
                )]
                .into()
            )
        );
        assert!(cached.spec.recipes.is_none() && cached.spec.connection.id.is_none());
    }
}
