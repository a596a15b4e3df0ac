//! A rate limit per key that holds for the replicas of a deployment together (SendSync calls per second per
//! app). On a store one process owns it is a local limiter, exact and without a store call; on a shared
//! store the limit's state lives in the store (`store/rates.rs`, one clock for every replica), and each
//! replica takes a few admissions at a time so that the store sees a fraction of the calls.

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::Duration,
};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use super::Membership;
use crate::store::{RateShape, Store, StoreError};

/// Why a call was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum RateError {
    /// The key is over its limit.
    #[error("over the limit; the next call is allowed in {retry_after:?}")]
    Limited {
        /// How long until the next call would be admitted.
        retry_after: Duration,
    },
    /// The shared state could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Admissions one replica holds for a key: taken from the shared state together, spent one per call while
/// they are fresh.
struct Held {
    left: u32,
    until: Instant,
}

/// Where the limit's state lives. Boxed: the shared variant holds the whole store's handles, and a limit is
/// built once per server.
enum Kind {
    Local(Box<DefaultKeyedRateLimiter<String>>),
    Shared(Box<Shared>),
}

struct Shared {
    store: Store,
    membership: Membership,
    held: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Held>>>>,
}

/// `per_second` admissions a second per key, `per_second` at once after a quiet spell, for the deployment.
pub struct SharedRate {
    /// What the store keys are named after (`sync` → `sync/<key>`).
    name: &'static str,
    shape: RateShape,
    kind: Kind,
}

impl SharedRate {
    /// The limit `name` of `per_second` per key, shared through `store` when other replicas share it.
    pub fn new(name: &'static str, per_second: u32, store: Store, membership: Membership) -> Self {
        let shape = RateShape::per_second(per_second);
        let kind = if store.is_shared() {
            Kind::Shared(Box::new(Shared {
                store,
                membership,
                held: Mutex::new(HashMap::new()),
            }))
        } else {
            let per_second = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
            Kind::Local(Box::new(RateLimiter::keyed(Quota::per_second(per_second))))
        };
        Self { name, shape, kind }
    }

    /// Admits one call of `key`, or says how long until one would be admitted.
    pub async fn admit(&self, key: &str) -> Result<(), RateError> {
        let Shared {
            store,
            membership,
            held,
        } = match &self.kind {
            Kind::Local(limiter) => {
                return limiter.check_key(&key.to_owned()).map_err(|not_until| {
                    RateError::Limited {
                        retry_after: not_until.wait_time_from(governor::clock::Clock::now(
                            &governor::clock::DefaultClock::default(),
                        )),
                    }
                });
            }
            Kind::Shared(shared) => shared.as_ref(),
        };
        let cell = held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.to_owned())
            .or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(Held {
                    left: 0,
                    until: Instant::now(),
                }))
            })
            .clone();
        // One take from the store at a time per key on this replica; the calls behind it spend what it got.
        let mut mine = cell.lock().await;
        if mine.left > 0 && Instant::now() < mine.until {
            mine.left -= 1;
            return Ok(());
        }
        // A quarter of this replica's share of a second at a time: few store calls at a high rate, and
        // little held back from the others at a low one (one at a time below four a second per replica).
        let share = self.shape.burst
            / u32::try_from(membership.live_count().max(1) * 4).unwrap_or(u32::MAX);
        let want = share.max(1);
        let taken = store
            .rates
            .take_admissions(&format!("{}/{key}", self.name), want, self.shape)
            .await?;
        if taken.granted == 0 {
            return Err(RateError::Limited {
                retry_after: Duration::from_micros(
                    u64::try_from(taken.wait_us.max(1)).unwrap_or(1),
                ),
            });
        }
        // Admissions held longer than the time they stand for would be spent on top of the others' later
        // ones: what is not spent by then lapses.
        let stands_for = Duration::from_micros(
            u64::try_from(self.shape.interval_us * i64::from(taken.granted)).unwrap_or(0),
        );
        *mine = Held {
            left: taken.granted - 1,
            until: Instant::now() + stands_for,
        };
        Ok(())
    }
}
