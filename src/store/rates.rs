//! Rate limits shared by the replicas of one deployment: one generic cell rate (GCRA) state per limited
//! key, so that a limit like "SendSync calls per second per app" holds for the replicas together. A replica
//! takes a few admissions at a time (`cluster/rate.rs`), so the store sees a fraction of the calls.

use async_trait::async_trait;

use super::StoreError;

/// A limit's shape: one admission every `interval_us`, up to `burst` at once after a quiet spell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateShape {
    /// Microseconds between two admissions at the steady rate.
    pub interval_us: i64,
    /// Admissions a quiet key may take at once (at least 1).
    pub burst: u32,
}

impl RateShape {
    /// `per_second` admissions a second, `per_second` at once (at least one of each).
    pub fn per_second(per_second: u32) -> Self {
        let per_second = per_second.max(1);
        Self {
            interval_us: 1_000_000 / i64::from(per_second),
            burst: per_second,
        }
    }

    /// How far ahead of now the state may run: the burst's tolerance.
    pub fn tolerance_us(self) -> i64 {
        self.interval_us * i64::from(self.burst.max(1) - 1)
    }
}

/// What a take got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    /// Admissions granted, at most the number asked for; 0 when the limit is reached.
    pub granted: u32,
    /// With none granted, how long until the next one would be, in microseconds; else 0.
    pub wait_us: i64,
}

/// One take from a key's state `tat_us` (its theoretical arrival time: when the key is quiet again) at
/// `now_us`: up to `want` admissions, each moving the state one interval on, while the state stays within
/// the burst's tolerance of now. Returns the new state and what was granted. Every backend applies this rule
/// (PostgreSQL in SQL, in `postgres/rates.rs`).
pub fn take(tat_us: Option<i64>, now_us: i64, want: u32, shape: RateShape) -> (i64, Taken) {
    let base = tat_us.map_or(now_us, |tat| tat.max(now_us));
    let limit = now_us + shape.tolerance_us();
    if base > limit {
        let wait_us = base - limit;
        return (
            base,
            Taken {
                granted: 0,
                wait_us,
            },
        );
    }
    let room = (limit - base) / shape.interval_us.max(1) + 1;
    let granted = u32::try_from(room).unwrap_or(u32::MAX).min(want);
    let tat = base + shape.interval_us * i64::from(granted);
    (
        tat,
        Taken {
            granted,
            wait_us: 0,
        },
    )
}

/// The shared states of rate limits, one per key. Each take is one atomic step on its key's state, against
/// one clock for every replica (PostgreSQL's own; sled's one process's).
#[async_trait]
pub trait RateRepository: Send + Sync {
    /// Takes up to `want` admissions of `key`'s limit of `shape` now ([`take`]).
    async fn take_admissions(
        &self,
        key: &str,
        want: u32,
        shape: RateShape,
    ) -> Result<Taken, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_an_interval() {
        let shape = RateShape::per_second(4); // 250 ms apart, 4 at once
        let (tat, t) = take(None, 0, 10, shape);
        assert_eq!((t.granted, tat), (4, 1_000_000));
        let (tat, t) = take(Some(tat), 100_000, 1, shape);
        assert_eq!((t.granted, t.wait_us), (0, 150_000), "the next at 250 ms");
        let (tat, t) = take(Some(tat), 250_000, 3, shape);
        assert_eq!((t.granted, tat), (1, 1_250_000));
        // A quiet spell refills the burst, never more.
        let (_, t) = take(Some(tat), 60_000_000, 100, shape);
        assert_eq!(t.granted, 4);
        let (_, t) = take(None, 0, 0, shape);
        assert_eq!(t.granted, 0);
    }

    #[test]
    fn over_any_second_at_most_the_rate_plus_the_burst() {
        let shape = RateShape::per_second(10);
        let (mut tat, mut admitted) = (None, 0u32);
        for ms in 0..3_000i64 {
            let (next, t) = take(tat, ms * 1_000, 3, shape);
            tat = Some(next);
            admitted += t.granted;
        }
        assert!((30..=40).contains(&admitted), "{admitted} in 3 s at 10/s");
    }
}
