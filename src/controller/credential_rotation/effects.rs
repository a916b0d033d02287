//! Running one effect the machine decided, against Kubernetes, TrackVia and Workato, and saying
//! what happened as an [`Outcome`]. Every failure that may pass is `Failed` (the machine backs
//! off); every refusal is `Refused` with a message a person can act on; credentials never appear
//! in either.

use super::Ctx;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams, Preconditions};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use super::FINALIZER;
use super::machine::{Effect, Listed, Outcome, Verdict};
use crate::api::credential_rotation::{CredentialRotation, CredentialRotationStatus, RecipeState};
use crate::api::{IntegrationAccount, TrackViaAccount, WorkatoConnection, WorkatoWorkspace};
use crate::domain::access::access_diff;
use crate::domain::accounts::{admin_credentials, trackvia_client, workspace_client};
use crate::domain::caches::Source;
use crate::domain::connection::{environment_guard, input_for, provider, set_pushed};
use crate::domain::credentials::{publish_token, published_credentials};
use crate::domain::recipes::dependent;
use crate::domain::secret_ref;
use crate::external::Classify;
use crate::external::http::trim_message;
use crate::reconcile::Error;
use crate::secret::{Sensitive, scrub};
use crate::trackvia::{AuthFailure, AuthToken, HttpTrackvia, TrackviaApi, TrackviaError};
use crate::workato::{ConnectionUpdate, HttpWorkato, WorkatoApi, WorkatoError};

/// Key of the old token in the rotation's old-token Secret.
const OLD_TOKEN_KEY: &str = "token";

/// What an effect runs against.
pub struct Target<'a> {
    /// Shared context.
    pub ctx: &'a Ctx,
    /// The rotation (latest).
    pub rot: &'a CredentialRotation,
    /// Its status as recorded before the effect.
    pub status: &'a CredentialRotationStatus,
    /// Its IntegrationAccount, if it exists.
    pub ia: Option<&'a IntegrationAccount>,
}

fn failed(message: impl Into<String>) -> Outcome {
    Outcome::Failed {
        message: message.into(),
        retry_after: None,
    }
}

fn kube_failed(what: &str, e: &kube::Error) -> Outcome {
    failed(format!("{what}: {e}"))
}

fn from_error(e: &Error) -> Outcome {
    let retry_after = match e {
        Error::Trackvia(t) => t.retry_after(),
        Error::Workato(w) => w.retry_after(),
        _ => None,
    };
    Outcome::Failed {
        message: e.to_string(),
        retry_after,
    }
}

fn workato_failed(e: &WorkatoError) -> Outcome {
    Outcome::Failed {
        message: e.to_string(),
        retry_after: e.retry_after(),
    }
}

/// Whether TrackVia's answer rejects the token itself (not the API key, not a role, not a
/// passing fault): the only answer that counts as "the token does not work".
pub fn rejects_token(e: &TrackviaError) -> bool {
    match e.auth_failure() {
        Some(AuthFailure::TokenExpired | AuthFailure::TokenInvalid | AuthFailure::UserInactive) => true,
        // An unknown 401 is TrackVia's; an unknown 403 may be anything in front of it.
        Some(AuthFailure::Unrecognised) => matches!(e, TrackviaError::Unauthorized { status: 401, .. }),
        _ => false,
    }
}

/// The TrackVia side of the account: its client and API key.
struct TrackVia {
    account: TrackViaAccount,
    api: Arc<HttpTrackvia>,
    api_key: Sensitive<String>,
}

