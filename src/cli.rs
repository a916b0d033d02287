//! The operational helpers of the binary (also `kubectl trackvia ...` when installed as
//! `kubectl-trackvia`): request a rotation, and show an account with its connections and
//! rotations in one view.

pub mod connect;
pub mod kinds;
pub mod recheck;
pub mod scope;
pub mod todo;

use std::fmt::Write as _;

use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::api::credential_rotation::{CredentialRotation, CredentialRotationSpec};
use crate::api::integration_account::RotationStrategy;
use crate::api::{IntegrationAccount, LocalRef, TrackViaAccount, WorkatoConnection};
use crate::reconcile::FIELD_MANAGER;

/// Errors of the helpers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Kubernetes API failed.
    #[error("{what}: {source}")]
    Kube {
        /// What was being done.
        what: String,
        /// What failed.
        #[source]
        source: kube::Error,
    },
    /// No IntegrationAccount of that name.
    #[error("IntegrationAccount {0} not found in namespace {1}")]
    NotFound(String, String),
    /// No CredentialRotation of that name.
    #[error("CredentialRotation {0} not found in namespace {1}")]
    RotationNotFound(String, String),
    /// The command line does not say what to do.
    #[error("{0}")]
    Usage(String),
    /// The answer could not be printed in the format asked for.
    #[error("printing: {0}")]
    Output(String),
}

fn kube(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
    let what = what.into();
    move |source| Error::Kube { what, source }
}

/// How to rotate.
#[derive(Clone, Debug, Default)]
pub struct RotateOptions {
    /// Force a strategy.
    pub strategy: Option<RotationStrategy>,
    /// Only check and report.
    pub dry_run: bool,
    /// Why (recorded in the rotation).
    pub reason: Option<String>,
    /// Set `spec.rotation.requestedAt` instead of creating a CredentialRotation (GitOps-friendly
    /// when the manifest does the same).
    pub declarative: bool,
}

