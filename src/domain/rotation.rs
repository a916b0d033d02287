//! What the IntegrationAccount, the WorkatoConnection and the CredentialRotation reconcilers share
//! about rotations: how the operator starts one, its labels and annotations, who triggered it.

use kube::{Api, Resource, ResourceExt};

use jiff::Timestamp;

use crate::api::credential_rotation::{
    CredentialRotation, CredentialRotationSpec, CredentialRotationStatus, RotationOutcome, RotationPhase,
};
use crate::api::integration_account::RotationStrategy;
use crate::domain::credentials::INTEGRATION_ACCOUNT_LABEL;
use crate::reconcile::{Context, Error};

/// Annotation a person sets (`true`) to approve a scheduled `StopAndRestart`.
pub const APPROVED_ANNOTATION: &str = "integrations.trackvia-operator.dev/approved";
/// Label the operator puts on the rotations it starts: `scheduled`, `requested`, `new-token` or
/// `take-over`. A rotation without it was created by a person.
pub const TRIGGER_LABEL: &str = "integrations.trackvia-operator.dev/trigger";

/// Creates a CredentialRotation the operator starts itself (for `spec`'s IntegrationAccount),
/// controlled by `owner` and labelled with its `trigger`. Returns whether it was created now; a
/// rotation of that name already there is the one an earlier attempt created (names are
/// deterministic), so a retry never starts a second.
pub async fn start<K>(
    ctx: &Context,
    owner: &K,
    name: &str,
    trigger: &str,
    spec: CredentialRotationSpec,
) -> Result<bool, Error>
where
    K: Resource<DynamicType = ()>,
{
    let ns = owner
        .meta()
        .namespace
        .clone()
        .ok_or(Error::Malformed("namespace"))?;
    let rotation = CredentialRotation {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(ns.clone()),
            owner_references: owner.controller_owner_ref(&()).map(|o| vec![o]),
            labels: Some(
                [
                    (
                        INTEGRATION_ACCOUNT_LABEL.to_owned(),
                        spec.integration_account_ref.name.clone(),
                    ),
                    (TRIGGER_LABEL.to_owned(), trigger.to_owned()),
                ]
                .into(),
            ),
            ..Default::default()
        },
        spec,
        status: None,
    };
    match Api::<CredentialRotation>::namespaced(ctx.client.clone(), &ns)
        .create(&kube::api::PostParams::default(), &rotation)
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(Error::kube("creating a CredentialRotation")(e)),
    }
}

/// The trigger a rotation was created with (the operator's label; none: a person).
pub fn trigger_of(rot: &CredentialRotation) -> Trigger {
    match rot.labels().get(TRIGGER_LABEL).map(String::as_str) {
        Some("scheduled") => Trigger::Scheduled,
        Some("requested") => Trigger::Requested,
        Some("new-token") => Trigger::NewToken,
        Some("take-over") => Trigger::TakeOver,
        _ if rot.spec.take_over.is_some() => Trigger::TakeOver,
        _ => Trigger::Person,
    }
}

/// Whether a person approved the rotation through its annotation.
pub fn approved_by_annotation(rot: &CredentialRotation) -> bool {
    rot.annotations()
        .get(APPROVED_ANNOTATION)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// What started the rotation (the operator's trigger label; a rotation created by a person has
/// none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Created by a person (kubectl, the plugin): approved by its creation.
    Person,
    /// `spec.rotation.requestedAt` on the IntegrationAccount: a person's request.
    Requested,
    /// A new token in the token Secret: the person already acted.
    NewToken,
    /// The schedule (interval or expiry): nobody may be there.
    Scheduled,
    /// A WorkatoConnection's `spec.adoption: StopAndRestart`: approved by that opt-in.
    TakeOver,
}

/// The old token after an Overlap rotation published the new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// Deactivate it by `deadline`.
    Awaiting {
        /// The old token's fingerprint.
        fingerprint: String,
        /// The deadline.
        deadline: Timestamp,
    },
    /// Still active past the deadline: a security finding.
    Overdue {
        /// The old token's fingerprint.
        fingerprint: String,
        /// The deadline.
        deadline: Timestamp,
    },
    /// It could not be kept or probed: nobody knows.
    Unknown {
        /// The old token's fingerprint.
        fingerprint: String,
    },
    /// TrackVia rejects it.
    Revoked,
}

/// Where the old token of an Overlap rotation stands, once the rotation has published the new
/// one; `None` before (the old token is still the published one: nobody may be asked to
/// deactivate it) and for StopAndRestart. The one reading of it that the rotation's conditions,
/// its checks once finished and the IntegrationAccount share.
pub fn revocation(s: &CredentialRotationStatus, now: Timestamp) -> Option<Revocation> {
    let deadline = s.revocation_deadline.as_ref()?.0;
    if s.strategy != Some(RotationStrategy::Overlap) {
        return None;
    }
    let fingerprint = s.old_token_fingerprint.clone().unwrap_or_default();
    let published = matches!(
        s.phase,
        Some(RotationPhase::AwaitingRevocation | RotationPhase::Restarting)
    ) || s
        .outcome
        .is_some_and(|o| o.is_success() || o == RotationOutcome::RecipeStartFailed);
    if !published {
        return None;
    }
    Some(match (&s.old_token_revoked_time, &s.old_token_secret) {
        (Some(_), _) => Revocation::Revoked,
        (None, None) => Revocation::Unknown { fingerprint },
        (None, Some(_)) if deadline <= now => Revocation::Overdue {
            fingerprint,
            deadline,
        },
        (None, Some(_)) => Revocation::Awaiting {
            fingerprint,
            deadline,
        },
    })
}