impl Target<'_> {
    fn ns(&self) -> String {
        self.rot.namespace().unwrap_or_default()
    }

    async fn trackvia(&self) -> Result<TrackVia, Outcome> {
        let Some(ia) = self.ia else {
            return Err(Outcome::Refused("the IntegrationAccount does not exist".into()));
        };
        let name = &ia.spec.account_ref.name;
        let account = Api::<TrackViaAccount>::namespaced(self.ctx.client.clone(), &self.ns())
            .get_opt(name)
            .await
            .map_err(|e| kube_failed("reading the TrackViaAccount", &e))?
            .ok_or_else(|| failed(format!("TrackViaAccount {name} not found in this namespace")))?;
        let creds = admin_credentials(self.ctx, &account, Source::ApiServer)
            .await
            .map_err(|e| failed(format!("TrackViaAccount {name}: {e}")))?;
        let api = trackvia_client(self.ctx, &account, creds.api_key.clone()).map_err(|e| from_error(&e))?;
        Ok(TrackVia {
            account,
            api,
            api_key: creds.api_key,
        })
    }

    /// The token in the token Secret, if its fingerprint is `fp`.
    async fn token(&self, fp: &str) -> Result<Option<AuthToken>, Outcome> {
        let Some(ia) = self.ia else { return Ok(None) };
        match secret_ref::read(self.ctx, &self.ns(), &ia.spec.token_secret_ref, Source::ApiServer).await {
            Ok(v) if self.ctx.fingerprint(v.value.expose()) == fp => Ok(Some(v.value)),
            Ok(_) => Ok(None),
            Err(secret_ref::SecretRefError::Api { source, .. }) => {
                Err(kube_failed("reading the token Secret", &source))
            }
            Err(_) => Ok(None),
        }
    }

    /// The published token, if any.
    async fn published(&self) -> Result<Option<AuthToken>, Outcome> {
        let Some(ia) = self.ia else { return Ok(None) };
        published_credentials(self.ctx, ia, Source::ApiServer)
            .await
            .map(|p| p.map(|p| p.value))
            .map_err(|e| from_error(&e))
    }

    /// The value of the token with fingerprint `fp`: the token Secret's or the published one.
    async fn token_value(&self, fp: &str) -> Result<Option<AuthToken>, Outcome> {
        if let Some(t) = self.token(fp).await? {
            return Ok(Some(t));
        }
        Ok(self
            .published()
            .await?
            .filter(|p| self.ctx.fingerprint(p.expose()) == fp))
    }

    async fn workspace(&self, name: &str) -> Result<(WorkatoWorkspace, Arc<HttpWorkato>), Outcome> {
        let ws = Api::<WorkatoWorkspace>::namespaced(self.ctx.client.clone(), &self.ns())
            .get_opt(name)
            .await
            .map_err(|e| kube_failed("reading the WorkatoWorkspace", &e))?
            .ok_or_else(|| {
                Outcome::Refused(format!("WorkatoWorkspace {name} not found in this namespace"))
            })?;
        match workspace_client(self.ctx, &ws, Source::ApiServer).await {
            Ok(Ok(c)) => Ok((ws, c.api)),
            Ok(Err(e)) => Err(failed(format!("WorkatoWorkspace {name}: {e}"))),
            Err(e) => Err(from_error(&e)),
        }
    }

    /// The workspace of recipe `i` (through the connection it was recorded with).
    fn recipe_workspace(&self, i: usize) -> Option<String> {
        let conn = self.status.recipes.get(i)?.connection.as_deref()?;
        self.status
            .connections
            .iter()
            .find(|c| c.name == conn)
            .and_then(|c| c.workspace.clone())
    }

    async fn recipe_client(&self, i: usize) -> Result<(i64, Arc<HttpWorkato>), Outcome> {
        let id = self
            .status
            .recipes
            .get(i)
            .map(|r| r.id)
            .ok_or_else(|| failed("no such recipe in status"))?;
        let ws = self.recipe_workspace(i).ok_or_else(|| {
            Outcome::Refused(format!("recipe {id}: its connection is not in this rotation"))
        })?;
        let (_, api) = self.workspace(&ws).await?;
        Ok((id, api))
    }

    async fn connection(&self, name: &str) -> Result<Option<WorkatoConnection>, Outcome> {
        Api::<WorkatoConnection>::namespaced(self.ctx.client.clone(), &self.ns())
            .get_opt(name)
            .await
            .map_err(|e| kube_failed("reading the WorkatoConnection", &e))
    }
}

