//! The maintenance window of an IntegrationAccount: whether a moment falls in it, and until when
//! a scheduled rotation started in it waits for a person's approval.

use std::time::Duration;

use jiff::Timestamp;

use crate::api::integration_account::MaintenanceWindow;
use crate::reconcile::{interval, signed};

/// How long a scheduled rotation may wait for a person's approval when the account has no
/// maintenance window, and how long an unanswered one keeps the schedule from starting another.
pub const UNWINDOWED_APPROVAL: Duration = Duration::from_secs(24 * 3600);

/// Whether `now` (UTC) falls in the maintenance window (always, without one).
pub fn in_window(window: Option<&MaintenanceWindow>, now: Timestamp) -> bool {
    window.is_none_or(|w| occurrence(w, now).is_some())
}

/// Until when a scheduled rotation created at `created` waits for approval: the end of the
/// maintenance window it started in, or [`UNWINDOWED_APPROVAL`] without a window. Also the time
/// before which the schedule starts no other rotation once such a rotation ended unsuccessfully
/// (an unanswered rotation does not come back before the next window).
pub fn approval_deadline(window: Option<&MaintenanceWindow>, created: Timestamp) -> Timestamp {
    window
        .and_then(|w| occurrence(w, created))
        .map(|(_, end)| end)
        .unwrap_or_else(|| {
            created
                .checked_add(signed(UNWINDOWED_APPROVAL))
                .unwrap_or(Timestamp::MAX)
        })
}

/// The start and end of the occurrence of the window that contains `t`, if any.
fn occurrence(w: &MaintenanceWindow, t: Timestamp) -> Option<(Timestamp, Timestamp)> {
    use crate::api::integration_account::Weekday;
    let (h, m) = w
        .start
        .split_once(':')
        .and_then(|(h, m)| Some((h.parse::<i8>().ok()?, m.parse::<i8>().ok()?)))?;
    let length = signed(interval(Some(&w.duration), Duration::ZERO));
    let today = t.to_zoned(jiff::tz::TimeZone::UTC).date();
    [today.yesterday().ok(), Some(today)]
        .into_iter()
        .flatten()
        .find_map(|day| {
            let weekday = match day.weekday() {
                jiff::civil::Weekday::Monday => Weekday::Mon,
                jiff::civil::Weekday::Tuesday => Weekday::Tue,
                jiff::civil::Weekday::Wednesday => Weekday::Wed,
                jiff::civil::Weekday::Thursday => Weekday::Thu,
                jiff::civil::Weekday::Friday => Weekday::Fri,
                jiff::civil::Weekday::Saturday => Weekday::Sat,
                jiff::civil::Weekday::Sunday => Weekday::Sun,
            };
            if !w.days.as_ref().is_none_or(|d| d.contains(&weekday)) {
                return None;
            }
            let start = day
                .at(h, m, 0, 0)
                .to_zoned(jiff::tz::TimeZone::UTC)
                .ok()?
                .timestamp();
            let end = start.checked_add(length).ok()?;
            (start <= t && t < end).then_some((start, end))
        })
}
