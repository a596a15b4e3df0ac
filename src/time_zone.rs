//! The time zone in which an app's do-not-disturb intervals are read (`App.time_zone`).
//!
//! IANA names are resolved against the tz database bundled into the binary, so a server behaves the same on
//! a machine without `/usr/share/zoneinfo` (slim containers) and does not change behaviour when the host's
//! copy is updated.

use jiff::{
    Timestamp,
    tz::{self, Offset, TimeZone},
};

/// A parsed app time zone: UTC, a fixed offset or an IANA zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppTimeZone(TimeZone);

impl AppTimeZone {
    /// Coordinated Universal Time, the default.
    pub const UTC: AppTimeZone = AppTimeZone(TimeZone::UTC);

    /// Minutes after local midnight (0..1440) at the Unix-milliseconds time `ms`.
    pub fn minute_of_day(&self, ms: i64) -> u32 {
        // Times outside jiff's range (±9999 years) cannot come from a clock; clamp rather than fail.
        let ts = Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
            Timestamp::MIN
        } else {
            Timestamp::MAX
        });
        let local = self.0.to_datetime(ts);
        // Both are small and non-negative (hour 0..23, minute 0..59).
        local.hour() as u32 * 60 + local.minute() as u32
    }
}

impl Default for AppTimeZone {
    fn default() -> Self {
        Self::UTC
    }
}

/// Parses `UTC` (also the empty string), a fixed offset `±HH:MM` (up to ±14:00) or an IANA name such as
/// `Asia/Shanghai` known to the bundled tz database.
pub fn parse_time_zone(value: &str) -> Result<AppTimeZone, String> {
    if value.is_empty() || value == "UTC" {
        return Ok(AppTimeZone::UTC);
    }
    if value.starts_with(['+', '-']) {
        return parse_offset(value)
            .map(|offset| AppTimeZone(TimeZone::fixed(offset)))
            .ok_or_else(|| {
                format!("{value:?} is not an offset: use ±HH:MM between -14:00 and +14:00")
            });
    }
    // jiff answers this name with a placeholder zone rather than an error; it is not a real zone.
    if value.eq_ignore_ascii_case("Etc/Unknown") {
        return Err(not_a_zone(value));
    }
    tz::db()
        .get(value)
        .map(AppTimeZone)
        .map_err(|_| not_a_zone(value))
}

fn not_a_zone(value: &str) -> String {
    format!(
        "{value:?} is not a time zone: use UTC, an offset like +08:00, or an IANA name like Asia/Shanghai"
    )
}

fn parse_offset(value: &str) -> Option<Offset> {
    let b = value.as_bytes();
    if b.len() != 6 || b[3] != b':' || !b[1..3].iter().chain(&b[4..6]).all(u8::is_ascii_digit) {
        return None;
    }
    let hours: i32 = value[1..3].parse().ok()?;
    let minutes: i32 = value[4..6].parse().ok()?;
    if minutes >= 60 || hours * 60 + minutes > 14 * 60 {
        return None;
    }
    let seconds = (hours * 60 + minutes) * 60;
    Offset::from_seconds(if b[0] == b'-' { -seconds } else { seconds }).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-01-15T00:00:00Z, a winter date (no daylight saving in the northern zones used here).
    const JAN_15_MIDNIGHT_UTC: i64 = 1_705_276_800_000;
    /// 2024-07-15T00:00:00Z, a summer date.
    const JUL_15_MIDNIGHT_UTC: i64 = 1_721_001_600_000;

    fn minute(tz: &str, ms: i64) -> u32 {
        parse_time_zone(tz).unwrap().minute_of_day(ms)
    }

    #[test]
    fn utc_is_the_default() {
        assert_eq!(parse_time_zone("").unwrap(), AppTimeZone::UTC);
        assert_eq!(parse_time_zone("UTC").unwrap(), AppTimeZone::UTC);
        assert_eq!(minute("UTC", JAN_15_MIDNIGHT_UTC + 90 * 60_000), 90);
    }

    #[test]
    fn fixed_offsets_shift_the_clock() {
        assert_eq!(minute("+08:00", JAN_15_MIDNIGHT_UTC), 8 * 60);
        assert_eq!(minute("-03:30", JAN_15_MIDNIGHT_UTC), 20 * 60 + 30);
        assert_eq!(minute("+14:00", JAN_15_MIDNIGHT_UTC), 14 * 60);
        for bad in [
            "+8", "+08", "+0800", "+15:00", "+14:30", "-08:60", "+a8:00", "08:00",
        ] {
            assert!(parse_time_zone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn iana_zones_come_from_the_bundled_database() {
        assert_eq!(minute("Asia/Shanghai", JAN_15_MIDNIGHT_UTC), 8 * 60);
        // Daylight saving time: New York is UTC-5 in winter and UTC-4 in summer.
        assert_eq!(minute("America/New_York", JAN_15_MIDNIGHT_UTC), 19 * 60);
        assert_eq!(minute("America/New_York", JUL_15_MIDNIGHT_UTC), 20 * 60);
        assert_eq!(minute("Asia/Kolkata", JAN_15_MIDNIGHT_UTC), 5 * 60 + 30);
        for bad in ["Mars/Olympus_Mons", "Asia/", "nonsense", "Etc/Unknown"] {
            assert!(parse_time_zone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn clock_extremes_do_not_panic() {
        assert!(AppTimeZone::UTC.minute_of_day(i64::MAX) < 1440);
        assert!(AppTimeZone::UTC.minute_of_day(i64::MIN) < 1440);
    }
}
