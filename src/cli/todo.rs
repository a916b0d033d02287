//! `todo`: the person's to-do list: every pending `status.nextAction` of IntegrationAccounts and
//! every object whose `Ready` is `False` (a step only a person can take, or a fault to look at),
//! one line per item.

use kube::api::DynamicObject;
use kube::{Client, ResourceExt};
use serde::Serialize;
use serde_json::Value;

use super::Error;
use super::kinds::Kind;
use super::scope::{Scope, columns};

/// One thing a person has to do.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Item {
    /// The object's namespace.
    pub namespace: String,
    /// Its kind.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// The `Ready` reason (or `NextAction`).
    pub reason: String,
    /// What to do.
    pub todo: String,
}

/// Every item of every kind in scope, sorted by namespace, kind and name.
pub async fn todo(client: &Client, scope: &Scope) -> Result<Vec<Item>, Error> {
    let mut items = Vec::new();
    for kind in Kind::ALL {
        for o in scope.list(client, kind).await? {
            items.extend(item(kind, &o));
        }
    }
    items.sort_by(|a, b| (&a.namespace, &a.kind, &a.name).cmp(&(&b.namespace, &b.kind, &b.name)));
    Ok(items)
}

/// What `o` asks of a person, if anything: its `nextAction`, else a `Ready` that is `False`.
pub fn item(kind: Kind, o: &DynamicObject) -> Option<Item> {
    let status = o.data.get("status")?;
    let ready = status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == crate::conditions::types::READY);
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let (reason, todo) = match (status["nextAction"].as_str(), ready) {
        (Some(next), r) if !next.is_empty() => (
            r.map(|c| text(&c["reason"]))
                .unwrap_or_else(|| "NextAction".into()),
            next.to_owned(),
        ),
        (_, Some(c)) if c["status"] == "False" => (text(&c["reason"]), text(&c["message"])),
        _ => return None,
    };
    Some(Item {
        namespace: o.namespace().unwrap_or_default(),
        kind: kind.name(),
        name: o.name_any(),
        reason,
        todo,
    })
}

/// One line per item.
pub fn table(items: &[Item]) -> String {
    if items.is_empty() {
        return "nothing to do".into();
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| {
            vec![
                i.namespace.clone(),
                format!("{}/{}", i.kind.to_ascii_lowercase(), i.name),
                i.reason.clone(),
                i.todo.clone(),
            ]
        })
        .collect();
    columns(&["NAMESPACE", "OBJECT", "REASON", "TO DO"], &rows)
}
