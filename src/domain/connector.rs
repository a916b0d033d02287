//! The connector a WorkatoConnection's provider names, as Workato describes it, read before the
//! first push (cached per workspace and provider, within the connectors budget):
//! - a **standard** connector (`GET /api/integrations?applications=`): its name and whether it
//!   uses OAuth. Workato does not publish a standard connector's connection fields there, so
//!   the configured `inputKeys` and authentication type are used as they are;
//! - a **custom** connector (`GET /api/custom_connectors`, then its code): the code declares its
//!   connection fields, which the configured keys must match.
//!
//! Facts and sources: docs/vendors.md#workato-trackvia-connector; choices: docs/decisions.md.

use crate::workato::{WorkatoApi, WorkatoError};

/// Where the connector comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectorKind {
    /// One of Workato's standard connectors.
    Standard,
    /// A custom connector of the workspace.
    Custom {
        /// Its id.
        id: i64,
    },
    /// Workato knows no connector of that name in the workspace.
    Missing,
}

/// A connection field a connector declares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// Its name in the connection's `input`.
    pub name: String,
    /// The values of its pick list, if it has one (e.g. the authentication types).
    pub options: Vec<String>,
}

/// What the operator knows of a connector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connector {
    /// Provider name.
    pub provider: String,
    /// Standard, custom or missing.
    pub kind: ConnectorKind,
    /// Whether Workato describes it as OAuth (standard) or its code declares OAuth (custom).
    pub oauth: bool,
    /// The connection fields it declares; `None` when Workato does not publish them.
    pub fields: Option<Vec<Field>>,
}

/// Looks the provider up: a standard connector first (one call), then the custom connectors
/// (two calls). The code of a custom connector is read, parsed for its fields and dropped: it is
/// never logged or stored.
pub async fn discover(api: &impl WorkatoApi, provider: &str) -> Result<Connector, WorkatoError> {
    let standard = api.standard_connectors(provider).await?;
    if let Some(s) = standard.into_iter().find(|s| s.name == provider) {
        return Ok(Connector {
            provider: provider.to_owned(),
            kind: ConnectorKind::Standard,
            oauth: s.oauth,
            fields: None,
        });
    }
    let custom = api.custom_connectors().await?;
    let Some(c) = custom.into_iter().find(|c| c.name == provider) else {
        return Ok(Connector {
            provider: provider.to_owned(),
            kind: ConnectorKind::Missing,
            oauth: false,
            fields: None,
        });
    };
    let code = api.custom_connector_code(c.id).await?;
    let block = connection_block(&code).unwrap_or_default();
    Ok(Connector {
        provider: provider.to_owned(),
        kind: ConnectorKind::Custom { id: c.id },
        oauth: block.contains("oauth2"),
        fields: Some(fields_in(block)),
    })
}

/// The `connection: { … }` block of a connector's code (Workato connector SDK, Ruby).
fn connection_block(code: &str) -> Option<&str> {
    let start = code.find("connection:")?;
    let open = start + code[start..].find('{')?;
    let mut depth = 0usize;
    for (i, ch) in code[open..].char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(&code[open..=open + i]);
                }
            }
            _ => {}
        }
    }
    Some(&code[open..])
}

/// Every field hash in a connection block: `name: 'x'` / `name: "x"` / `name: :x` /
/// `'name' => 'x'`, with the pick-list values that follow it (`['Label', 'value']` pairs)
/// before the next field.
fn fields_in(block: &str) -> Vec<Field> {
    let mut starts: Vec<(usize, String)> = Vec::new();
    for key in ["name:", "'name' =>", "\"name\" =>"] {
        let mut from = 0;
        while let Some(at) = block[from..].find(key) {
            let pos = from + at;
            from = pos + key.len();
            // `name:` must be a key of its own, not the end of `display_name:`.
            let preceded = block[..pos].chars().next_back();
            if preceded.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            if let Some(name) = value_at(&block[from..]) {
                starts.push((pos, name));
            }
        }
    }
    starts.sort_by_key(|(pos, _)| *pos);
    let mut out: Vec<Field> = Vec::new();
    for (i, (pos, name)) in starts.iter().enumerate() {
        let end = starts.get(i + 1).map_or(block.len(), |(next, _)| *next);
        let options = pairs_in(&block[*pos..end]);
        if !out.iter().any(|f| &f.name == name) {
            out.push(Field {
                name: name.clone(),
                options,
            });
        }
    }
    out
}

/// A quoted string or a `:symbol` at the start of `s` (after spaces).
fn value_at(s: &str) -> Option<String> {
    let s = s.trim_start();
    let mut chars = s.chars();
    match chars.next()? {
        q @ ('\'' | '"') => {
            let rest = &s[1..];
            rest.find(q).map(|end| rest[..end].to_owned())
        }
        ':' => {
            let name: String = chars.take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            (!name.is_empty()).then_some(name)
        }
        _ => None,
    }
}

/// The second element of every `['Label', 'value']` pair in `s`.
fn pairs_in(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = s[from..].find('[') {
        let open = from + at + 1;
        from = open;
        let Some(close) = s[open..].find(']') else { break };
        let inner = &s[open..open + close];
        let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
        if let [label, value] = parts.as_slice()
            && let (Some(_), Some(v)) = (value_at(label), value_at(value))
        {
            out.push(v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODE: &str = r#"
{
  title: 'TrackVia (custom)',
  connection: {
    fields: [
      { name: 'auth_type', control_type: 'select', pick_list: [['OAuth 2.0', 'oauth'], ['Auth token', 'auth_token']] },
      { name: "user_key", label: 'API key', control_type: 'password' },
      { name: :access_token, display_name: 'x', optional: false },
      { 'name' => 'custom_domain', hint: 'go.trackvia.com' }
    ],
    authorization: { type: 'custom_auth', apply: lambda { |c| params(user_key: c['user_key']) } }
  },
  test: lambda { |c| get('/openapi/views') },
  actions: { search: { input_fields: lambda { [{ name: 'not_a_connection_field' }] } } }
}
"#;

    #[test]
    fn the_connection_block_declares_its_fields_and_pick_lists() {
        let block = connection_block(CODE).unwrap();
        let fields = fields_in(block);
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["auth_type", "user_key", "access_token", "custom_domain"]);
        assert_eq!(fields[0].options, ["oauth", "auth_token"]);
        assert!(fields[1].options.is_empty());
        assert!(!block.contains("oauth2"));
    }

    #[test]
    fn code_without_a_connection_block_declares_nothing() {
        assert!(connection_block("{ title: 'x', actions: {} }").is_none());
        assert!(fields_in("").is_empty());
    }
}
