//! What the caches keep of each object.
//!
//! Every cache drops `managedFields` and kubectl's last-applied annotation: nothing here reads
//! them, and together they are most of an object's size. The two kinds there are thousands of
//! (IntegrationAccount, WorkatoConnection) keep even less: their caches serve the watch mappings,
//! the checks that scan them and the state metrics (read at each scrape), and every reconcile
//! reads its object from the API server first (see [`super::latest`]). So those caches are
//! indexes that happen to have the object's type: a field not kept here is empty in them,
//! whatever the object says.

use kube::Resource;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use crate::api::common::CommonStatus;
use crate::api::integration_account::{
    IntegrationAccountStatus, RotationPolicy, RotationSummary, TokenStatus,
};
use crate::api::workato_connection::{RecipeJobsStatus, RecipeStatus, WorkatoConnectionStatus};
use crate::api::{IntegrationAccount, WorkatoConnection};
use crate::conditions::types;
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
/// user. For the state metrics read at each scrape (see [`super::state_metrics`]) it also keeps
/// `spec.rotation.interval` and `renewBefore`, the `Ready` and `TokenValid` conditions (type,
/// status, reason, lastTransitionTime; no message), the token's `expiresAt` and `firstSeenTime`,
/// and `status.rotation.lastRotationTime`.
pub fn integration_account(ia: &mut IntegrationAccount) {
    bare(ia);
    let spec = &mut ia.spec;
    spec.system = String::new();
    spec.time_zone = None;
    spec.access = None;
    spec.token_expires_at = None;
    spec.rotation = spec.rotation.take().map(|r| RotationPolicy {
        interval: r.interval,
        renew_before: r.renew_before,
        ..Default::default()
    });
    spec.deletion_policy = None;
    ia.status = ia.status.take().map(|s| IntegrationAccountStatus {
        common: CommonStatus {
            conditions: bare_conditions(s.common.conditions, &[types::READY, types::TOKEN_VALID]),
            ..Default::default()
        },
        token: s.token.map(|t| TokenStatus {
            expires_at: t.expires_at,
            first_seen_time: t.first_seen_time,
            ..Default::default()
        }),
        rotation: s.rotation.map(|r| RotationSummary {
            last_rotation_time: r.last_rotation_time,
            ..Default::default()
        }),
        ..Default::default()
    });
}

/// The conditions of `keep`'s types, without their message and observed generation.
fn bare_conditions(conditions: Vec<Condition>, keep: &[&str]) -> Vec<Condition> {
    conditions
        .into_iter()
        .filter(|c| keep.contains(&c.type_.as_str()))
        .map(|c| Condition {
            message: String::new(),
            observed_generation: None,
            ..c
        })
        .collect()
}

