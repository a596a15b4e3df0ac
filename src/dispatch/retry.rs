//! How long to wait before the next attempt: exponential backoff with full jitter, and the vendor's
//! Retry-After when it gave one.
//!
//! The waiting itself happens in the lane, which retries only the devices of a batch whose outcome was
//! retryable; tower's retry and backon retry a whole call, which does not fit a batch with mixed outcomes, so
//! only the delay arithmetic lives here.

use std::time::Duration;

use rand::Rng;

/// The retry policy of every notifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Vendor requests per device at most, the first included.
    pub max_attempts: u32,
    /// The backoff ceiling of the first retry; it doubles with each further retry.
    pub base_delay: Duration,
    /// No wait is longer: backoff is capped here, and a Retry-After beyond it ends the retries instead.
    pub max_delay: Duration,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Wait this long, then try again.
    RetryAfter(Duration),
    /// Stop: attempts are used up, or the vendor asked for a longer wait than we keep a push waiting.
    GiveUp,
}

impl RetryPolicy {
    /// The decision after attempt number `attempt` (1 for the first) failed retryably, the vendor having asked
    /// for `retry_after` if anything. `roll` draws the jitter in `0..=ceiling`.
    pub fn next_with(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        roll: impl FnOnce(Duration) -> Duration,
    ) -> Next {
        if attempt >= self.max_attempts {
            return Next::GiveUp;
        }
        if let Some(asked) = retry_after {
            // The vendor's word beats our backoff; a wait beyond what we allow ends the retries.
            return if asked <= self.max_delay {
                Next::RetryAfter(asked)
            } else {
                Next::GiveUp
            };
        }
        let exponent = attempt.saturating_sub(1).min(31);
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << exponent)
            .min(self.max_delay);
        Next::RetryAfter(roll(ceiling).min(ceiling))
    }

    /// [`Self::next_with`] with a uniformly random jitter (full jitter: anywhere from zero to the ceiling, so
    /// retries of many devices spread out instead of arriving together).
    pub fn next(&self, attempt: u32, retry_after: Option<Duration>) -> Next {
        self.next_with(attempt, retry_after, |ceiling| {
            let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
            Duration::from_nanos(rand::rng().random_range(0..=nanos))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        }
    }

    #[test]
    fn ceiling_doubles_per_attempt_and_is_capped() {
        let top = |attempt| match policy().next_with(attempt, None, |c| c) {
            Next::RetryAfter(d) => d,
            Next::GiveUp => panic!("gave up at {attempt}"),
        };
        assert_eq!(top(1), Duration::from_millis(100));
        assert_eq!(top(2), Duration::from_millis(200));
        assert_eq!(top(3), Duration::from_millis(400));
        assert_eq!(top(4), Duration::from_millis(800));
        let long = RetryPolicy {
            max_attempts: 40,
            ..policy()
        };
        assert_eq!(
            long.next_with(30, None, |c| c),
            Next::RetryAfter(Duration::from_secs(1))
        );
    }

    #[test]
    fn jitter_stays_between_zero_and_the_ceiling() {
        for attempt in 1..5 {
            for _ in 0..200 {
                match policy().next(attempt, None) {
                    Next::RetryAfter(d) => {
                        assert!(d <= Duration::from_millis(100) * (1 << (attempt - 1)))
                    }
                    Next::GiveUp => panic!("gave up"),
                }
            }
        }
    }

    #[test]
    fn attempts_are_bounded() {
        assert_eq!(policy().next(5, None), Next::GiveUp);
        assert_eq!(
            policy().next(5, Some(Duration::from_millis(1))),
            Next::GiveUp
        );
    }

    #[test]
    fn retry_after_is_honoured_within_the_cap_and_ends_retries_beyond_it() {
        assert_eq!(
            policy().next(1, Some(Duration::from_millis(700))),
            Next::RetryAfter(Duration::from_millis(700))
        );
        assert_eq!(policy().next(1, Some(Duration::from_secs(5))), Next::GiveUp);
    }
}