/// Runs `effect`.
pub async fn run(t: &Target<'_>, effect: &Effect) -> Outcome {
    let result = match effect {
        Effect::AddFinalizer => add_finalizer(t).await,
        Effect::RemoveFinalizer => remove_finalizer(t).await,
        Effect::ProbePublished => probe_published(t).await,
        Effect::ListRecipes => list_recipes(t).await,
        Effect::ReadRecipe(i) => read_recipe(t, *i).await,
        Effect::StopRecipe(i) => stop_recipe(t, *i).await,
        Effect::StartRecipe(i) => start_recipe(t, *i).await,
        Effect::Validate(fp) => validate(t, fp).await,
        Effect::Push { index, fingerprint } => push(t, *index, fingerprint).await,
        Effect::KeepOldToken => keep_old_token(t).await,
        Effect::Publish(fp) => publish(t, fp).await,
        Effect::ProbeOldToken => probe_old_token(t).await,
        Effect::DeleteOldTokenSecret => delete_old_token_secret(t).await,
        Effect::CheckRecipes => check_recipes(t).await,
    };
    result.unwrap_or_else(|o| o)
}

type Ran = Result<Outcome, Outcome>;

async fn add_finalizer(t: &Target<'_>) -> Ran {
    let mut finalizers = t.rot.finalizers().to_vec();
    if finalizers.iter().any(|f| f == FINALIZER) {
        return Ok(Outcome::Done);
    }
    finalizers.push(FINALIZER.to_owned());
    let patch = json!({ "metadata": { "finalizers": finalizers } });
    Api::<CredentialRotation>::namespaced(t.ctx.client.clone(), &t.ns())
        .patch(&t.rot.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| kube_failed("adding the finalizer", &e))?;
    Ok(Outcome::Done)
}

async fn remove_finalizer(t: &Target<'_>) -> Ran {
    let Some(i) = t.rot.finalizers().iter().position(|f| f == FINALIZER) else {
        return Ok(Outcome::Done);
    };
    // Removes exactly our entry, and only if it is still where we saw it.
    let patch: json_patch::Patch = serde_json::from_value(json!([
        { "op": "test", "path": format!("/metadata/finalizers/{i}"), "value": FINALIZER },
        { "op": "remove", "path": format!("/metadata/finalizers/{i}") }
    ]))
    .map_err(|e| failed(format!("building the finalizer patch: {e}")))?;
    match Api::<CredentialRotation>::namespaced(t.ctx.client.clone(), &t.ns())
        .patch(
            &t.rot.name_any(),
            &PatchParams::default(),
            &Patch::Json::<()>(patch),
        )
        .await
    {
        Ok(_) => Ok(Outcome::Done),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(Outcome::Done),
        Err(e) => Err(kube_failed("removing the finalizer", &e)),
    }
}

async fn probe(api: &HttpTrackvia, token: &AuthToken) -> Ran {
    match api.list_views(token).await {
        Ok(_) => Ok(Outcome::Verdict(Verdict::Accepted)),
        Err(e) if rejects_token(&e) => Ok(Outcome::Verdict(Verdict::Rejected(e.to_string()))),
        // Anything else (a passing fault, a 403, an API key problem, a decode error) says nothing
        // about the token: try again later.
        Err(e) => Err(Outcome::Failed {
            message: e.to_string(),
            retry_after: e.retry_after(),
        }),
    }
}

async fn probe_published(t: &Target<'_>) -> Ran {
    let Some(token) = t.published().await? else {
        return Ok(Outcome::Verdict(Verdict::Rejected("nothing is published".into())));
    };
    let tv = t.trackvia().await?;
    probe(&tv.api, &token).await
}

