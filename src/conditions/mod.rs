//! Conditions per Kubernetes API conventions: one `Ready` summary plus specific types, stable
//! one-word reasons, `observedGeneration`, and `lastTransitionTime` that moves only when the
//! status flips. A condition's status (True/False/Unknown) says what is the case; whether that
//! is healthy depends on its type ([`abnormal`]).

pub mod reasons;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::Condition;

pub use reasons::Reason;

/// Condition types.
pub mod types {
    /// Summary: everything below that applies is satisfied.
    pub const READY: &str = "Ready";
    /// The admin or API credentials were accepted.
    pub const CREDENTIALS_VALID: &str = "CredentialsValid";
    /// The TrackVia user exists and accepted its invitation.
    pub const USER_VERIFIED: &str = "UserVerified";
    /// A token is in the token Secret.
    pub const TOKEN_PROVIDED: &str = "TokenProvided";
    /// TrackVia accepts the token.
    pub const TOKEN_VALID: &str = "TokenValid";
    /// The token reaches exactly the apps and views in `spec.access`.
    pub const ACCESS_SCOPED: &str = "AccessScoped";
    /// The credentials Secret holds the current credentials.
    pub const CREDENTIALS_PUBLISHED: &str = "CredentialsPublished";
    /// The token should be rotated now.
    pub const ROTATION_DUE: &str = "RotationDue";
    /// The email follows `<system>.integration@…` (a warning only).
    pub const NAMING_CONVENTION: &str = "NamingConvention";
    /// The workspace and the TrackVia account are in the same environment.
    pub const ENVIRONMENT_MATCHED: &str = "EnvironmentMatched";
    /// The Workato connection is known (adopted, found or created).
    pub const CONNECTION_FOUND: &str = "ConnectionFound";
    /// Workato's last test of the connection succeeded.
    pub const VERIFIED: &str = "Verified";
    /// The connection holds the credentials currently published.
    pub const CREDENTIALS_CURRENT: &str = "CredentialsCurrent";
    /// The connector declares fields the configured credentials fill.
    pub const CONNECTOR_COMPATIBLE: &str = "ConnectorCompatible";
    /// The connection authenticates as the dedicated API user, not as an employee.
    pub const DEDICATED_CREDENTIALS: &str = "DedicatedCredentials";
    /// No dependent recipe was stopped by Workato.
    pub const RECIPES_HEALTHY: &str = "RecipesHealthy";
    /// A rotation is in progress (its step is the reason).
    pub const ROTATING: &str = "Rotating";
    /// The replaced token is rejected by TrackVia.
    pub const OLD_TOKEN_REVOKED: &str = "OldTokenRevoked";
    /// Every recipe a rotation stopped runs again.
    pub const RECIPES_RESTARTED: &str = "RecipesRestarted";
}

/// Whether a condition's status is the bad one. Most types are good when `True`; `RotationDue`
/// says something is due when `True` and is fine when `False`; `Rotating` reports progress and is
/// never bad. `Unknown` is never bad: it waits for something.
pub fn abnormal(c: &Condition) -> bool {
    match c.type_.as_str() {
        types::ROTATION_DUE => c.status == "True",
        types::ROTATING => false,
        _ => c.status == "False",
    }
}

/// Condition status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// `True`.
    True,
    /// `False`.
    False,
    /// `Unknown`: not evaluated yet, or blocked on an earlier step.
    Unknown,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
        }
    }
}

/// A condition as a reconciler decides it, before timestamps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cond {
    /// Type, from [`types`].
    pub type_: &'static str,
    /// Status.
    pub status: Status,
    /// One PascalCase word of the type's [`reasons`].
    pub reason: &'static str,
    /// For people: what is the case and, when not fine, what to do.
    pub message: String,
}

impl Cond {
    /// A condition of `reason`'s type with `status`.
    pub fn new<R: Reason>(status: Status, reason: R, message: impl Into<String>) -> Self {
        Self {
            type_: R::TYPE,
            status,
            reason: reason.as_str(),
            message: message.into(),
        }
    }
    /// Status `True`.
    pub fn true_<R: Reason>(reason: R, message: impl Into<String>) -> Self {
        Self::new(Status::True, reason, message)
    }
    /// Status `False`.
    pub fn false_<R: Reason>(reason: R, message: impl Into<String>) -> Self {
        Self::new(Status::False, reason, message)
    }
    /// Status `Unknown`.
    pub fn unknown<R: Reason>(reason: R, message: impl Into<String>) -> Self {
        Self::new(Status::Unknown, reason, message)
    }

    /// The condition of `R`'s type as it stands in a status, to carry it over unchanged; `None`
    /// when absent or written with a reason this version does not know (then it is decided anew).
    pub fn carried<R: Reason>(conditions: &[Condition]) -> Option<Self> {
        let c = find(conditions, R::TYPE)?;
        let status = match c.status.as_str() {
            "True" => Status::True,
            "False" => Status::False,
            _ => Status::Unknown,
        };
        Some(Self::new(status, R::parse(&c.reason)?, c.message.clone()))
    }

