//! `recheck`: sets the force-recheck annotation on objects of any kind, so the operator runs
//! their periodic checks now (after a person's step in TrackVia's or Workato's UI).

use kube::api::{Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde::Serialize;
use serde_json::json;

use super::kinds::Kind;
use super::scope::{Scope, columns};
use super::{Error, kube};
use crate::api::common::RECHECK_ANNOTATION;

/// One object annotated.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Rechecked {
    /// Its namespace.
    pub namespace: String,
    /// Its kind.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// The annotation's new value.
    pub value: String,
}

/// Annotates the named objects (`targets`, in the scope's namespace), or with none the objects
/// of `kinds` the scope's selector picks (in its namespace or all).
pub async fn recheck(
    client: &Client,
    scope: &Scope,
    targets: &[(Kind, String)],
    kinds: &[Kind],
) -> Result<Vec<Rechecked>, Error> {
    let value = jiff::Timestamp::now()
        .round(jiff::Unit::Millisecond)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .to_string();
    let mut picked: Vec<(Kind, String, String)> = targets
        .iter()
        .map(|(k, n)| (*k, scope.namespace.clone(), n.clone()))
        .collect();
    if targets.is_empty() {
        if scope.selector.is_none() {
            return Err(Error::Usage(
                "name the objects (ia/NAME wkc/NAME ...) or select them with -l".into(),
            ));
        }
        for &k in kinds {
            for o in scope.list(client, k).await? {
                picked.push((k, o.namespace().unwrap_or_default(), o.name_any()));
            }
        }
    }
    let patch = json!({"metadata": {"annotations": {RECHECK_ANNOTATION: value}}});
    let mut done = Vec::new();
    for (kind, ns, name) in picked {
        let api = Scope {
            namespace: ns.clone(),
            ..Default::default()
        }
        .api(client, kind);
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(kube(format!("annotating {}/{name} in {ns}", kind.name())))?;
        done.push(Rechecked {
            namespace: ns,
            kind: kind.name(),
            name,
            value: value.clone(),
        });
    }
    Ok(done)
}

/// The table of what was annotated.
pub fn table(rows: &[Rechecked]) -> String {
    if rows.is_empty() {
        return "nothing selected".into();
    }
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.namespace.clone(),
                format!("{}/{}", r.kind.to_ascii_lowercase(), r.name),
                format!("recheck requested ({RECHECK_ANNOTATION}={})", r.value),
            ]
        })
        .collect();
    columns(&["NAMESPACE", "OBJECT", "DONE"], &rows)
}