async fn list_recipes(t: &Target<'_>) -> Ran {
    let mut listed = Vec::new();
    let mut fresh = HashSet::new();
    for c in &t.status.connections {
        let Some(id) = c.id else { continue };
        let ws_name = c.workspace.clone().unwrap_or_default();
        let (ws, api) = match t.workspace(&ws_name).await {
            Ok(w) => w,
            Err(Outcome::Refused(why)) => return Ok(Outcome::Refused(why)),
            Err(o) => return Err(o),
        };
        let Some(wc) = t.connection(&c.name).await? else {
            continue;
        };
        let adapter = provider(&wc);
        let ws_uid = ws.uid().unwrap_or_default();
        // Each workspace's recipes are read afresh once per rotation.
        let read_now = fresh.insert((ws_uid.clone(), adapter.clone()));
        let recipes = t
            .ctx
            .own
            .listings
            .recipes(&api, &ws_uid, &adapter, Duration::from_secs(60), read_now)
            .await
            .map_err(|e| workato_failed(&e))?;
        for r in dependent(&wc, id, &recipes) {
            listed.push(Listed {
                id: r.id,
                name: r.name.clone(),
                running: r.running,
                connection: c.name.clone(),
            });
        }
    }
    Ok(Outcome::Listed(listed))
}

async fn read_recipe(t: &Target<'_>, i: usize) -> Ran {
    let (id, api) = t.recipe_client(i).await?;
    match api.get_recipe(id).await {
        Ok(r) => Ok(Outcome::Running(BTreeMap::from([(id, r.running)]))),
        Err(WorkatoError::NotFound { .. }) => Ok(Outcome::NotFound),
        Err(e) => Err(workato_failed(&e)),
    }
}

async fn stop_recipe(t: &Target<'_>, i: usize) -> Ran {
    let (id, api) = t.recipe_client(i).await?;
    match api.ensure_stopped(id).await {
        Ok(()) => Ok(Outcome::Done),
        Err(WorkatoError::NotFound { .. }) => Ok(Outcome::NotFound),
        Err(e) if e.is_transient() => Err(workato_failed(&e)),
        Err(e) => Ok(Outcome::Refused(trim_message(&e.to_string(), 300))),
    }
}

async fn start_recipe(t: &Target<'_>, i: usize) -> Ran {
    let (id, api) = t.recipe_client(i).await?;
    match api.ensure_started(id).await {
        Ok(()) => Ok(Outcome::Done),
        Err(WorkatoError::NotFound { .. }) => Ok(Outcome::NotFound),
        Err(WorkatoError::StartFailed { errors, .. }) => {
            Ok(Outcome::Refused(trim_message(&errors.join("; "), 300)))
        }
        Err(e) if e.is_transient() => Err(workato_failed(&e)),
        Err(e) => Ok(Outcome::Refused(trim_message(&e.to_string(), 300))),
    }
}

async fn validate(t: &Target<'_>, fp: &str) -> Ran {
    let Some(token) = t.token(fp).await? else {
        return Ok(Outcome::Superseded);
    };
    let tv = t.trackvia().await?;
    match tv.api.reach(&token).await {
        Ok(reach) => {
            let missing =
                t.ia.and_then(|ia| ia.spec.access.as_ref())
                    .map(|a| access_diff(a, &reach).0)
                    .unwrap_or_default();
            if missing.is_empty() {
                Ok(Outcome::Verdict(Verdict::Accepted))
            } else {
                Ok(Outcome::Verdict(Verdict::Rejected(format!(
                    "the new token cannot reach {}",
                    missing.join(", ")
                ))))
            }
        }
        Err(e) if e.is_transient() => Err(Outcome::Failed {
            message: e.to_string(),
            retry_after: e.retry_after(),
        }),
        Err(e) => Ok(Outcome::Verdict(Verdict::Rejected(e.to_string()))),
    }
}

