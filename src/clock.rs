//! The time, injected: tests move it forward instead of sleeping.
//!
//! Times are whole UTC seconds. SQLite stores them as RFC 3339 text, which then sorts and compares
//! correctly as text (a fractional part, whose trailing zeros are trimmed, would not).

use std::sync::atomic::{AtomicI64, Ordering};

use time::{Duration, OffsetDateTime};

#[derive(Debug, Default)]
pub struct Clock {
    offset_seconds: AtomicI64,
    /// When set (a Unix time), the clock stands still there until moved: for tests whose
    /// boundaries are one second wide, on machines slow enough for real seconds to pass.
    frozen_at: AtomicI64,
}

impl Clock {
    pub fn now(&self) -> OffsetDateTime {
        let frozen = self.frozen_at.load(Ordering::Relaxed);
        if frozen != 0 {
            let at = frozen + self.offset_seconds.load(Ordering::Relaxed);
            return OffsetDateTime::from_unix_timestamp(at).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        }
        let now = OffsetDateTime::now_utc() + Duration::seconds(self.offset_seconds.load(Ordering::Relaxed));
        now.replace_nanosecond(0).unwrap_or(now)
    }

    /// Moves this clock forward (tests only need this; production never calls it).
    pub fn advance(&self, by: Duration) {
        self.offset_seconds.fetch_add(by.whole_seconds(), Ordering::Relaxed);
    }

    /// Stops this clock where it is now; only `advance` moves it from then on (tests only).
    pub fn freeze(&self) {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        self.frozen_at.store(now, Ordering::Relaxed);
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

    #[test]
    fn a_frozen_clock_moves_only_when_told() {
        let clock = Clock::default();
        let before = clock.now();
        clock.freeze();
        let frozen = clock.now();
        assert!(frozen >= before);
        // Frozen in the past, it stays there whatever real time does.
        clock.frozen_at.store(1_000_000_000, Ordering::Relaxed);
        assert_eq!(clock.now().unix_timestamp(), 1_000_000_000);
        clock.advance(Duration::seconds(5));
        assert_eq!(clock.now().unix_timestamp(), 1_000_000_005);
    }
}
