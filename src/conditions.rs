//! Conditions per Kubernetes API conventions: one `Ready` summary plus specific types, stable
//! one-word reasons, `observedGeneration`, and `lastTransitionTime` that moves only when the
//! status flips.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

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
    /// No dependent recipe was stopped by Workato.
    pub const RECIPES_HEALTHY: &str = "RecipesHealthy";
    /// A rotation is in progress (its step is the reason).
    pub const ROTATING: &str = "Rotating";
    /// The replaced token is rejected by TrackVia.
    pub const OLD_TOKEN_REVOKED: &str = "OldTokenRevoked";
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
    /// One PascalCase word (a constant; carried over from status when a step is not re-run).
    pub reason: Cow<'static, str>,
    /// For people: what is the case and, when not fine, what to do.
    pub message: String,
}

impl Cond {
    /// `True`.
    pub fn ok(type_: &'static str, reason: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            type_,
            status: Status::True,
            reason: reason.into(),
            message: message.into(),
        }
    }
    /// `False`.
    pub fn fail(
        type_: &'static str,
        reason: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status: Status::False,
            reason: reason.into(),
            message: message.into(),
        }
    }
    /// `Unknown`.
    pub fn unknown(
        type_: &'static str,
        reason: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status: Status::Unknown,
            reason: reason.into(),
            message: message.into(),
        }
    }

    /// The condition as it stands in a status (to carry it over unchanged).
    pub fn from_status(type_: &'static str, c: &Condition) -> Self {
        let status = match c.status.as_str() {
            "True" => Status::True,
            "False" => Status::False,
            _ => Status::Unknown,
        };
        Self {
            type_,
            status,
            reason: Cow::Owned(c.reason.clone()),
            message: c.message.clone(),
        }
    }
    /// Whether the status is `True`.
    pub fn is_true(&self) -> bool {
        self.status == Status::True
    }
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
            reason: c.reason.clone(),
            message: c.message.clone(),
        },
        None => Cond::ok(types::READY, "Ready", ok_message),
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
                type_: d.type_.to_owned(),
                status: d.status.as_str().to_owned(),
                reason: d.reason.to_string(),
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

/// The current condition of a type, if present.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let first = merge(
            &[],
            &[Cond::fail("A", "X", "m")],
            Some(1),
            &t("2026-01-01T00:00:00Z"),
        );
        let same = merge(
            &first,
            &[Cond::fail("A", "Y", "other")],
            Some(2),
            &t("2026-01-02T00:00:00Z"),
        );
        assert_eq!(same[0].last_transition_time, t("2026-01-01T00:00:00Z"));
        assert_eq!(same[0].observed_generation, Some(2));
        let flipped = merge(
            &same,
            &[Cond::ok("A", "Z", "m")],
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
            Cond::ok("A", "Fine", ""),
            Cond::fail("W", "Warn", "just a warning"),
            Cond::unknown("B", "Waiting", "waiting for B"),
            Cond::fail("C", "Broken", "C broke"),
        ];
        let r = ready(&conds, &["W"], "all good");
        assert_eq!(
            (r.status, r.reason.as_ref(), r.message.as_str()),
            (Status::Unknown, "Waiting", "waiting for B")
        );
        let r = ready(&conds[..2], &["W"], "all good");
        assert_eq!((r.status, r.reason.as_ref()), (Status::True, "Ready"));
    }
}
