//! Where the plugin looks and how it prints: one namespace or all (`-A`), a label selector
//! (`-l`), and a human table, JSON or YAML (`-o`).

use kube::Client;
use kube::api::{Api, DynamicObject, ListParams};
use serde::Serialize;

use super::kinds::Kind;
use super::{Error, kube};

/// Which objects a command looks at.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// The namespace (the kubeconfig's unless `-n`).
    pub namespace: String,
    /// Every namespace (`-A`).
    pub all_namespaces: bool,
    /// Label selector (`-l`).
    pub selector: Option<String>,
}

impl Scope {
    /// The API of `kind` in the scope's namespace, or in every namespace.
    pub fn api(&self, client: &Client, kind: Kind) -> Api<DynamicObject> {
        let r = kind.resource();
        if self.all_namespaces {
            Api::all_with(client.clone(), &r)
        } else {
            Api::namespaced_with(client.clone(), &self.namespace, &r)
        }
    }

    /// The objects of `kind` in scope.
    pub async fn list(&self, client: &Client, kind: Kind) -> Result<Vec<DynamicObject>, Error> {
        let mut lp = ListParams::default();
        if let Some(s) = &self.selector {
            lp = lp.labels(s);
        }
        let list = self
            .api(client, kind)
            .list(&lp)
            .await
            .map_err(kube(format!("listing {}s", kind.name())))?;
        Ok(list.items)
    }
}

/// How a command prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Output {
    /// A table for people.
    #[default]
    Table,
    /// A JSON array.
    Json,
    /// A YAML list.
    Yaml,
}

impl Output {
    /// Parses `-o`.
    pub fn parse(s: &str) -> Result<Output, String> {
        match s {
            "table" | "wide" => Ok(Output::Table),
            "json" => Ok(Output::Json),
            "yaml" => Ok(Output::Yaml),
            other => Err(format!("unknown output format {other:?} (table, json, yaml)")),
        }
    }

    /// `rows` as JSON or YAML, or through `table` for people.
    pub fn render<T: Serialize>(
        self,
        rows: &[T],
        table: impl FnOnce(&[T]) -> String,
    ) -> Result<String, Error> {
        match self {
            Output::Table => Ok(table(rows)),
            Output::Json => serde_json::to_string_pretty(rows).map_err(|e| Error::Output(e.to_string())),
            Output::Yaml => serde_saphyr::to_string(&rows).map_err(|e| Error::Output(e.to_string())),
        }
    }
}

/// Left-aligned columns, a header first.
pub fn columns(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(widths.len().saturating_sub(1)) {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 < cells.len() {
                out.push_str(&format!("{c:<w$}   ", w = widths[i]));
            } else {
                out.push_str(c);
            }
        }
        out.trim_end().to_owned()
    };
    let mut out = line(header.iter().map(|h| (*h).to_owned()).collect());
    for r in rows {
        out.push('\n');
        out.push_str(&line(r.clone()));
    }
    out
}
