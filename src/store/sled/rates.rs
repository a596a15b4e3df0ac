//! sled implementation of [`RateRepository`]: the state of each key as 8 bytes, moved by `rates::take` in a
//! compare-and-swap against this process's clock (the one process sharing a sled store).

use async_trait::async_trait;

use super::{SledStore, keys};
use crate::store::{RateRepository, RateShape, StoreError, Taken, rates};

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

#[async_trait]
impl RateRepository for SledStore {
    async fn take_admissions(
        &self,
        key: &str,
        want: u32,
        shape: RateShape,
    ) -> Result<Taken, StoreError> {
        let tree = self.tree(keys::RATE_LIMITS)?;
        // Not made durable: a limit's state only paces calls, and a restart forgetting it lets at most one
        // burst through, which a quiet spell would have allowed too.
        loop {
            let old = tree.get(key.as_bytes())?;
            let tat = old
                .as_deref()
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(i64::from_be_bytes);
            let (next, taken) = rates::take(tat, now_us(), want, shape);
            if tree
                .compare_and_swap(key.as_bytes(), old, Some(next.to_be_bytes().to_vec()))?
                .is_ok()
            {
                return Ok(taken);
            }
        }
    }
}
