//! Times are UTC in the database and shown, or typed, in the site's time zone (`site.toml`).

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use time::OffsetDateTime;

/// The site's time zone by its IANA name (`America/Chicago`). The zone database is built into the
/// binary, so this gives the same answer on every machine.
pub fn zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|_| format!("'{name}' is not a time zone name such as America/Chicago"))
}

/// A wall-clock time as typed into a `datetime-local` field (`2026-12-01T09:00`), in `tz`, as UTC.
/// A time that does not exist (the spring-forward gap) moves forward by the gap; an ambiguous one
/// (fall back) takes the earlier instant.
pub fn parse_local(input: &str, tz: &TimeZone) -> Result<OffsetDateTime, &'static str> {
    let civil: DateTime = input
        .trim()
        .parse()
        .map_err(|_| "Give a date and time such as 2026-12-01 09:00.")?;
    let zoned = civil.to_zoned(tz.clone()).map_err(|_| "That date is out of range.")?;
    OffsetDateTime::from_unix_timestamp(zoned.timestamp().as_second()).map_err(|_| "That date is out of range.")
}

fn zoned(t: OffsetDateTime, tz: &TimeZone) -> Option<jiff::Zoned> {
    jiff::Timestamp::from_second(t.unix_timestamp())
        .ok()
        .map(|ts| ts.to_zoned(tz.clone()))
}

/// For people: `Tuesday 1 December 2026, 9:00 AM CST`.
pub fn format_local(t: OffsetDateTime, tz: &TimeZone) -> String {
    match zoned(t, tz) {
        Some(z) => z.strftime("%A %-d %B %Y, %-I:%M %p %Z").to_string(),
        None => t.to_string(),
    }
}

/// The date alone: `1 December 2026`.
pub fn format_local_date(t: OffsetDateTime, tz: &TimeZone) -> String {
    match zoned(t, tz) {
        Some(z) => z.strftime("%-d %B %Y").to_string(),
        None => t.date().to_string(),
    }
}

/// For a `datetime-local` field's value: `2026-12-01T09:00`.
pub fn input_value(t: OffsetDateTime, tz: &TimeZone) -> String {
    match zoned(t, tz) {
        Some(z) => z.strftime("%Y-%m-%dT%H:%M").to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_site_zone() {
        let tz = zone("America/Chicago").unwrap();
        let t = parse_local("2026-12-01T09:00", &tz).unwrap();
        // Chicago is UTC-6 in December.
        assert_eq!(
            t.unix_timestamp(),
            time::macros::datetime!(2026-12-01 15:00 UTC).unix_timestamp()
        );
        assert_eq!(input_value(t, &tz), "2026-12-01T09:00");
        assert_eq!(format_local(t, &tz), "Tuesday 1 December 2026, 9:00 AM CST");
        assert_eq!(format_local_date(t, &tz), "1 December 2026");
        // Summer time: UTC-5.
        let summer = parse_local("2026-07-01 09:00", &tz).unwrap();
        assert_eq!(
            summer.unix_timestamp(),
            time::macros::datetime!(2026-07-01 14:00 UTC).unix_timestamp()
        );
    }

    #[test]
    fn refuses_nonsense() {
        let tz = zone("America/Chicago").unwrap();
        assert!(parse_local("tomorrow", &tz).is_err());
        assert!(parse_local("2026-13-01T09:00", &tz).is_err());
        assert!(parse_local("", &tz).is_err());
        assert!(zone("Mars/Olympus").is_err());
    }

    #[test]
    fn a_time_in_the_spring_gap_moves_forward() {
        let tz = zone("America/Chicago").unwrap();
        // 2:30 AM on 8 March 2026 does not exist in Chicago.
        let t = parse_local("2026-03-08T02:30", &tz).unwrap();
        assert_eq!(input_value(t, &tz), "2026-03-08T03:30");
    }
}