    /// Whether the status is `True`.
    pub fn is_true(&self) -> bool {
        self.status == Status::True
    }

    /// Whether this is the condition `reason` names (its type and reason).
    pub fn is<R: Reason>(&self, reason: R) -> bool {
        self.type_ == R::TYPE && self.reason == reason.as_str()
    }
}

/// Whether a status condition carries `reason` (of its type).
pub fn has_reason<R: Reason>(conditions: &[Condition], reason: R) -> bool {
    find(conditions, R::TYPE).is_some_and(|c| c.reason == reason.as_str())
}

/// Event and message texts are capped (Kubernetes allows 1 kB notes; status messages stay short).
const MAX_MESSAGE: usize = 512;

/// The `Ready` summary of `conds` (in the order given: the first one not `True` explains it).
/// `ignore` lists types that never make an object unready (warnings).
pub fn ready(conds: &[Cond], ignore: &[&str], ok_message: &str) -> Cond {
    match conds.iter().find(|c| !c.is_true() && !ignore.contains(&c.type_)) {
        Some(c) => Cond {
            type_: types::READY,
            status: if c.status == Status::Unknown {
                Status::Unknown
            } else {
                Status::False
            },
            reason: c.reason,
            message: c.message.clone(),
        },
        None => Cond::true_(reasons::Ready::Ready, ok_message),
    }
}

/// Builds the status conditions from the decided ones: keeps `lastTransitionTime` from `existing`
/// unless the status changed, stamps `observedGeneration`.
pub fn merge(
    existing: &[Condition],
    decided: &[Cond],
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    decided
        .iter()
        .map(|d| {
            let previous = existing.iter().find(|c| c.type_ == d.type_);
            let transition = match previous {
                Some(p) if p.status == d.status.as_str() => p.last_transition_time.clone(),
                _ => now.clone(),
            };
            Condition {
                type_: d.type_.into(),
                status: d.status.as_str().into(),
                reason: d.reason.into(),
                message: crate::external::http::trim_message(&d.message, MAX_MESSAGE),
                observed_generation: generation,
                last_transition_time: transition,
            }
        })
        .collect()
}

/// The conditions whose status or reason differ from `existing`: each deserves an event.
pub fn transitions<'a>(existing: &[Condition], merged: &'a [Condition]) -> Vec<&'a Condition> {
    merged
        .iter()
        .filter(|m| {
            existing
                .iter()
                .find(|e| e.type_ == m.type_)
                .is_none_or(|e| e.status != m.status || e.reason != m.reason)
        })
        .collect()
}

/// Whether `Ready` turned `True` between `existing` and `merged` (then its Event tells the step
/// that made it so, which needs no Event of its own).
pub fn turned_ready(existing: &[Condition], merged: &[Condition]) -> bool {
    transitions(existing, merged)
        .iter()
        .any(|c| c.type_ == types::READY && c.status == "True")
}

