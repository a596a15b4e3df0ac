//! The traits' `u64` positions and counts as PostgreSQL's `bigint`, and back.

use crate::store::StoreError;

/// A position to store. Positions are taken from `bigint` sequences, so one past `i64::MAX` was never
/// handed out by this backend: refused rather than wrapped.
pub(super) fn position_in(position: u64) -> Result<i64, StoreError> {
    i64::try_from(position)
        .map_err(|_| StoreError::Backend(format!("position {position} exceeds a bigint")))
}

/// A stored position, as the traits give it out; the sequences start at 1, so it is never negative.
pub(super) fn position_out(position: i64) -> Result<u64, StoreError> {
    u64::try_from(position)
        .map_err(|_| StoreError::Backend(format!("stored position {position} is negative")))
}

/// A position to read after: None when it lies beyond every position a `bigint` holds, so nothing follows.
pub(super) fn read_after(position: u64) -> Option<i64> {
    i64::try_from(position).ok()
}

/// A count from `count(*)`, which is never negative.
pub(super) fn count_out(count: i64) -> u64 {
    u64::try_from(count).unwrap_or(0)
}
