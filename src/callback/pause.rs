//! The pause rule: a rule whose endpoint fails too often in a short window is paused, each pause within the
//! count window longer than the last (Easemob: 90 failures in 30 s pause for 5, 10, 15, 20, then 25 minutes).

use std::collections::VecDeque;

use super::CallbacksConfig;
use crate::store::PauseRecord;

/// The failed attempts of one rule within the pause window.
#[derive(Debug)]
pub struct FailureWindow {
    /// Times (ms) of the failures still inside the window, oldest first; never more than `limit`.
    times: VecDeque<i64>,
    limit: usize,
    window_ms: i64,
}

impl FailureWindow {
    /// A window that trips at `config.pause_after_failures` failures within `config.pause_window`.
    pub fn new(config: &CallbacksConfig) -> Self {
        Self {
            times: VecDeque::with_capacity(config.pause_after_failures),
            limit: config.pause_after_failures,
            window_ms: i64::try_from(config.pause_window.as_millis()).unwrap_or(i64::MAX),
        }
    }

    /// Records a failure at `now_ms`; true when it trips the rule (the window then starts over).
    pub fn failed(&mut self, now_ms: i64) -> bool {
        while self
            .times
            .front()
            .is_some_and(|t| now_ms.saturating_sub(*t) >= self.window_ms)
        {
            self.times.pop_front();
        }
        self.times.push_back(now_ms);
        if self.times.len() >= self.limit {
            self.times.clear();
            return true;
        }
        false
    }
}

/// The pause that begins at `now_ms` after `record`'s earlier ones.
pub fn begin(record: &PauseRecord, config: &CallbacksConfig, now_ms: i64) -> PauseRecord {
    let counted = i64::try_from(config.pause_count_window.as_millis()).unwrap_or(i64::MAX);
    let mut starts: Vec<i64> = record
        .pause_starts_ms
        .iter()
        .copied()
        .filter(|s| now_ms.saturating_sub(*s) < counted)
        .collect();
    let length = config.pause(u32::try_from(starts.len()).unwrap_or(u32::MAX));
    starts.push(now_ms);
    PauseRecord {
        paused_until_ms: now_ms
            .saturating_add(i64::try_from(length.as_millis()).unwrap_or(i64::MAX)),
        pause_starts_ms: starts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;

    #[test]
    fn ninety_failures_within_thirty_seconds_trip_the_rule() {
        let config = CallbacksConfig::default();
        let mut w = FailureWindow::new(&config);
        // 89 failures, then a gap past the window: the old ones no longer count.
        for i in 0..89 {
            assert!(!w.failed(i * 100));
        }
        assert!(!w.failed(40_000));
        for i in 0..88 {
            assert!(!w.failed(40_001 + i));
        }
        assert!(w.failed(40_100));
        // The window starts over after a trip.
        assert!(!w.failed(40_101));
    }

    #[test]
    fn pauses_lengthen_within_a_day_then_start_over() {
        let config = CallbacksConfig::default();
        let mut record = PauseRecord::default();
        let mut lengths = Vec::new();
        let mut now = 0;
        for _ in 0..6 {
            record = begin(&record, &config, now);
            lengths.push((record.paused_until_ms - now) / MINUTE);
            now = record.paused_until_ms + MINUTE;
        }
        assert_eq!(lengths, [5, 10, 15, 20, 25, 25]);
        // A day after the last of them, the count is back to none.
        let later = now + 24 * 60 * MINUTE;
        let fresh = begin(&record, &config, later);
        assert_eq!((fresh.paused_until_ms - later) / MINUTE, 5);
        assert_eq!(fresh.pause_starts_ms, [later]);
    }
}
