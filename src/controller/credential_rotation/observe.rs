//! Reading what the machine decides on: Kubernetes reads only, each failure kept as a failure
//! (never as "missing"). Vendor reads are effects, so the machine paces them.

use super::Ctx;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use kube::{Resource, ResourceExt};

use super::FINALIZER;
use super::machine::{Bound, Facts, Policy, Read, Stranded};
use crate::api::credential_rotation::{CredentialRotation, RotationPhase};
use crate::api::{IntegrationAccount, WorkatoConnection};
use crate::domain::caches::Source;
use crate::domain::connection::PUSHED_FINGERPRINT_ANNOTATION;
use crate::domain::credentials::published_credentials;
use crate::domain::naming::LAST_NAME;
use crate::domain::rotation::{Trigger, approved_by_annotation, trigger_of};
use crate::domain::secret_ref::{self, SecretRefError};
use crate::domain::window::approval_deadline;
use crate::reconcile::{Error, interval};

/// Default `rotation.newTokenTimeout`.
pub const DEFAULT_NEW_TOKEN_TIMEOUT: Duration = Duration::from_secs(3600);
/// Default `rotation.revocationGracePeriod`.
pub const DEFAULT_REVOCATION_GRACE: Duration = Duration::from_secs(24 * 3600);

/// Observes one rotation. `ia` is its IntegrationAccount, when it exists.
pub async fn observe(
    ctx: &Ctx,
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
        Some(ia) => match secret_ref::read(ctx, &ns, &ia.spec.token_secret_ref, Source::ApiServer).await {
            Ok(v) => Read::Ok(Some(ctx.fingerprint(v.value.expose()))),
            Err(SecretRefError::Api { source, .. }) => Read::Failed(source.to_string()),
            Err(_) => Read::Ok(None),
        },
    };
    let published = match ia {
        None => Read::Ok(None),
        Some(ia) => match published_credentials(ctx, ia, Source::ApiServer).await {
            Ok(p) => Read::Ok(p.map(|p| ctx.fingerprint(p.value.expose()))),
            Err(e) => Read::Failed(e.to_string()),
        },
    };

    let planning = phase.is_none_or(|p| matches!(p, RotationPhase::Pending | RotationPhase::Queued))
        && status.strategy.is_none();
    let terminal = phase.is_some_and(RotationPhase::is_terminal);
    let connections = ctx
        .own
        .caches
        .connections(
            &ctx.client,
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
    let holds = status.recipes.iter().any(|r| r.state.is_held());
    let Relations {
        ahead,
        stranded,
        taken_over,
    } = if planning || (terminal && holds) {
        let all = ctx
            .own
            .caches
            .rotations(&ctx.client, &ns, account_name, Source::ApiServer)
            .await?;
        relations(rot, &all)
    } else {
        Relations::default()
    };

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
        recheck: crate::reconcile::recheck::pending(rot, rot.status.as_ref().map(|s| &s.common)).is_some(),
    })
}

/// How a rotation stands among the account's others.
#[derive(Debug, Default)]
pub struct Relations {
    /// The oldest earlier rotation that is unfinished (and not merely awaiting revocation).
    pub ahead: Option<String>,
    /// Recipes finished rotations hold stopped and no later rotation has taken over.
    pub stranded: Vec<Stranded>,
    /// Recipes of this rotation that a later rotation lists (it owns them now), by recipe id.
    pub taken_over: BTreeMap<i64, String>,
}