async fn push(t: &Target<'_>, i: usize, fp: &str) -> Ran {
    let Some(c) = t.status.connections.get(i) else {
        return Err(failed("no such connection in status"));
    };
    let Some(token) = t.token_value(fp).await? else {
        return Ok(Outcome::Superseded);
    };
    let Some(wc) = t.connection(&c.name).await? else {
        return Ok(Outcome::Gone);
    };
    let tv = t.trackvia().await?;
    let (ws, api) = t.workspace(&wc.spec.workspace_ref.name).await?;
    // I7: the environment guard holds on every push, the rotation's included.
    if let Err(why) = environment_guard(&ws, &tv.account) {
        return Ok(Outcome::Refused(why));
    }
    let id = c.id.unwrap_or_default();
    // I9: only a connection of the WorkatoConnection's own connector is ever written.
    let ws_uid = ws.uid().unwrap_or_default();
    let every = crate::reconcile::interval(
        ws.spec.check_interval.as_deref(),
        t.ctx.settings.workspace_check_interval,
    );
    let list = t
        .ctx
        .own
        .listings
        .connections(&api, &ws_uid, every, false)
        .await
        .map_err(|e| workato_failed(&e))?;
    let wanted = provider(&wc);
    match list.iter().find(|x| x.id == id) {
        None => {
            return Ok(Outcome::Refused(format!(
                "connection {id} does not exist in WorkatoWorkspace {}",
                ws.name_any()
            )));
        }
        Some(x) if x.provider.as_deref().is_some_and(|p| p != wanted) => {
            return Ok(Outcome::Refused(format!(
                "connection {id} is a {} connection, not {wanted}: never written",
                x.provider.as_deref().unwrap_or("?")
            )));
        }
        Some(_) => {}
    }
    let update = ConnectionUpdate {
        input: Some(input_for(&wc, &tv.account, &tv.api_key, &token)),
        ..Default::default()
    };
    let result = api.update_connection(id, &update).await;
    t.ctx.own.listings.forget_connections(&ws_uid);
    match result {
        Ok(conn) => {
            set_pushed(t.ctx, &t.ns(), &c.name, fp)
                .await
                .map_err(|e| from_error(&e))?;
            let error = (!conn.is_authorized()).then(|| {
                trim_message(
                    &scrub(
                        conn.authorization_error.as_deref().unwrap_or("no reason given"),
                        &[token.expose(), tv.api_key.expose()],
                    ),
                    200,
                )
            });
            Ok(Outcome::Pushed {
                authorized: conn.is_authorized(),
                error,
            })
        }
        Err(e) if e.is_transient() => Err(workato_failed(&e)),
        Err(e) => Ok(Outcome::Refused(trim_message(&e.to_string(), 300))),
    }
}

/// The name of the rotation's old-token Secret (its uid keeps it from colliding with anyone's).
pub fn old_token_secret_name(rot: &CredentialRotation) -> String {
    let uid: String = rot.uid().unwrap_or_default().chars().take(8).collect();
    let base: String = rot.name_any().chars().take(230).collect();
    format!("{base}-old-token-{uid}")
}

async fn keep_old_token(t: &Target<'_>) -> Ran {
    let Some(old) = t.published().await? else {
        return Ok(Outcome::Kept(Err("nothing is published".into())));
    };
    let name = old_token_secret_name(t.rot);
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            owner_references: t.rot.controller_owner_ref(&()).map(|o| vec![o]),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_owned(),
                "trackvia-operator".to_owned(),
            )])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            OLD_TOKEN_KEY.to_owned(),
            ByteString(old.expose().as_bytes().to_vec()),
        )])),
        ..Default::default()
    };
    let secrets: Api<Secret> = Api::namespaced(t.ctx.client.clone(), &t.ns());
    match secrets.create(&PostParams::default(), &secret).await {
        Ok(_) => Ok(Outcome::Kept(Ok(name))),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let existing = secrets
                .get_opt(&name)
                .await
                .map_err(|e| kube_failed("reading the old-token Secret", &e))?;
            match existing {
                Some(s) if secret_ref::controlled_by(&s, t.rot) => Ok(Outcome::Kept(Ok(name))),
                Some(_) => Ok(Outcome::Kept(Err(format!(
                    "Secret {name} exists and is not this rotation's; it is left untouched"
                )))),
                None => Err(failed("the old-token Secret vanished while being created")),
            }
        }
        Err(e) => Err(kube_failed("keeping the old token", &e)),
    }
}

async fn publish(t: &Target<'_>, fp: &str) -> Ran {
    let (Some(ia), Some(token)) = (t.ia, t.token(fp).await?) else {
        return Ok(Outcome::Superseded);
    };
    let tv = t.trackvia().await?;
    publish_token(t.ctx, ia, &tv.account, &tv.api_key, &token)
        .await
        .map_err(|e| from_error(&e))?;
    Ok(Outcome::Done)
}

