//! The operator's kinds as the plugin names them: `ia/sf`, `integrationaccount/sf`,
//! `integrationaccounts.integrations.trackvia-operator.dev/sf`, or a bare name with `--kind`.

use kube::Resource;
use kube::core::ApiResource;

use crate::api::{
    CredentialRotation, IntegrationAccount, TrackViaAccount, WorkatoConnection, WorkatoWorkspace,
};

/// One of the operator's kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `tva`
    TrackViaAccount,
    /// `wkws`
    WorkatoWorkspace,
    /// `ia`
    IntegrationAccount,
    /// `wkc`
    WorkatoConnection,
    /// `rot`
    CredentialRotation,
}

impl Kind {
    /// Every kind, in the order the plugin lists them.
    pub const ALL: [Kind; 5] = [
        Kind::TrackViaAccount,
        Kind::WorkatoWorkspace,
        Kind::IntegrationAccount,
        Kind::WorkatoConnection,
        Kind::CredentialRotation,
    ];

    /// The kind's API resource (group, version, plural).
    pub fn resource(self) -> ApiResource {
        match self {
            Kind::TrackViaAccount => ApiResource::erase::<TrackViaAccount>(&()),
            Kind::WorkatoWorkspace => ApiResource::erase::<WorkatoWorkspace>(&()),
            Kind::IntegrationAccount => ApiResource::erase::<IntegrationAccount>(&()),
            Kind::WorkatoConnection => ApiResource::erase::<WorkatoConnection>(&()),
            Kind::CredentialRotation => ApiResource::erase::<CredentialRotation>(&()),
        }
    }

    /// The kind's name (`IntegrationAccount`).
    pub fn name(self) -> String {
        match self {
            Kind::TrackViaAccount => TrackViaAccount::kind(&()).into_owned(),
            Kind::WorkatoWorkspace => WorkatoWorkspace::kind(&()).into_owned(),
            Kind::IntegrationAccount => IntegrationAccount::kind(&()).into_owned(),
            Kind::WorkatoConnection => WorkatoConnection::kind(&()).into_owned(),
            Kind::CredentialRotation => CredentialRotation::kind(&()).into_owned(),
        }
    }

    fn short(self) -> &'static str {
        match self {
            Kind::TrackViaAccount => "tva",
            Kind::WorkatoWorkspace => "wkws",
            Kind::IntegrationAccount => "ia",
            Kind::WorkatoConnection => "wkc",
            Kind::CredentialRotation => "rot",
        }
    }

    /// The kind `s` names: short name, kind, singular or plural, with or without the group.
    pub fn parse(s: &str) -> Option<Kind> {
        let s = s.to_ascii_lowercase();
        let bare = s
            .strip_suffix(&format!(".{}", crate::api::common::GROUP))
            .unwrap_or(&s);
        Kind::ALL.into_iter().find(|k| {
            let r = k.resource();
            bare == k.short() || bare == k.name().to_ascii_lowercase() || bare == r.plural
        })
    }
}

/// `kind/name` or, with `default`, a bare `name`.
pub fn target(s: &str, default: Option<Kind>) -> Result<(Kind, String), String> {
    match (s.split_once('/'), default) {
        (Some((k, name)), _) => Kind::parse(k)
            .map(|k| (k, name.to_owned()))
            .ok_or_else(|| format!("{k:?} is not a kind of this operator (ia, wkc, tva, wkws, rot)")),
        (None, Some(k)) => Ok((k, s.to_owned())),
        (None, None) => Err(format!(
            "{s:?}: name the kind, as in ia/{s} or wkc/{s}, or pass --kind"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_named_as_kubectl_names_them() {
        assert_eq!(Kind::parse("ia"), Some(Kind::IntegrationAccount));
        assert_eq!(Kind::parse("WorkatoConnection"), Some(Kind::WorkatoConnection));
        assert_eq!(Kind::parse("credentialrotations"), Some(Kind::CredentialRotation));
        assert_eq!(
            Kind::parse("trackviaaccounts.integrations.trackvia-operator.dev"),
            Some(Kind::TrackViaAccount)
        );
        assert_eq!(Kind::parse("pods"), None);
        assert_eq!(target("wkc/x", None), Ok((Kind::WorkatoConnection, "x".into())));
        assert_eq!(
            target("x", Some(Kind::WorkatoWorkspace)),
            Ok((Kind::WorkatoWorkspace, "x".into()))
        );
        assert!(target("x", None).is_err());
    }
}