/// A recipe belongs to the newest rotation that lists it: a later rotation that lists a recipe
/// (taken over, or found running and stopped itself) owns it, and an earlier one lets go, even
/// before it has seen the recipe run (it checks only periodically).
pub fn relations(me: &CredentialRotation, all: &[Arc<CredentialRotation>]) -> Relations {
    let key = |r: &CredentialRotation| (r.creation_timestamp(), r.name_any());
    let mine = key(me);
    let mut out = Relations::default();
    let mut others: Vec<&CredentialRotation> = all
        .iter()
        .map(|r| &**r)
        .filter(|r| r.name_any() != me.name_any())
        .collect();
    others.sort_by_key(|r| key(r));
    let listed_after = |k: &(
        Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
        String,
    )|
     -> BTreeMap<i64, String> {
        others
            .iter()
            .filter(|r| key(r) > *k)
            .flat_map(|r| {
                let name = r.name_any();
                r.status
                    .iter()
                    .flat_map(|s| s.recipes.iter().map(|x| x.id))
                    .map(move |id| (id, name.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    for other in &others {
        let st = other.status.clone().unwrap_or_default();
        let p = st.phase;
        // The oldest unfinished rotation runs; a rotation that only awaits the old token's
        // revocation has changed everything it will change and holds nobody up.
        let unfinished = p.is_none_or(|p| !p.is_terminal() && p != RotationPhase::AwaitingRevocation);
        if unfinished && key(other) < mine && out.ahead.is_none() {
            out.ahead = Some(other.name_any());
        }
        if p.is_some_and(RotationPhase::is_terminal) {
            let later = listed_after(&key(other));
            out.stranded.extend(
                st.recipes
                    .iter()
                    .filter(|r| r.state.is_held() && !later.contains_key(&r.id))
                    .map(|r| Stranded {
                        rotation: other.name_any(),
                        recipe: r.clone(),
                    }),
            );
        }
    }
    out.taken_over = listed_after(&mine);
    out
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

fn policy(ctx: &Ctx, rot: &CredentialRotation, ia: Option<&IntegrationAccount>) -> Policy {
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
            |i| format!("{} {}", i.spec.system, LAST_NAME),
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;
    use crate::api::LocalRef;
    use crate::api::credential_rotation::{
        CredentialRotationSpec, CredentialRotationStatus, RecipeProgress, RecipeState, RotationPhase,
    };

    fn rot(
        name: &str,
        minute: u8,
        phase: Option<RotationPhase>,
        recipes: &[(i64, RecipeState, Option<&str>)],
    ) -> Arc<CredentialRotation> {
        let mut r = CredentialRotation::new(
            name,
            CredentialRotationSpec {
                integration_account_ref: LocalRef { name: "sf".into() },
                strategy: None,
                reason: None,
                dry_run: None,
                take_over: None,
            },
        );
        r.metadata.creation_timestamp = Some(Time(format!("2026-12-01T10:{minute:02}:00Z").parse().unwrap()));
        r.status = Some(CredentialRotationStatus {
            phase,
            recipes: recipes
                .iter()
                .map(|(id, state, from)| RecipeProgress {
                    id: *id,
                    name: None,
                    connection: Some("conn-1".into()),
                    state: *state,
                    inherited_from: from.map(str::to_owned),
                    error: None,
                })
                .collect(),
            ..Default::default()
        });
        Arc::new(r)
    }

    /// Found by the fault campaign: a rotation that left recipes stopped still lists them as held
    /// until its next periodic check, after a later rotation took them over and restarted them; a
    /// third rotation must not inherit them as stopped (it would switch under running recipes).
    #[test]
    fn a_recipe_belongs_to_the_newest_rotation_that_lists_it() {
        let regen = rot(
            "regen",
            1,
            Some(RotationPhase::Failed),
            &[(1, RecipeState::Stopped, None), (2, RecipeState::Stopped, None)],
        );
        let follow = rot(
            "follow",
            2,
            Some(RotationPhase::Succeeded),
            &[(1, RecipeState::Started, Some("regen"))],
        );
        let next = rot("next", 3, Some(RotationPhase::Pending), &[]);
        let all = vec![regen.clone(), follow.clone(), next.clone()];
        let r = relations(&next, &all);
        assert_eq!(r.ahead, None);
        let stranded: Vec<(String, i64)> = r
            .stranded
            .iter()
            .map(|s| (s.rotation.clone(), s.recipe.id))
            .collect();
        assert_eq!(
            stranded,
            [("regen".to_owned(), 2)],
            "1 is follow's, only 2 is left stopped"
        );
        let r = relations(&regen, &all);
        assert_eq!(r.taken_over.get(&1).map(String::as_str), Some("follow"));
        assert!(!r.taken_over.contains_key(&2));
        // An unfinished earlier rotation queues a later one.
        let running = rot("running", 0, Some(RotationPhase::Switching), &[]);
        assert_eq!(
            relations(&next, &[running, next.clone()]).ahead.as_deref(),
            Some("running")
        );
    }
}
