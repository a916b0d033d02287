//! What TrackViaAccount and WorkatoWorkspace share: check credentials with one call when due
//! (new credentials, a spec change, or the interval elapsed), and report the verdict in `Ready`.

use std::time::Duration;

use jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::{Context, Error, announce, apply_status, due, until_due};
use crate::api::common::{CheckedStatus, CommonStatus};
use crate::conditions::{self, Cond, Status};

/// `Some(wait)` when the credentials are the ones last checked, the spec is unchanged, no recheck
/// is asked for (see [`super::recheck`]) and the check is not due: then no vendor call is made,
/// and the object is looked at again in `wait`.
pub fn not_due<K: Resource>(
    obj: &K,
    status: &CheckedStatus,
    fingerprint: &str,
    every: Duration,
    now: Timestamp,
) -> Option<Duration> {
    let unchanged = status.credentials_fingerprint.as_deref() == Some(fingerprint)
        && status.common.observed_generation == obj.meta().generation
        && super::recheck::pending(obj, Some(&status.common)).is_none();
    (unchanged && !due(status.last_checked_time.as_ref(), every, now))
        .then(|| until_due(status.last_checked_time.as_ref(), every, now))
}

/// Writes the verdict (`cond` and the `Ready` it implies) when it changed, with events; says when
/// to check again (soon after an unreachable vendor, else after `every`).
pub async fn report<K>(
    ctx: &Context,
    kind: &str,
    obj: &K,
    cond: Cond,
    fingerprint: Option<String>,
    every: Duration,
    ok_message: &str,
) -> Result<Action, Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug
        + HasCheckedStatus,
{
    let before = obj.checked_status().cloned().unwrap_or_default();
    let generation = obj.meta().generation;
    let now = ctx.clock.now_time();
    let decided = [
        cond.clone(),
        conditions::ready(std::slice::from_ref(&cond), &[], ok_message),
    ];
    let merged = conditions::merge(&before.common.conditions, &decided, generation, &now);
    let verdict = cond.status != Status::Unknown && fingerprint.is_some();
    let status = CheckedStatus {
        common: CommonStatus {
            observed_generation: generation,
            conditions: merged,
            recheck_handled: super::recheck::handled(
                super::recheck::pending(obj, Some(&before.common)),
                Some(&before.common),
            ),
        },
        // A check that reached no verdict (unreachable) is not a check: it stays due.
        last_checked_time: if verdict {
            Some(now)
        } else {
            before.last_checked_time.clone()
        },
        credentials_fingerprint: fingerprint,
    };
    let mut settled = true;
    if status != before {
        settled = apply_status(ctx, obj, &status).await?;
        announce(
            ctx,
            kind,
            obj,
            &before.common.conditions,
            &status.common.conditions,
        )
        .await;
    }
    tracing::debug!(object = %obj.name_any(), reason = %cond.reason, "credentials checked");
    let after = if cond.status == Status::Unknown {
        Duration::from_secs(30).min(every)
    } else {
        every
    };
    Ok(Action::requeue(if settled {
        after
    } else {
        after.min(super::SETTLE)
    }))
}

/// Kinds with a [`CheckedStatus`].
pub trait HasCheckedStatus {
    /// The status, if any.
    fn checked_status(&self) -> Option<&CheckedStatus>;
}

impl HasCheckedStatus for crate::api::TrackViaAccount {
    fn checked_status(&self) -> Option<&CheckedStatus> {
        self.status.as_ref()
    }
}

impl HasCheckedStatus for crate::api::WorkatoWorkspace {
    fn checked_status(&self) -> Option<&CheckedStatus> {
        self.status.as_ref()
    }
}
