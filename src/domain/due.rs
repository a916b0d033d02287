//! When an IntegrationAccount's rotation becomes due: its token's expiry, or the end of
//! `rotation.interval` after the token was first seen, each minus `rotation.renewBefore`. One
//! reading, for the reconciler (the `RotationDue` condition) and for the state metrics at scrape
//! time.

use std::time::Duration;

use jiff::Timestamp;

use crate::api::integration_account::{RotationPolicy, TokenStatus};
use crate::reconcile::{interval, signed};

/// Default `rotation.renewBefore`.
pub const DEFAULT_RENEW_BEFORE: Duration = Duration::from_secs(14 * 24 * 3600);

/// What makes a rotation due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DueBy {
    /// The token expires within `renewBefore`.
    Expiry,
    /// `rotation.interval` ends within `renewBefore`.
    Interval,
}

/// The effective `rotation.renewBefore` of `policy`: how long before the expiry (or the end of the
/// interval) the rotation becomes due.
pub fn renew_before(policy: Option<&RotationPolicy>) -> Duration {
    interval(
        policy.and_then(|p| p.renew_before.as_deref()),
        DEFAULT_RENEW_BEFORE,
    )
}

/// When the rotation of `token` becomes due under `policy`, and why: the earlier of the expiry
/// and the end of the interval, minus `renewBefore`. `None` when neither is known.
pub fn due_at(policy: Option<&RotationPolicy>, token: &TokenStatus) -> Option<(Timestamp, DueBy)> {
    let renew_before = signed(renew_before(policy));
    let by_expiry = token
        .expires_at
        .as_ref()
        .and_then(|e| e.0.checked_sub(renew_before).ok());
    let every = policy.and_then(|p| p.interval.as_deref());
    let by_interval = every.and_then(|_| {
        let every = signed(interval(every, Duration::ZERO));
        token
            .first_seen_time
            .as_ref()
            .and_then(|f| f.0.checked_add(every).ok())
            .and_then(|d| d.checked_sub(renew_before).ok())
    });
    match (by_expiry, by_interval) {
        (Some(a), Some(b)) if a <= b => Some((a, DueBy::Expiry)),
        (Some(_), Some(b)) => Some((b, DueBy::Interval)),
        (Some(a), None) => Some((a, DueBy::Expiry)),
        (None, Some(b)) => Some((b, DueBy::Interval)),
        (None, None) => None,
    }
}

/// Since when the rotation of a valid `token` has been due at `now`, if it is.
pub fn due_since(policy: Option<&RotationPolicy>, token: &TokenStatus, now: Timestamp) -> Option<Timestamp> {
    due_at(policy, token).map(|(at, _)| at).filter(|at| *at <= now)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;

    fn at(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    #[test]
    fn the_earlier_of_expiry_and_interval_minus_renew_before() {
        let token = TokenStatus {
            expires_at: Some(at("2030-03-01T00:00:00Z")),
            first_seen_time: Some(at("2030-01-01T00:00:00Z")),
            ..Default::default()
        };
        assert_eq!(
            due_at(None, &token),
            Some(("2030-02-15T00:00:00Z".parse().unwrap(), DueBy::Expiry))
        );
        let policy = RotationPolicy {
            interval: Some("240h".into()),
            renew_before: Some("24h".into()),
            ..Default::default()
        };
        assert_eq!(
            due_at(Some(&policy), &token),
            Some(("2030-01-10T00:00:00Z".parse().unwrap(), DueBy::Interval))
        );
        assert_eq!(renew_before(Some(&policy)), Duration::from_secs(86_400));
        assert_eq!(renew_before(None), DEFAULT_RENEW_BEFORE);
        assert_eq!(due_at(None, &TokenStatus::default()), None);
        let now = "2030-01-11T00:00:00Z".parse().unwrap();
        assert_eq!(
            due_since(Some(&policy), &token, now),
            Some("2030-01-10T00:00:00Z".parse().unwrap())
        );
        assert_eq!(due_since(None, &token, now), None);
    }
}
