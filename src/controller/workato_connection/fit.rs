//! Pure: whether the connector can take the configured credentials (and which authentication
//! type every push sends), and whether the connection authenticates as the dedicated user.
//! Unit-tested in `plan/tests.rs`.

use crate::api::workato_connection::{ConnectorStatus, InputKeys, WorkatoConnection};
use crate::conditions::{Cond, reasons};
use crate::domain::connection::{configured_auth_type, credential_fields};
use crate::domain::connector::{Connector, ConnectorKind};

/// The connector fits: its condition and what status records (the authentication type pushes
/// send is in `status.auth_type`).
#[derive(Debug, PartialEq)]
pub struct Fit {
    /// `ConnectorCompatible=True`.
    pub cond: Cond,
    /// `status.connector`.
    pub status: ConnectorStatus,
}

/// Checks the connector against `spec.inputKeys` and `spec.authType`; `Err` is the refusal
/// (nothing is pushed).
pub fn fit(wc: &WorkatoConnection, c: &Connector) -> Result<Fit, Cond> {
    let provider = &c.provider;
    let (auth_field, auth_value) = configured_auth_type(wc);
    let mut status = ConnectorStatus {
        kind: match c.kind {
            ConnectorKind::Custom { .. } => "Custom".into(),
            _ => "Standard".into(),
        },
        custom_connector_id: match c.kind {
            ConnectorKind::Custom { id } => Some(id),
            _ => None,
        },
        oauth: c.oauth,
        fields: Vec::new(),
        auth_type: Some(format!("{auth_field}={auth_value}")),
    };
    let keys = wc.spec.input_keys.clone().unwrap_or_default();
    let needed = needed_fields(&keys);
    let Some(fields) = &c.fields else {
        if c.kind == ConnectorKind::Missing {
            return Err(Cond::false_(
                reasons::ConnectorCompatible::ConnectorNotFound,
                format!(
                    "Workato knows no connector {provider:?} in the workspace (neither a standard nor a custom connector): nothing is pushed; check spec.provider"
                ),
            ));
        }
        return Ok(Fit {
            cond: Cond::true_(
                reasons::ConnectorCompatible::FieldsNotPublished,
                format!(
                    "standard connector {provider}{}: Workato does not publish its connection fields, so {} and {auth_field}={auth_value} are sent as configured (spec.inputKeys, spec.authType)",
                    if c.oauth { " (described as OAuth)" } else { "" },
                    needed.join(", ")
                ),
            ),
            status,
        });
    };
    let names: Vec<String> = fields.iter().map(|f| f.name.clone()).collect();
    status.fields = names.clone();
    let missing: Vec<&String> = needed.iter().filter(|n| !names.contains(n)).collect();
    if !missing.is_empty() {
        let missing: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        return Err(Cond::false_(
            reasons::ConnectorCompatible::NoMatchingFields,
            format!(
                "connector {provider} declares the connection fields [{}], not [{}]: nothing is pushed; set spec.inputKeys to the connector's fields",
                names.join(", "),
                missing.join(", ")
            ),
        ));
    }
    match fields.iter().find(|f| f.name == auth_field) {
        None => status.auth_type = None,
        Some(f) if !f.options.is_empty() && !f.options.contains(&auth_value) => {
            return Err(Cond::false_(
                reasons::ConnectorCompatible::AuthTypeNotOffered,
                format!(
                    "connector {provider} offers the authentication types [{}] in {auth_field}, not {auth_value:?}: nothing is pushed; set spec.authType.value",
                    f.options.join(", ")
                ),
            ));
        }
        Some(_) => {}
    }
    let sent = status
        .auth_type
        .clone()
        .map(|t| format!(" and {t}"))
        .unwrap_or_else(|| " (it declares no authentication-type field, none is sent)".into());
    Ok(Fit {
        cond: Cond::true_(
            reasons::ConnectorCompatible::FieldsMatch,
            format!(
                "{} connector {provider} declares {}{sent}",
                status.kind.to_lowercase(),
                needed.join(", ")
            ),
        ),
        status,
    })
}

/// The fields the configured credentials fill.
fn needed_fields(keys: &InputKeys) -> Vec<String> {
    let (key_field, token_field) = credential_fields(keys);
    let mut out = vec![key_field, token_field];
    out.extend(keys.host.clone());
    out.extend(keys.account_id.clone());
    out
}

/// `DedicatedCredentials`: whether the connection authenticates as the dedicated API user.
/// `pushed`: the operator put the dedicated user's token on it; `live`: Workato's last test
/// passed.
pub fn dedicated(wc: &WorkatoConnection, id: i64, pushed: bool, live: bool) -> Cond {
    if pushed {
        return Cond::true_(
            reasons::DedicatedCredentials::AuthToken,
            format!(
                "connection {id} holds the auth token of IntegrationAccount {} (Auth Token type, not an employee's login; Verified says whether Workato's test passes)",
                wc.spec.integration_account_ref.name
            ),
        );
    }
    match wc.spec.migrate_from_oauth {
        Some(true) => Cond::false_(
            reasons::DedicatedCredentials::EmployeeBoundAuth,
            format!(
                "connection {id} is authorized by OAuth as an employee (spec.migrateFromOAuth; Workato shows neither the type nor who authorized it): it is migrated to the dedicated user's auth token in stages"
            ),
        ),
        Some(false) => Cond::false_(
            reasons::DedicatedCredentials::EmployeeBoundAuth,
            format!(
                "connection {id} is authorized by OAuth as an employee (spec.migrateFromOAuth) and breaks when that person leaves or changes their password; set spec.migrateFromOAuth: true to move it to the dedicated user in stages (its running recipes stop while it switches)"
            ),
        ),
        None if live => Cond::unknown(
            reasons::DedicatedCredentials::AuthNotShown,
            format!(
                "connection {id} holds credentials the operator did not put there, and Workato does not show whether they are OAuth (tied to an employee's login) or an auth token; if it is OAuth, set spec.migrateFromOAuth: true"
            ),
        ),
        None => Cond::unknown(
            reasons::DedicatedCredentials::AuthNotShown,
            format!("connection {id} has not received the dedicated user's credentials yet"),
        ),
    }
}
