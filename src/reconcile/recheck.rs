//! The force-recheck annotation (`integrations.trackvia-operator.dev/recheck`): a person who just
//! did a step in a vendor's UI sets it to a new value, and every periodic check of the object runs
//! at its next reconcile instead of at its next interval. Each value is honoured once: the
//! reconciler records it in `status.recheckHandled`.

use kube::Resource;

use crate::api::common::{CommonStatus, RECHECK_ANNOTATION};

/// The annotation's value when it asks for a recheck not yet honoured (it differs from
/// `status.recheckHandled`).
pub fn pending<K: Resource>(obj: &K, status: Option<&CommonStatus>) -> Option<String> {
    let value = obj.meta().annotations.as_ref()?.get(RECHECK_ANNOTATION)?;
    let handled = status.and_then(|s| s.recheck_handled.as_deref());
    (handled != Some(value.as_str())).then(|| value.clone())
}

/// What `status.recheckHandled` becomes after a reconcile that honoured `pending` (if any).
pub fn handled(pending: Option<String>, status: Option<&CommonStatus>) -> Option<String> {
    pending.or_else(|| status.and_then(|s| s.recheck_handled.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::IntegrationAccount;

    fn annotated(value: Option<&str>) -> IntegrationAccount {
        let mut ia: IntegrationAccount = serde_json::from_value(serde_json::json!({
            "apiVersion": "integrations.trackvia-operator.dev/v1alpha1",
            "kind": "IntegrationAccount",
            "metadata": {"name": "x", "namespace": "ns"},
            "spec": {
                "accountRef": {"name": "a"},
                "system": "S",
                "email": "s@example.com",
                "tokenSecretRef": {"name": "t", "key": "token"},
                "credentialsSecret": {"name": "c"}
            }
        }))
        .unwrap();
        if let Some(v) = value {
            ia.metadata.annotations = Some([(RECHECK_ANNOTATION.to_owned(), v.to_owned())].into());
        }
        ia
    }

    #[test]
    fn a_value_is_honoured_once() {
        let ia = annotated(Some("t1"));
        assert_eq!(pending(&ia, None).as_deref(), Some("t1"));
        let done = CommonStatus {
            recheck_handled: handled(pending(&ia, None), None),
            ..Default::default()
        };
        assert_eq!(pending(&ia, Some(&done)), None);
        assert_eq!(
            pending(&annotated(Some("t2")), Some(&done)).as_deref(),
            Some("t2")
        );
        assert_eq!(pending(&annotated(None), Some(&done)), None);
        assert_eq!(handled(None, Some(&done)).as_deref(), Some("t1"));
    }
}