/// Requests a rotation of an IntegrationAccount; returns what was done, for the person.
pub async fn rotate(client: &Client, ns: &str, name: &str, opts: &RotateOptions) -> Result<String, Error> {
    let ias: Api<IntegrationAccount> = Api::namespaced(client.clone(), ns);
    let ia = ias
        .get_opt(name)
        .await
        .map_err(kube("reading the IntegrationAccount"))?;
    let Some(ia) = ia else {
        return Err(Error::NotFound(name.to_owned(), ns.to_owned()));
    };
    let now = jiff::Timestamp::now();
    if opts.declarative {
        let patch = json!({"spec": {"rotation": {"requestedAt": now.round(jiff::Unit::Second).unwrap_or(now).to_string()}}});
        ias.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(kube("setting requestedAt"))?;
        return Ok(format!(
            "integrationaccount/{name}: rotation requested at {now} (spec.rotation.requestedAt)"
        ));
    }
    let rotation_name = format!(
        "{}-manual-{}",
        ia.name_any().chars().take(200).collect::<String>(),
        now.as_second()
    );
    let rotation = CredentialRotation {
        metadata: kube::api::ObjectMeta {
            name: Some(rotation_name.clone()),
            labels: Some(
                [(
                    crate::domain::credentials::INTEGRATION_ACCOUNT_LABEL.to_owned(),
                    name.to_owned(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        spec: CredentialRotationSpec {
            integration_account_ref: LocalRef {
                name: name.to_owned(),
            },
            strategy: opts.strategy,
            reason: opts
                .reason
                .clone()
                .or_else(|| Some(format!("requested with {FIELD_MANAGER} rotate"))),
            dry_run: opts.dry_run.then_some(true),
            take_over: None,
        },
        status: None,
    };
    Api::<CredentialRotation>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &rotation)
        .await
        .map_err(kube("creating the CredentialRotation"))?;
    Ok(format!(
        "credentialrotation/{rotation_name} created; follow it with: kubectl get rot {rotation_name} -n {ns} -w"
    ))
}

/// Approves a CredentialRotation (a scheduled `StopAndRestart` waits for this before it stops
/// anything); returns what was done, for the person.
pub async fn approve(client: &Client, ns: &str, name: &str) -> Result<String, Error> {
    let api: Api<CredentialRotation> = Api::namespaced(client.clone(), ns);
    let Some(rot) = api
        .get_opt(name)
        .await
        .map_err(kube("reading the CredentialRotation"))?
    else {
        return Err(Error::RotationNotFound(name.to_owned(), ns.to_owned()));
    };
    let phase = rot.status.as_ref().and_then(|s| s.phase);
    let patch = json!({"metadata": {"annotations": {crate::domain::rotation::APPROVED_ANNOTATION: "true"}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(kube("approving the CredentialRotation"))?;
    Ok(match phase {
        Some(crate::api::credential_rotation::RotationPhase::AwaitingApproval) => format!(
            "credentialrotation/{name} approved: it stops the dependent recipes now; then regenerate the token in TrackVia and put it in the token Secret (follow it with: kubectl get rot {name} -n {ns} -w)"
        ),
        Some(p) => {
            format!("credentialrotation/{name} approved (it is {p}, it was not waiting for an approval)")
        }
        None => format!("credentialrotation/{name} approved before it started"),
    })
}

/// One view of an IntegrationAccount, its TrackVia account, connections and rotations.
pub async fn status(client: &Client, ns: &str, name: &str) -> Result<String, Error> {
    let ia = Api::<IntegrationAccount>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .map_err(kube("reading the IntegrationAccount"))?
        .ok_or_else(|| Error::NotFound(name.to_owned(), ns.to_owned()))?;
    let st = ia.status.clone().unwrap_or_default();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "IntegrationAccount {ns}/{name}: {} Integration <{}>",
        ia.spec.system, ia.spec.email
    );
    conditions(&mut out, &st.common.conditions);
    if let Some(next) = &st.next_action {
        let _ = writeln!(out, "  Next action: {next}");
    }
    if let Some(u) = &st.user {
        let _ = writeln!(
            out,
            "  User: id {} ({})",
            u.id.map(|i| i.to_string()).unwrap_or("-".into()),
            u.state.as_deref().unwrap_or("-")
        );
    }
    if let Some(t) = &st.token {
        let _ = writeln!(
            out,
            "  Token: {} expires {} rotation due {}",
            t.fingerprint.as_deref().unwrap_or("-"),
            t.expires_at
                .as_ref()
                .map(|e| e.0.to_string())
                .unwrap_or("unknown".into()),
            t.rotation_due_time
                .as_ref()
                .map(|e| e.0.to_string())
                .unwrap_or("-".into())
        );
    }
    if let Some(a) = &st.access
        && (!a.missing.is_empty() || !a.extra.is_empty())
    {
        let _ = writeln!(
            out,
            "  Access: missing [{}] extra [{}]",
            a.missing.join(", "),
            a.extra.join(", ")
        );
    }

    let account = Api::<TrackViaAccount>::namespaced(client.clone(), ns)
        .get_opt(&ia.spec.account_ref.name)
        .await
        .map_err(kube("reading the TrackViaAccount"))?;
    match account {
        Some(a) => {
            let _ = writeln!(
                out,
                "\nTrackViaAccount {} ({}, {})",
                a.name_any(),
                a.spec.environment,
                a.spec.base_url
            );
            conditions(
                &mut out,
                &a.status.map(|s| s.common.conditions).unwrap_or_default(),
            );
        }
        None => {
            let _ = writeln!(out, "\nTrackViaAccount {} not found", ia.spec.account_ref.name);
        }
    }

    let wcs = Api::<WorkatoConnection>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .map_err(kube("listing WorkatoConnections"))?;
    for wc in wcs
        .items
        .iter()
        .filter(|w| w.spec.integration_account_ref.name == name)
    {
        let s = wc.status.clone().unwrap_or_default();
        let _ = writeln!(
            out,
            "\nWorkatoConnection {} (workspace {}, connection {}, authorization {})",
            wc.name_any(),
            wc.spec.workspace_ref.name,
            s.connection_id.map(|i| i.to_string()).unwrap_or("-".into()),
            s.authorization_status.as_deref().unwrap_or("-")
        );
        conditions(&mut out, &s.common.conditions);
        for r in &s.recipes {
            let _ = writeln!(
                out,
                "    recipe {} {:<40} {}{}",
                r.id,
                r.name.as_deref().unwrap_or(""),
                if r.running { "running" } else { "stopped" },
                r.stop_cause
                    .as_deref()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default()
            );
        }
    }

    let rots = Api::<CredentialRotation>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .map_err(kube("listing CredentialRotations"))?;
    let mut mine: Vec<&CredentialRotation> = rots
        .items
        .iter()
        .filter(|r| r.spec.integration_account_ref.name == name)
        .collect();
    mine.sort_by_key(|r| std::cmp::Reverse(r.creation_timestamp()));
    let mut shown: Vec<(String, String)> = vec![("IntegrationAccount".into(), name.to_owned())];
    shown.extend(
        wcs.items
            .iter()
            .filter(|w| w.spec.integration_account_ref.name == name)
            .map(|w| ("WorkatoConnection".to_owned(), w.name_any())),
    );
    shown.extend(
        mine.iter()
            .map(|r| ("CredentialRotation".to_owned(), r.name_any())),
    );
    shown.push(("TrackViaAccount".into(), ia.spec.account_ref.name.clone()));
    if !mine.is_empty() {
        let _ = writeln!(out, "\nRotations (newest first):");
    }
    for r in mine.iter().take(5) {
        let s = r.status.clone().unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:<48} {:<15} {:<20} {}",
            r.name_any(),
            s.strategy.map(|x| format!("{x:?}")).unwrap_or("-".into()),
            s.phase.map_or_else(|| "-".to_owned(), |p| p.to_string()),
            s.plan_summary.as_deref().unwrap_or("")
        );
    }
    recent_events(client, ns, &shown, &mut out).await?;
    Ok(out)
}

/// The last five Events of the objects shown (`(kind, name)`), newest last.
async fn recent_events(
    client: &Client,
    ns: &str,
    shown: &[(String, String)],
    out: &mut String,
) -> Result<(), Error> {
    use k8s_openapi::api::core::v1::Event;
    let events = Api::<Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .map_err(kube("listing Events"))?;
    let when = |e: &Event| {
        e.last_timestamp
            .as_ref()
            .map(|t| t.0)
            .or(e.event_time.as_ref().map(|t| t.0))
            .or(e.metadata.creation_timestamp.as_ref().map(|t| t.0))
    };
    let mut mine: Vec<&Event> = events
        .items
        .iter()
        .filter(|e| {
            let o = &e.involved_object;
            shown
                .iter()
                .any(|(k, n)| o.kind.as_deref() == Some(k.as_str()) && o.name.as_deref() == Some(n.as_str()))
        })
        .collect();
    mine.sort_by_key(|e| when(e));
    let recent = &mine[mine.len().saturating_sub(5)..];
    if recent.is_empty() {
        return Ok(());
    }
    let _ = writeln!(out, "\nRecent events:");
    for e in recent {
        let _ = writeln!(
            out,
            "  {:<20} {:<7} {:<40} {:<22} {}",
            when(e)
                .map(|t| t.round(jiff::Unit::Second).unwrap_or(t).to_string())
                .unwrap_or_default(),
            e.type_.as_deref().unwrap_or(""),
            format!(
                "{}/{}",
                e.involved_object
                    .kind
                    .as_deref()
                    .unwrap_or("")
                    .to_ascii_lowercase(),
                e.involved_object.name.as_deref().unwrap_or("")
            ),
            e.reason.as_deref().unwrap_or(""),
            e.message.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

fn conditions(out: &mut String, conds: &[crate::api::Condition]) {
    for c in conds {
        let mark = match c.status.as_str() {
            "Unknown" => "…",
            _ if crate::conditions::abnormal(c) => "✘",
            _ => "✔",
        };
        let _ = writeln!(out, "  {mark} {:<22} {:<24} {}", c.type_, c.reason, c.message);
    }
}
