//! The emulator's clock: wall-clock time plus an offset that the control API can advance
//! (used for token expiry and every timestamp the emulators report).

use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};

use super::sync::lock;

/// Wall-clock time shifted by an adjustable, never decreasing offset.
#[derive(Debug, Default)]
pub struct Clock {
    offset: Mutex<SignedDuration>,
}

impl Clock {
    /// The emulator's current time.
    pub fn now(&self) -> Timestamp {
        let offset = *lock(&self.offset);
        Timestamp::now().checked_add(offset).unwrap_or(Timestamp::MAX)
    }

    /// Moves the clock forward by `secs` seconds; returns the new time.
    pub fn advance(&self, secs: u64) -> Timestamp {
        {
            let mut offset = lock(&self.offset);
            let secs = i64::try_from(secs).unwrap_or(i64::MAX);
            *offset = offset.saturating_add(SignedDuration::from_secs(secs));
        }
        self.now()
    }

    /// How far the clock has been advanced, in whole seconds.
    pub fn offset_secs(&self) -> i64 {
        lock(&self.offset).as_secs()
    }
}

/// Formats a timestamp as RFC 3339 in UTC with millisecond precision
/// (`2024-06-01T12:00:00.000Z`).
pub fn format_ts(ts: Timestamp) -> String {
    format!("{ts:.3}")
}

/// Serde helpers writing timestamps with [`format_ts`].
pub mod serde_ms {
    use jiff::Timestamp;
    use serde::Serializer;

    /// Serializes a timestamp.
    pub fn serialize<S: Serializer>(ts: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_ts(*ts))
    }

    /// Serializes an optional timestamp (`null` when absent).
    pub mod option {
        use jiff::Timestamp;
        use serde::Serializer;

        /// Serializes an optional timestamp.
        pub fn serialize<S: Serializer>(ts: &Option<Timestamp>, serializer: S) -> Result<S::Ok, S::Error> {
            match ts {
                Some(ts) => serializer.serialize_str(&super::super::format_ts(*ts)),
                None => serializer.serialize_none(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_milliseconds_in_utc() {
        let ts: Timestamp = "2024-06-01T12:00:00Z".parse().unwrap();
        assert_eq!(format_ts(ts), "2024-06-01T12:00:00.000Z");
        let ts: Timestamp = "2024-06-01T12:00:00.123456+02:00".parse().unwrap();
        assert_eq!(format_ts(ts), "2024-06-01T10:00:00.123Z");
    }

    #[test]
    fn advance_moves_now_forward() {
        let clock = Clock::default();
        let before = clock.now();
        let after = clock.advance(3600);
        assert!(after.duration_since(before) >= SignedDuration::from_secs(3600));
        assert_eq!(clock.offset_secs(), 3600);
    }
}
