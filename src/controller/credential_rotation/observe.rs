//! Reading what the machine decides on: Kubernetes reads only, each failure kept as a failure
//! (never as "missing"). Vendor reads are effects, so the machine paces them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use kube::{Resource, ResourceExt};

use super::machine::{Bound, Facts, Policy, Read, Stranded, Trigger};
use super::{APPROVED_ANNOTATION, FINALIZER, TRIGGER_LABEL};
use crate::api::credential_rotation::{CredentialRotation, RotationPhase};
use crate::api::{IntegrationAccount, WorkatoConnection};
use crate::controller::context::Source;
use crate::controller::integration_account::plan::approval_deadline;
use crate::controller::secret_ref::{self, SecretRefError};
use crate::controller::workato_connection::{PUSHED_FINGERPRINT_ANNOTATION, published_credentials};
use crate::controller::{Context, Error, interval};

/// Default `rotation.newTokenTimeout`.
pub const DEFAULT_NEW_TOKEN_TIMEOUT: Duration = Duration::from_secs(3600);
/// Default `rotation.revocationGracePeriod`.
pub const DEFAULT_REVOCATION_GRACE: Duration = Duration::from_secs(24 * 3600);

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

/// Observes one rotation. `ia` is its IntegrationAccount, when it exists.
pub async fn observe(
    ctx: &Context,
    rot: &CredentialRotation,
    ia: Option<&IntegrationAccount>,
) -> Result<Facts, Error> {
    let ns = rot.namespace().ok_or(Error::Malformed("namespace"))?;
    let status = rot.status.clone().unwrap_or_default();
    let phase = status.phase;
    let account_name = &rot.spec.integration_account_ref.name;
    let policy = policy(ctx, rot, ia);
    let trigger = trigger_of(rot);
    let now = ctx.clock.now();

    let token = match ia {
        None => Read::Ok(None),
        Some(ia) => match secret_ref::read(&ctx.client, &ns, &ia.spec.token_secret_ref).await {
            Ok(v) => Read::Ok(Some(ctx.fingerprint(v.value.expose()))),
            Err(SecretRefError::Api { source, .. }) => Read::Failed(source.to_string()),
            Err(_) => Read::Ok(None),
        },
    };
    let published = match ia {
        None => Read::Ok(None),
        Some(ia) => match published_credentials(ctx, ia).await {
            Ok(p) => Read::Ok(p.map(|p| ctx.fingerprint(p.value.expose()))),
            Err(e) => Read::Failed(e.to_string()),
        },
    };

    let planning = phase.is_none_or(|p| matches!(p, RotationPhase::Pending | RotationPhase::Queued))
        && status.strategy.is_none();
    let terminal = phase.is_some_and(RotationPhase::is_terminal);
    let connections = ctx
        .workato_connections_of(
            &ns,
            account_name,
            if planning {
                Source::ApiServer
            } else {
                Source::Cache
            },
        )
        .await;
    let bound = match (&connections, planning) {
        (_, false) => Read::Ok(Vec::new()),
        (Err(e), true) => Read::Failed(e.to_string()),
        (Ok(wcs), true) => Read::Ok(bound_of(wcs)),
    };
    let excluded: BTreeSet<i64> = connections
        .as_ref()
        .map(|wcs| {
            wcs.iter()
                .flat_map(|w| {
                    w.spec
                        .recipes
                        .iter()
                        .flat_map(|r| r.exclude.iter().flatten().copied())
                })
                .collect()
        })
        .unwrap_or_default();

    // The account's other rotations: the queue, recipes earlier rotations left stopped, and
    // recipes later rotations took over from this one.
    let (mut ahead, mut stranded, mut taken_over) = (None, Vec::new(), BTreeMap::new());
    let holds = status.recipes.iter().any(|r| r.state.is_held());
    if planning || (terminal && holds) {
        let all = ctx
            .credential_rotations_of(&ns, account_name, Source::ApiServer)
            .await?;
        let me = rot.name_any();
        let key = |r: &CredentialRotation| (r.creation_timestamp(), r.name_any());
        for other in all.iter().filter(|r| r.name_any() != me) {
            let st = other.status.clone().unwrap_or_default();
            let p = st.phase;
            let unfinished = p.is_none_or(|p| !p.is_terminal() && p != RotationPhase::AwaitingRevocation);
            // The oldest unfinished rotation runs; a rotation that only awaits the old token's
            // revocation has changed everything it will change and holds nobody up.
            if unfinished && key(other) < key(rot) && ahead.is_none() {
                ahead = Some(other.name_any());
            }
            if p.is_some_and(RotationPhase::is_terminal) {
                stranded.extend(st.recipes.iter().filter(|r| r.state.is_held()).map(|r| Stranded {
                    rotation: other.name_any(),
                    recipe: r.clone(),
                }));
            }
            for r in &st.recipes {
                if r.inherited_from.as_deref() == Some(me.as_str()) {
                    taken_over.insert(r.id, other.name_any());
                }
            }
        }
    }

    let deleting =
        rot.meta().deletion_timestamp.is_some() || ia.is_some_and(|i| i.meta().deletion_timestamp.is_some());
    let window = ia
        .and_then(|i| i.spec.rotation.as_ref())
        .and_then(|r| r.maintenance_window.clone());
    let created = rot.creation_timestamp().map_or(now, |t| t.0);
    let stop_hold = if phase == Some(RotationPhase::Stopping) {
        super::effects::stop_hold(ctx, rot, &status).await
    } else {
        Duration::ZERO
    };
    Ok(Facts {
        now,
        finalizer: rot.finalizers().iter().any(|f| f == FINALIZER),
        deleting,
        account_exists: ia.is_some(),
        policy,
        trigger,
        approved: trigger != Trigger::Scheduled || approved_by_annotation(rot),
        approval_deadline: approval_deadline(window.as_ref(), created),
        ahead,
        token,
        published,
        bound,
        stranded,
        taken_over,
        excluded,
        stop_hold,
    })
}

