//! The credentials step of the WorkatoConnection reconciler: check the connector, then push the
//! published credentials to a connection nothing works on yet, or hand a live one over to a
//! takeover rotation, and record Workato's view of the connection.

use kube::ResourceExt;

use super::{Ctx, Workspace, fit, observe, plan};
use crate::api::workato_connection::{WorkatoConnection, WorkatoConnectionStatus};
use crate::conditions::Cond;
use crate::domain::caches::Source;
use crate::domain::connection::{
    PUSHED_FINGERPRINT_ANNOTATION, connection_input, provider, recorded_auth_type, set_pushed,
};
use crate::domain::credentials::published_credentials;
use crate::domain::rotation;
use crate::reconcile::{Error, event};
use crate::workato::{Connection, ConnectionUpdate, WorkatoApi};

/// Reads what Workato says of the connector (cached per workspace and provider) and checks it
/// against the configured keys: `Some(auth type to send)` when it fits, `None` when it refuses.
pub(super) async fn connector(
    wc: &WorkatoConnection,
    ctx: &Ctx,
    ws: &Workspace,
    status: &mut WorkatoConnectionStatus,
    conds: &mut Vec<Cond>,
) -> Result<Option<Option<(String, String)>>, Error> {
    let c = ctx
        .own
        .listings
        .connector(&ws.api, &ws.uid, &provider(wc), ws.every, ws.fresh)
        .await?;
    match fit::fit(wc, &c) {
        Ok(f) => {
            let auth = recorded_auth_type(&f.status);
            status.connector = Some(f.status);
            conds.push(f.cond);
            Ok(Some(auth))
        }
        Err(refused) => {
            conds.push(refused);
            Ok(None)
        }
    }
}

/// A connection whose connector can take the credentials, and the authentication type to send.
pub(super) struct Usable {
    /// The connection.
    pub connection: Connection,
    /// The authentication type to send, as `(field, value)`.
    pub auth: Option<(String, String)>,
}

/// A push of credentials, for its Event: whether Workato's test failed (a Warning), and the note.
pub(super) struct Pushed {
    /// Workato's test of the connection did not authorize it.
    pub warning: bool,
    /// What was pushed where, and Workato's test.
    pub note: String,
}

/// Pushes the published credentials to a connection nothing works on yet, hands a live one over
/// to a takeover rotation, or reports where the credentials stand; then records Workato's view.
/// Returns the push, if one was made, for the report to announce.
pub(super) async fn credentials(
    wc: &WorkatoConnection,
    ctx: &Ctx,
    refs: &observe::Refs,
    ws: &Workspace,
    usable: Usable,
    status: &mut WorkatoConnectionStatus,
    conds: &mut Vec<Cond>,
) -> Result<Option<Pushed>, Error> {
    let Usable { connection, auth } = usable;
    let published = refs.published.as_ref();
    let fingerprint = published.map(|p| ctx.fingerprint(p.value.expose()));
    let pushed = wc
        .annotations()
        .get(PUSHED_FINGERPRINT_ANNOTATION)
        .map(String::as_str);
    let ia_name = refs.integration.name_any();
    let mut current = connection;
    let mut dedicated = pushed.is_some();
    let mut pushed_now = None;
    let published_fp = published.zip(fingerprint.as_deref());
    match plan::credentials(published_fp, pushed, current.is_authorized(), &ia_name) {
        plan::Credentials::Report(cond, held) => {
            if held.is_some() {
                status.token_fingerprint = held;
            }
            conds.push(cond);
        }
        plan::Credentials::TakeOver => conds.push(take_over(wc, ctx, current.id).await?),
        plan::Credentials::Push {
            published: p,
            fingerprint,
        } if !confirmed(ctx, refs, &fingerprint).await? => {
            // The Secret cache lags a change of the credentials: nothing is pushed on its word.
            // The change reaches this connection through the same cache's watch.
            let _ = p;
            if let plan::Credentials::Report(cond, _) = plan::credentials::<()>(None, None, false, &ia_name) {
                conds.push(cond);
            }
        }
        plan::Credentials::Push {
            published: p,
            fingerprint,
        } => {
            // `wc` was read at the start of this reconcile (not taken from the cache), so a push
            // of ours is already on it.
            let update = ConnectionUpdate {
                input: Some(connection_input(wc, &refs.account, p, auth)),
                ..Default::default()
            };
            let id = current.id;
            current = ws.api.update_connection(id, &update).await?;
            ctx.own.listings.forget_connections(&ws.uid);
            let written = set_pushed(
                ctx,
                &wc.namespace().unwrap_or_default(),
                &wc.name_any(),
                &fingerprint,
            )
            .await?;
            // Its watch event is the echo of this write: it does not wake this connection again.
            ctx.written
                .record(written.uid().as_deref(), written.resource_version().as_deref());
            let test = current.authorization_status.as_deref().unwrap_or("none");
            pushed_now = Some(Pushed {
                warning: !current.is_authorized(),
                note: format!("pushed credentials {fingerprint} to connection {id}; Workato's test: {test}"),
            });
            status.token_fingerprint = Some(fingerprint);
            status.last_tested_time = Some(ctx.clock.now_time());
            conds.push(plan::current());
            dedicated = true;
        }
    }
    conds.push(fit::dedicated(wc, current.id, dedicated, current.is_authorized()));
    plan::record_connection(status, &current, &refs.secrets());
    conds.push(plan::verified(&current, status));
    Ok(pushed_now)
}

/// Whether the credentials Secret in the API server holds the credentials with `fingerprint` (a
/// push, a side effect, must rest on the latest committed state, not on a cache).
async fn confirmed(ctx: &Ctx, refs: &observe::Refs, fingerprint: &str) -> Result<bool, Error> {
    let latest = published_credentials(ctx, &refs.integration, Source::ApiServer).await?;
    Ok(latest.is_some_and(|p| ctx.fingerprint(p.value.expose()) == fingerprint))
}

/// Starts the takeover rotation when the plan says so; returns `CredentialsCurrent`.
async fn take_over(wc: &WorkatoConnection, ctx: &Ctx, id: i64) -> Result<Cond, Error> {
    let name = plan::takeover_name(wc);
    let existing = if plan::takes_over(wc) {
        observe::takeover(wc, ctx, &name).await?
    } else {
        None
    };
    match plan::take_over(wc, id, existing.as_ref().map(Option::as_ref)) {
        plan::TakeOver::Report(cond) => Ok(cond),
        plan::TakeOver::Start { name, spec, cond } => {
            if rotation::start(ctx, wc, &name, "take-over", spec).await? {
                let note = format!("created CredentialRotation {name} to take live connection {id} over");
                event(ctx, wc, false, "TakingOver", note).await;
            }
            Ok(cond)
        }
    }
}
