//! The time, injected: tests move it forward instead of sleeping.
//!
//! Times are whole UTC seconds. SQLite stores them as RFC 3339 text, which then sorts and compares
//! correctly as text (a fractional part, whose trailing zeros are trimmed, would not).

use std::sync::atomic::{AtomicI64, Ordering};

use time::{Duration, OffsetDateTime};

#[derive(Debug, Default)]
pub struct Clock {
    offset_seconds: AtomicI64,
}

impl Clock {
    pub fn now(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc() + Duration::seconds(self.offset_seconds.load(Ordering::Relaxed));
        now.replace_nanosecond(0).unwrap_or(now)
    }

    /// Moves this clock forward (tests only need this; production never calls it).
    pub fn advance(&self, by: Duration) {
        self.offset_seconds.fetch_add(by.whole_seconds(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_seconds_and_advancing() {
        let clock = Clock::default();
        let a = clock.now();
        assert_eq!(a.nanosecond(), 0);
        clock.advance(Duration::hours(2));
        assert!(clock.now() - a >= Duration::hours(2));
    }
}
