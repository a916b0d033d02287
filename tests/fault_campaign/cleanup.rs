//! After the checks of a run, the person's clean-up (recipes left stopped by design started,
//! findings cleared, the published token back in the token Secret), and the IntegrationAccount
//! settling, so that the next run starts from a clean world on the token now published.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::api::Api;
use trackvia_operator::api::{IntegrationAccount, WorkatoConnection};

use crate::report::{Inv, Report};
use crate::support::chaos::get_retry;
use crate::support::is_ready;
use crate::support::operator::metric_sum;
use crate::support::world::{SANDBOX, condition, get_json, person_starts_recipe, running_in};
use crate::world::{Seen, World, name_of, tokens, uid_of, wait_for, wc_name};
use crate::{KUBE_RETRY, SHOW_WITHIN};

/// The person's clean-up, then the account settles and the campaign carries on from the token
/// now published.
pub async fn clean_up_and_settle(
    w: &mut World,
    rep: &mut Report,
    seen: &Seen,
    before: &BTreeMap<i64, bool>,
    published: String,
) {
    let published_now = clean_up(w, rep, seen, before, published).await;
    settle(w, rep, seen, published_now).await;
}

/// Recipes left stopped by design: the person starts them in Workato, after which every finding
/// clears (I1: "until a person resolves it"); a deleted rotation that waited for a person goes
/// (I4); a token no rotation published is replaced by the published one. Returns the published
/// token.
async fn clean_up(
    w: &mut World,
    rep: &mut Report,
    seen: &Seen,
    before: &BTreeMap<i64, bool>,
    published: String,
) -> String {
    for id in 1001..=1009 {
        if before.get(&id).copied().unwrap_or(false) && !running_in(&w.state().await)[&id] {
            person_starts_recipe(&w.emu, id).await;
            rep.person_started.push(id);
        }
    }
    if !rep.person_started.is_empty() {
        let cleared = wait_for(SHOW_WITHIN, || async {
            let rots = w.rotations().await?;
            let m = w.op.metrics().await?;
            for r in &rots {
                if condition(r, "RecipesRestarted").is_some_and(|c| c.0 == "False") {
                    return None;
                }
                let label = format!("name=\"{}\"", name_of(r));
                if metric_sum(&m, "trackvia_operator_recipes_left_stopped", &[&label]) > 0.0 {
                    return None;
                }
            }
            for conn in 100..=102 {
                let o = get_json::<WorkatoConnection>(&w.client, &w.ns, &wc_name(conn)).await?;
                condition(&o, "RecipesHealthy").filter(|c| c.0 == "True")?;
            }
            Some(())
        })
        .await;
        if !cleared {
            rep.violation(
                Inv::I1,
                format!(
                    "after the person started recipes {:?}, a rotation, the metric or a WorkatoConnection still reports them within {SHOW_WITHIN:?}",
                    rep.person_started
                ),
            );
        }
    }
    // A deleted rotation that waited for a person goes now (I4).
    if let Some((uid, name)) = &seen.deleted {
        let still = || async {
            w.rotations()
                .await
                .and_then(|rs| rs.into_iter().find(|r| uid_of(r) == *uid))
        };
        let gone = wait_for(SHOW_WITHIN, || async {
            w.rotations()
                .await?
                .iter()
                .all(|r| uid_of(r) != *uid)
                .then_some(())
        })
        .await;
        if !gone {
            let r = still().await;
            rep.violation(
                Inv::I4,
                format!(
                    "the deleted rotation {name} is still there with everything running: Ready {:?}",
                    r.as_ref().and_then(|r| condition(r, "Ready"))
                ),
            );
        }
    }
    // A token the person placed and no rotation published: the person puts the published one
    // back (the account does not try a token twice).
    let published_now = w
        .secret_value("sf-credentials", "authToken")
        .await
        .unwrap_or(published.clone());
    if w.secret_value("sf-token", "token").await.as_deref() != Some(published_now.as_str()) {
        w.put_token(&published_now).await;
        rep.happened
            .push("the person put the published token back in the token Secret".into());
    }
    published_now
}

/// The IntegrationAccount settles on what was published; the campaign continues from that token.
async fn settle(w: &mut World, rep: &mut Report, seen: &Seen, published_now: String) {
    // The IntegrationAccount settles on what was published.
    let ias: Api<IntegrationAccount> = Api::namespaced(w.client.clone(), &w.ns);
    let settled = tokio::time::timeout(SHOW_WITHIN, async {
        loop {
            if let Some(ia) = get_retry(&ias, "sf", KUBE_RETRY).await
                && let Some(s) = ia.status
                && is_ready(&s.common.conditions)
                && s.rotation.as_ref().is_some_and(|r| r.active.is_none())
                && s.credentials_secret
                    .as_ref()
                    .and_then(|c| c.token_fingerprint.clone())
                    == s.token.as_ref().and_then(|t| t.fingerprint.clone())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await;
    if settled.is_err() {
        rep.violation(
            Inv::Settles,
            "the IntegrationAccount did not settle (Ready, published = current token) within 60 s".into(),
        );
    }
    for uid in seen.tracked.keys() {
        w.known.insert(uid.clone());
    }
    for r in w.rotations().await.unwrap_or_default() {
        w.known.insert(uid_of(&r));
    }
    // The campaign continues from the token now published; every other token of the integration
    // user goes (TrackVia keeps at most 100).
    let state = w.state().await;
    let toks = tokens(&state);
    match toks.get(&published_now) {
        Some((id, true)) => w.token = (*id, published_now.clone()),
        _ => {
            rep.violation(
                Inv::I5,
                "at the end the credentials Secret holds a token TrackVia rejects".into(),
            );
            rep.fatal = true;
        }
    }
    for (value, (id, _)) in &toks {
        if *value != published_now && *id != 1 {
            w.emu
                .delete(&format!("trackvia/accounts/{SANDBOX}/tokens/{id}"))
                .await;
        }
    }
}
