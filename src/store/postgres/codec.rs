//! Converting between the traits' values and PostgreSQL's: decoding stored records, and the traits' `u64`
//! positions and `usize` limits as `bigint`.

use prost::Message;

use crate::store::StoreError;

/// Decodes a stored record; `table` and `key` name it in the error when it cannot be decoded, as sled's
/// `decode` names the key.
pub(super) fn decode<M: Message + Default>(
    table: &str,
    key: &[&str],
    bytes: &[u8],
) -> Result<M, StoreError> {
    M::decode(bytes).map_err(|e| StoreError::Corrupt {
        key: format!("{table}/{}", key.join("/")),
        reason: e.to_string(),
    })
}

/// A page size for `LIMIT`: anything past `i64::MAX` is no limit anyway.
pub(super) fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

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