/// A WorkatoConnection as cached: name, namespace, its workspace and IntegrationAccount, and
/// whether it already received credentials (the annotation recording what was pushed). Read by
/// the mappings from IntegrationAccounts and WorkatoWorkspaces and by an IntegrationAccount
/// counting the connections bound to it. For the state metrics it also keeps the `Ready`
/// condition (no message), the recipe inventory (id, running, stop cause) and, of the recipes'
/// jobs, the id and the time of an authentication failure not yet followed by a success.
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
    wc.status = wc.status.take().map(|s| WorkatoConnectionStatus {
        common: CommonStatus {
            conditions: bare_conditions(s.common.conditions, &[types::READY]),
            ..Default::default()
        },
        recipes: s
            .recipes
            .into_iter()
            .map(|r| RecipeStatus {
                id: r.id,
                running: r.running,
                stop_cause: r.stop_cause,
                ..Default::default()
            })
            .collect(),
        recipe_jobs: s
            .recipe_jobs
            .into_iter()
            .filter(|j| j.auth_failure_time.is_some())
            .map(|j| RecipeJobsStatus {
                id: j.id,
                auth_failure_time: j.auth_failure_time,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_numerous_kinds_keep_what_their_mappings_and_the_state_metrics_read() {
        let ia: IntegrationAccount = serde_json::from_value(serde_json::json!({
            "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "IntegrationAccount",
            "metadata": {"name": "sf", "namespace": "ns", "creationTimestamp": "2026-01-01T00:00:00Z",
                         "labels": {"a": "b"}, "annotations": {"c": "d"}, "finalizers": ["f"]},
            "spec": {"accountRef": {"name": "acme"}, "system": "Salesforce", "email": "sf@acme.example",
                     "access": {"apps": ["CRM"]}, "tokenSecretRef": {"name": "sf-token", "key": "token"},
                     "credentialsSecret": {"name": "sf-credentials"},
                     "rotation": {"interval": "720h", "renewBefore": "48h", "strategy": "Overlap"}},
            "status": {"nextAction": "x",
                       "conditions": [
                           {"type": "Ready", "status": "False", "reason": "TokenInvalid", "message": "long",
                            "lastTransitionTime": "2026-01-02T00:00:00Z", "observedGeneration": 3},
                           {"type": "TokenValid", "status": "False", "reason": "TokenInvalid", "message": "long",
                            "lastTransitionTime": "2026-01-02T00:00:00Z"},
                           {"type": "AccessScoped", "status": "True", "reason": "Scoped", "message": "m",
                            "lastTransitionTime": "2026-01-02T00:00:00Z"}],
                       "token": {"fingerprint": "hmac-sha256:ab", "expiresAt": "2027-01-01T00:00:00Z",
                                 "firstSeenTime": "2026-01-01T00:00:00Z", "lastValidatedTime": "2026-01-02T00:00:00Z"},
                       "rotation": {"active": "r", "lastRotationTime": "2026-01-01T12:00:00Z"}}
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
        assert!(cached.spec.access.is_none());
        // What the state metrics read, and nothing more.
        let rotation = cached.spec.rotation.clone().unwrap();
        assert_eq!(
            (
                rotation.interval.as_deref(),
                rotation.renew_before.as_deref(),
                rotation.strategy
            ),
            (Some("720h"), Some("48h"), None)
        );
        let status = cached.status.clone().unwrap();
        let kept: Vec<(&str, &str, &str)> = status
            .common
            .conditions
            .iter()
            .map(|c| (c.type_.as_str(), c.status.as_str(), c.message.as_str()))
            .collect();
        assert_eq!(kept, [("Ready", "False", ""), ("TokenValid", "False", "")]);
        assert_eq!(
            status.common.conditions[0].last_transition_time,
            ia.status.as_ref().unwrap().common.conditions[0].last_transition_time
        );
        let token = status.token.unwrap();
        let full = ia.status.as_ref().unwrap().token.clone().unwrap();
        assert_eq!(
            (&token.expires_at, &token.first_seen_time),
            (&full.expires_at, &full.first_seen_time)
        );
        assert!(token.fingerprint.is_none() && token.last_validated_time.is_none());
        let summary = status.rotation.unwrap();
        assert!(summary.active.is_none() && summary.last_rotation_time.is_some());
        assert!(status.next_action.is_none());
        assert!(cached.metadata.labels.is_none() && cached.metadata.finalizers.is_none());

        let wc: WorkatoConnection = serde_json::from_value(serde_json::json!({
            "apiVersion": "integrations.trackvia-operator.dev/v1alpha1", "kind": "WorkatoConnection",
            "metadata": {"name": "c", "namespace": "ns",
                         "annotations": {PUSHED_FINGERPRINT_ANNOTATION: "hmac-sha256:ab", "other": "x"}},
            "spec": {"workspaceRef": {"name": "dev"}, "integrationAccountRef": {"name": "sf"},
                     "connection": {"id": 7}, "recipes": {"include": [1]}},
            "status": {"connectionId": 7, "recipeCount": 2,
                       "conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": "m",
                                       "lastTransitionTime": "2026-01-02T00:00:00Z"},
                                      {"type": "Verified", "status": "True", "reason": "Verified", "message": "m",
                                       "lastTransitionTime": "2026-01-02T00:00:00Z"}],
                       "recipes": [{"id": 1, "name": "one", "running": false, "stopCause": "trigger_errors_limit"},
                                   {"id": 2, "name": "two", "running": true, "heldBy": "r"}],
                       "recipeJobs": [{"id": 1, "failedCount": 3, "authFailureTime": "2026-01-02T00:00:00Z",
                                       "authFailure": "401 Unauthorized"},
                                      {"id": 2, "failedCount": 1}]}
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
        let status = cached.status.unwrap();
        assert_eq!(status.common.conditions.len(), 1);
        assert_eq!(status.common.conditions[0].type_, "Ready");
        assert!(status.connection_id.is_none() && status.recipe_count.is_none());
        let recipes: Vec<(i64, bool, Option<&str>, Option<&str>)> = status
            .recipes
            .iter()
            .map(|r| (r.id, r.running, r.stop_cause.as_deref(), r.name.as_deref()))
            .collect();
        assert_eq!(
            recipes,
            [
                (1, false, Some("trigger_errors_limit"), None),
                (2, true, None, None)
            ]
        );
        assert_eq!(status.recipe_jobs.len(), 1);
        let job = &status.recipe_jobs[0];
        assert!(job.auth_failure_time.is_some() && job.auth_failure.is_none() && job.failed_count.is_none());
    }
}
