//! The reads of the WorkatoConnection reconciler (Kubernetes only; Workato's listings come from
//! the shared [`crate::domain::recipes::Listings`]).

use std::collections::BTreeMap;

use kube::{Api, ResourceExt};

use super::Ctx;
use super::plan::Held;
use crate::api::credential_rotation::{CredentialRotation, CredentialRotationStatus};
use crate::api::{IntegrationAccount, TrackViaAccount, WorkatoConnection, WorkatoWorkspace};
use crate::conditions::{Cond, reasons};
use crate::domain::caches::Source;
use crate::domain::credentials::{Credentials, published_credentials};
use crate::reconcile::Error;

/// Everything the WorkatoConnection needs from the objects it refers to.
pub struct Refs {
    /// The workspace.
    pub workspace: WorkatoWorkspace,
    /// The IntegrationAccount's TrackViaAccount.
    pub account: TrackViaAccount,
    /// The IntegrationAccount.
    pub integration: IntegrationAccount,
    /// The credentials it published (read once per reconcile: pushed, and scrubbed from every
    /// text Workato returns).
    pub published: Option<Credentials>,
}

impl Refs {
    /// The published credentials as the texts to scrub from Workato's messages.
    pub fn secrets(&self) -> Vec<&str> {
        self.published
            .iter()
            .flat_map(|p| [p.value.expose().as_str(), p.api_key.expose().as_str()])
            .collect()
    }
}

/// Reads the workspace, the IntegrationAccount and its TrackViaAccount (from the caches); the
/// condition says which one is missing.
pub async fn references(wc: &WorkatoConnection, ctx: &Ctx) -> Result<Result<Refs, Cond>, Error> {
    let ns = wc.namespace().ok_or(Error::Malformed("namespace"))?;
    let ws_name = &wc.spec.workspace_ref.name;
    let ia_name = &wc.spec.integration_account_ref.name;
    let caches = &ctx.own.caches;
    let workspace = caches.workspace(&ctx.client, &ns, ws_name).await?;
    let integration = caches.integration_account(&ctx.client, &ns, ia_name).await?;
    let account = match &integration {
        Some(i) => caches.account(&ctx.client, &ns, &i.spec.account_ref.name).await?,
        None => None,
    };
    let missing = |what: &str, name: &str| {
        Cond::unknown(
            reasons::EnvironmentMatched::ReferenceNotFound,
            format!("{what} {name} not found in this namespace"),
        )
    };
    Ok(match (workspace, integration, account) {
        (None, ..) => Err(missing("WorkatoWorkspace", ws_name)),
        (_, None, _) => Err(missing("IntegrationAccount", ia_name)),
        (_, Some(i), None) => Err(missing("TrackViaAccount", &i.spec.account_ref.name)),
        (Some(workspace), Some(integration), Some(account)) => {
            let published = published_credentials(ctx, &integration, Source::Cache).await?;
            Ok(Refs {
                workspace,
                account,
                integration,
                published,
            })
        }
    })
}

/// The recipes of this connection that the account's rotations hold stopped (from the
/// rotations' cache: status only, no side effect rests on it).
pub async fn held_by_rotations(wc: &WorkatoConnection, ctx: &Ctx) -> Result<BTreeMap<i64, Held>, Error> {
    let ns = wc.namespace().unwrap_or_default();
    let me = wc.name_any();
    let mut held = BTreeMap::new();
    let rotations = ctx
        .own
        .caches
        .rotations(
            &ctx.client,
            &ns,
            &wc.spec.integration_account_ref.name,
            Source::Cache,
        )
        .await?;
    for r in rotations {
        let Some(s) = r.status.as_ref() else { continue };
        let left = s.phase.is_some_and(|p| p.is_terminal()) || s.token_lost_time.is_some();
        for x in s.recipes.iter().filter(|x| x.state.is_held()) {
            if x.connection.as_deref() == Some(me.as_str()) {
                let rotation = r.name_any();
                held.insert(x.id, Held { rotation, left });
            }
        }
    }
    Ok(held)
}

/// The takeover CredentialRotation `name`, if it exists: its status (`Some(None)`: none yet).
pub async fn takeover(
    wc: &WorkatoConnection,
    ctx: &Ctx,
    name: &str,
) -> Result<Option<Option<CredentialRotationStatus>>, Error> {
    let api: Api<CredentialRotation> =
        Api::namespaced(ctx.client.clone(), &wc.namespace().unwrap_or_default());
    Ok(api
        .get_opt(name)
        .await
        .map_err(Error::kube("reading the takeover CredentialRotation"))?
        .map(|r| r.status))
}
