//! When a vendor's daily quota resets, so a notifier that used it up rests exactly until then.

use std::time::Duration;

use jiff::{Timestamp, civil::Time};

/// The zone whose midnight resets the daily quotas of the vendors of China (Xiaomi, OPPO, vivo...).
pub const CHINA: &str = "Asia/Shanghai";

/// Time from `now` until the next midnight in the IANA zone `zone` (a day when the zone is unknown).
pub fn until_midnight(now: Timestamp, zone: &str) -> Duration {
    let a_day = Duration::from_secs(24 * 3600);
    let Ok(tz) = jiff::tz::db().get(zone) else {
        return a_day;
    };
    let Ok(tomorrow) = tz.to_datetime(now).date().tomorrow() else {
        return a_day;
    };
    match tz
        .to_ambiguous_timestamp(tomorrow.to_datetime(Time::midnight()))
        .compatible()
    {
        Ok(next) => {
            let left = next.as_second() - now.as_second();
            Duration::from_secs(u64::try_from(left).unwrap_or(0).max(1))
        }
        Err(_) => a_day,
    }
}

/// Time until the next midnight in China, from now.
pub fn until_china_midnight() -> Duration {
    until_midnight(Timestamp::now(), CHINA)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_to_the_next_local_midnight() {
        // 2026-11-24 23:30 in Shanghai (UTC+8) is 15:30 UTC.
        let now: Timestamp = "2026-11-24T15:30:00Z".parse().unwrap();
        assert_eq!(until_midnight(now, CHINA), Duration::from_secs(30 * 60));
        // Just after midnight, nearly a whole day.
        let now: Timestamp = "2026-11-24T16:00:01Z".parse().unwrap();
        assert_eq!(
            until_midnight(now, CHINA),
            Duration::from_secs(24 * 3600 - 1)
        );
    }
}
