//! A circuit breaker per notifier: after repeated transient failures the vendor is left alone for a pause
//! (pushes fail fast as retryable instead of piling up on a dead endpoint), then one probe decides whether
//! traffic resumes.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

/// Where the breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests flow.
    Closed,
    /// Requests are refused until the pause ends.
    Open,
    /// The pause ended; one probe request is allowed through.
    HalfOpen,
}

/// Whether a request may go to the vendor now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Yes.
    Allowed,
    /// No: the circuit is open for this much longer.
    Refused {
        /// Until the next probe may be tried.
        retry_after: Duration,
    },
}

#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probe_since: Option<Instant> },
}

/// The breaker.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    pause: Duration,
    state: Mutex<State>,
}

impl Breaker {
    /// Opens after `threshold` consecutive transient failures, for `pause`.
    pub fn new(threshold: u32, pause: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            pause,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    /// Asks to send a request now.
    pub fn admit(&self) -> Admission {
        let now = Instant::now();
        let Ok(mut state) = self.state.lock() else {
            return Admission::Allowed;
        };
        match *state {
            State::Closed { .. } => Admission::Allowed,
            State::Open { until } if now < until => Admission::Refused {
                retry_after: until - now,
            },
            State::Open { .. } => {
                *state = State::HalfOpen {
                    probe_since: Some(now),
                };
                Admission::Allowed
            }
            // A probe whose answer never came back (its caller gave up) must not keep the circuit shut forever.
            State::HalfOpen { probe_since } => match probe_since {
                Some(since) if now.duration_since(since) < self.pause => Admission::Refused {
                    retry_after: self.pause - now.duration_since(since),
                },
                _ => {
                    *state = State::HalfOpen {
                        probe_since: Some(now),
                    };
                    Admission::Allowed
                }
            },
        }
    }

    /// Records how an admitted request ended: `transient_failure` when it failed in a way worth retrying
    /// (5xx, timeout, reset). Any other answer, even a refusal, shows the vendor is up.
    pub fn record(&self, transient_failure: bool) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        *state = match (&*state, transient_failure) {
            (_, false) => State::Closed { failures: 0 },
            (State::Closed { failures }, true) if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            (State::Open { until }, true) => State::Open { until: *until },
            (_, true) => State::Open {
                until: Instant::now() + self.pause,
            },
        };
    }

    /// The current state (for metrics and tests).
    pub fn state(&self) -> BreakerState {
        match self.state.lock().as_deref() {
            Ok(State::Closed { .. }) | Err(_) => BreakerState::Closed,
            Ok(State::Open { until }) if Instant::now() < *until => BreakerState::Open,
            Ok(_) => BreakerState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_and_not_before() {
        let b = Breaker::new(3, Duration::from_secs(60));
        b.record(true);
        b.record(true);
        assert_eq!(b.admit(), Admission::Allowed);
        b.record(true);
        assert_eq!(b.state(), BreakerState::Open);
        assert!(matches!(b.admit(), Admission::Refused { .. }));
    }

    #[test]
    fn a_success_resets_the_count() {
        let b = Breaker::new(3, Duration::from_secs(60));
        b.record(true);
        b.record(true);
        b.record(false);
        b.record(true);
        b.record(true);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn half_opens_after_the_pause_with_one_probe() {
        let b = Breaker::new(1, Duration::from_millis(30));
        b.record(true);
        assert!(matches!(b.admit(), Admission::Refused { .. }));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(b.admit(), Admission::Allowed, "the probe");
        assert!(
            matches!(b.admit(), Admission::Refused { .. }),
            "only one probe"
        );
        b.record(false);
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.admit(), Admission::Allowed);
    }

    #[test]
    fn a_failed_probe_opens_again() {
        let b = Breaker::new(1, Duration::from_millis(30));
        b.record(true);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(b.admit(), Admission::Allowed);
        b.record(true);
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn a_lost_probe_does_not_shut_the_circuit_forever() {
        let b = Breaker::new(1, Duration::from_millis(30));
        b.record(true);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(b.admit(), Admission::Allowed);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(b.admit(), Admission::Allowed);
    }
}