/// The WorkatoConnections that have a Workato connection, with the token each last received.
fn bound_of(wcs: &[Arc<WorkatoConnection>]) -> Vec<Bound> {
    let mut bound: Vec<Bound> = wcs
        .iter()
        .filter_map(|w| {
            Some(Bound {
                name: w.name_any(),
                id: w.status.as_ref()?.connection_id?,
                workspace: w.spec.workspace_ref.name.clone(),
                holds: w.annotations().get(PUSHED_FINGERPRINT_ANNOTATION).cloned(),
            })
        })
        .collect();
    bound.sort_by(|a, b| a.name.cmp(&b.name));
    bound
}

fn policy(ctx: &Context, rot: &CredentialRotation, ia: Option<&IntegrationAccount>) -> Policy {
    let r = ia.and_then(|i| i.spec.rotation.clone()).unwrap_or_default();
    Policy {
        strategy: rot.spec.strategy.or(r.strategy),
        dry_run: rot.spec.dry_run == Some(true),
        take_over: rot.spec.take_over.as_ref().map(|t| t.name.clone()),
        new_token_timeout: interval(r.new_token_timeout.as_deref(), DEFAULT_NEW_TOKEN_TIMEOUT),
        revocation_grace: interval(r.revocation_grace_period.as_deref(), DEFAULT_REVOCATION_GRACE),
        probe_every: ctx.settings.revocation_probe_interval,
        check_every: ctx
            .settings
            .workspace_check_interval
            .max(ctx.settings.revocation_probe_interval),
        user: ia.map_or_else(
            || "the integration user".to_owned(),
            |i| {
                format!(
                    "{} {}",
                    i.spec.system,
                    crate::controller::integration_account::plan::LAST_NAME
                )
            },
        ),
        account: rot.spec.integration_account_ref.name.clone(),
        token_secret: ia.map_or_else(
            || "the token Secret".to_owned(),
            |i| {
                format!(
                    "key {} of Secret {}",
                    i.spec.token_secret_ref.key, i.spec.token_secret_ref.name
                )
            },
        ),
    }
}