async fn probe_old_token(t: &Target<'_>) -> Ran {
    let Some(name) = t.status.old_token_secret.clone() else {
        return Ok(Outcome::Verdict(Verdict::Missing));
    };
    let secret = Api::<Secret>::namespaced(t.ctx.client.clone(), &t.ns())
        .get_opt(&name)
        .await
        .map_err(|e| kube_failed("reading the old-token Secret", &e))?;
    let token = secret
        .filter(|s| secret_ref::controlled_by(s, t.rot))
        .and_then(|s| {
            s.data?
                .get(OLD_TOKEN_KEY)
                .and_then(|b| String::from_utf8(b.0.clone()).ok())
        })
        .filter(|v| !v.is_empty())
        .map(Sensitive::new);
    let Some(token) = token else {
        return Ok(Outcome::Verdict(Verdict::Missing));
    };
    let tv = t.trackvia().await?;
    probe(&tv.api, &token).await
}

async fn delete_old_token_secret(t: &Target<'_>) -> Ran {
    let Some(name) = t.status.old_token_secret.clone() else {
        return Ok(Outcome::Done);
    };
    let secrets: Api<Secret> = Api::namespaced(t.ctx.client.clone(), &t.ns());
    let Some(existing) = secrets
        .get_opt(&name)
        .await
        .map_err(|e| kube_failed("reading the old-token Secret", &e))?
    else {
        return Ok(Outcome::Done);
    };
    // I8: only the rotation's own Secret, and exactly the one read (uid precondition).
    if !secret_ref::controlled_by(&existing, t.rot) {
        return Ok(Outcome::Done);
    }
    let dp = DeleteParams {
        preconditions: Some(Preconditions {
            uid: existing.uid(),
            resource_version: None,
        }),
        ..Default::default()
    };
    match secrets.delete(&name, &dp).await {
        Ok(_) => Ok(Outcome::Done),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(Outcome::Done),
        Err(e) => Err(kube_failed("deleting the old-token Secret", &e)),
    }
}

async fn check_recipes(t: &Target<'_>) -> Ran {
    let mut running = BTreeMap::new();
    let mut workspaces: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (i, r) in t.status.recipes.iter().enumerate() {
        if r.state.is_held() || r.state == RecipeState::Starting {
            let Some(ws) = t.recipe_workspace(i) else { continue };
            workspaces.entry(ws).or_default().push(r.id);
        }
    }
    for (ws_name, ids) in workspaces {
        let (_, api) = t.workspace(&ws_name).await?;
        // A read of each held recipe: exact, and rare (a finished rotation checks once per
        // interval); the shared listing would need each recipe's adapter.
        for id in ids {
            match api.get_recipe(id).await {
                Ok(r) => {
                    running.insert(id, r.running);
                }
                Err(WorkatoError::NotFound { .. }) => {}
                Err(e) => return Err(workato_failed(&e)),
            }
        }
    }
    Ok(Outcome::Running(running))
}

/// Before the first stop: how long to hold the stops so that each workspace's recipe budget (60
/// calls per minute) takes all of them back to back. Each stop is answered by a start one budget
/// window later at the earliest, so stopping early only lengthens the downtime of the recipes
/// stopped first. The recipes keep running meanwhile.
pub async fn stop_hold(ctx: &Ctx, rot: &CredentialRotation, status: &CredentialRotationStatus) -> Duration {
    let target = Target {
        ctx,
        rot,
        status,
        ia: None,
    };
    let mut per_workspace: BTreeMap<String, usize> = BTreeMap::new();
    for (i, r) in status.recipes.iter().enumerate() {
        if r.state == RecipeState::ToStop
            && let Some(ws) = target.recipe_workspace(i)
        {
            *per_workspace.entry(ws).or_default() += 1;
        }
    }
    let mut wait = Duration::ZERO;
    for (ws, n) in per_workspace {
        if let Ok((_, api)) = target.workspace(&ws).await {
            wait = wait.max(api.budget().recipe_burst_free_in(n));
        }
    }
    wait
}