/// The current condition of a type, if present.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::reasons::{self, AccessScoped, RotationDue, TokenValid, UserVerified};
    use super::*;
    use crate::api::credential_rotation::{RotationOutcome, RotationPhase};

    fn t(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    #[test]
    fn ready_turns_true_only_on_its_own_transition_to_true() {
        let now = t("2026-01-01T00:00:00Z");
        let expired = Cond::false_(TokenValid::TokenExpired, "m");
        let unready = merge(
            &[],
            &[expired.clone(), ready(&[expired], &[], "ok")],
            Some(1),
            &now,
        );
        let ready_now = merge(
            &unready,
            &[Cond::true_(TokenValid::Valid, "m"), ready(&[], &[], "ok")],
            Some(1),
            &now,
        );
        assert!(turned_ready(&unready, &ready_now));
        assert!(turned_ready(&[], &ready_now), "a first Ready True counts");
        assert!(!turned_ready(&ready_now, &ready_now), "already Ready");
        assert!(!turned_ready(&ready_now, &unready), "turned False");
    }

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let first = merge(
            &[],
            &[Cond::false_(TokenValid::TokenExpired, "m")],
            Some(1),
            &t("2026-01-01T00:00:00Z"),
        );
        let same = merge(
            &first,
            &[Cond::false_(TokenValid::TokenInvalid, "other")],
            Some(2),
            &t("2026-01-02T00:00:00Z"),
        );
        assert_eq!(same[0].last_transition_time, t("2026-01-01T00:00:00Z"));
        assert_eq!(same[0].observed_generation, Some(2));
        let flipped = merge(
            &same,
            &[Cond::true_(TokenValid::Valid, "m")],
            Some(2),
            &t("2026-01-03T00:00:00Z"),
        );
        assert_eq!(flipped[0].last_transition_time, t("2026-01-03T00:00:00Z"));
        assert_eq!(transitions(&same, &flipped).len(), 1);
        assert!(transitions(&flipped, &flipped).is_empty());
    }

    #[test]
    fn ready_is_explained_by_the_first_unmet_condition() {
        let conds = [
            Cond::true_(UserVerified::Verified, ""),
            Cond::false_(reasons::NamingConvention::NonConventionalEmail, "just a warning"),
            Cond::unknown(TokenValid::Pending, "waiting for the token"),
            Cond::false_(AccessScoped::MissingAccess, "broke"),
        ];
        let r = ready(&conds, &[types::NAMING_CONVENTION], "all good");
        assert_eq!(
            (r.status, r.reason, r.message.as_str()),
            (Status::Unknown, "Pending", "waiting for the token")
        );
        let r = ready(&conds[..2], &[types::NAMING_CONVENTION], "all good");
        assert_eq!((r.status, r.reason), (Status::True, "Ready"));
    }

    #[test]
    fn health_depends_on_the_type_not_on_the_constructor() {
        let stamped = |c: Cond| merge(&[], &[c], None, &t("2026-01-01T00:00:00Z")).remove(0);
        assert!(!abnormal(&stamped(Cond::false_(RotationDue::NotDue, "fine"))));
        assert!(abnormal(&stamped(Cond::true_(RotationDue::ExpiresSoon, "due"))));
        assert!(!abnormal(&stamped(Cond::false_(
            reasons::Rotating::Succeeded,
            "finished"
        ))));
        assert!(abnormal(&stamped(Cond::false_(
            TokenValid::TokenExpired,
            "expired"
        ))));
        assert!(!abnormal(&stamped(Cond::unknown(TokenValid::Pending, "waiting"))));
    }

    #[test]
    fn a_carried_condition_keeps_a_known_reason_and_drops_an_unknown_one() {
        let stamped = merge(
            &[],
            &[Cond::false_(TokenValid::TokenExpired, "m")],
            None,
            &t("2026-01-01T00:00:00Z"),
        );
        let c = Cond::carried::<TokenValid>(&stamped).unwrap();
        assert!(c.is(TokenValid::TokenExpired) && c.status == Status::False);
        let mut foreign = stamped.clone();
        foreign[0].reason = "WrittenByAnotherVersion".into();
        assert_eq!(Cond::carried::<TokenValid>(&foreign), None);
    }

    #[test]
    fn every_phase_and_outcome_is_a_reason_of_rotating_and_every_outcome_of_ready() {
        // A unit enum's schema lists its values under `enum`, or one `const`/`enum` per
        // documented variant under `oneOf`.
        fn names(v: &serde_json::Value) -> Vec<String> {
            let mut out: Vec<String> = Vec::new();
            for key in ["enum", "const"] {
                match &v[key] {
                    serde_json::Value::Array(a) => {
                        out.extend(a.iter().filter_map(|s| s.as_str().map(str::to_owned)))
                    }
                    serde_json::Value::String(s) => out.push(s.clone()),
                    _ => {}
                }
            }
            for sub in v["oneOf"].as_array().into_iter().flatten() {
                out.extend(names(sub));
            }
            out
        }
        let phases = names(&serde_json::to_value(schemars::schema_for!(RotationPhase)).unwrap());
        let outcomes = names(&serde_json::to_value(schemars::schema_for!(RotationOutcome)).unwrap());
        assert!(
            phases.len() >= 15 && outcomes.len() >= 15,
            "{phases:?} {outcomes:?}"
        );
        let terminal = ["Succeeded", "Failed", "Aborted"];
        for p in phases.iter().filter(|p| !terminal.contains(&p.as_str())) {
            assert!(reasons::Rotating::parse(p).is_some(), "phase {p}");
        }
        for o in &outcomes {
            assert!(reasons::Rotating::parse(o).is_some(), "outcome {o}");
            assert!(reasons::Ready::parse(o).is_some(), "outcome {o}");
        }
    }

    /// Every reason in the code is documented in docs/conditions.md, in a table row of its
    /// condition type (a row whose first cell names the type, or an empty first cell under it).
    #[test]
    fn every_reason_is_documented_under_its_condition_type() {
        let doc = include_str!("../../docs/conditions.md");
        let mut documented: Vec<(String, String)> = Vec::new();
        let mut current = String::new();
        for line in doc.lines().filter(|l| l.starts_with('|')) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let (Some(first), Some(rest)) = (cells.get(1), cells.get(2..)) else {
                continue;
            };
            if let Some(ty) = first.strip_prefix('`').and_then(|t| t.strip_suffix('`')) {
                current = ty.to_owned();
            } else if !first.is_empty() {
                current.clear();
            }
            for word in rest.join(" ").split('`').skip(1).step_by(2) {
                documented.push((current.clone(), word.to_owned()));
            }
        }
        let mut missing = Vec::new();
        for (ty, rs) in reasons::all() {
            for r in rs {
                if !documented.iter().any(|(t, w)| t == ty && w == r) {
                    missing.push(format!("{ty}/{r}"));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "reasons not documented in docs/conditions.md: {missing:?}"
        );
    }
}
