//! Small pieces the repositories' statements share: decoding records, lower bounds of pages, limits, and
//! transaction-scoped advisory locks.

use deadpool_postgres::Transaction;
use prost::Message;

use crate::store::StoreError;

/// Decodes a stored record; one that does not decode is `Corrupt`, named by `key` (built only then).
pub(super) fn decode<M: Message + Default>(
    bytes: &[u8],
    key: impl FnOnce() -> String,
) -> Result<M, StoreError> {
    M::decode(bytes).map_err(|e| StoreError::Corrupt {
        key: key(),
        reason: e.to_string(),
    })
}

/// The least text that sorts after `after`, or the least text of all (`""`) without it, so that one
/// statement, `column >= $n`, serves the first page and every later one.
///
/// Text compares byte-wise (`COLLATE "C"`) and PostgreSQL's text cannot hold NUL, so nothing a column holds
/// lies between `after` and `after` + U+0001. A NUL in `after` itself (a forged page token) cuts it there:
/// every storable text after `x\0…` is at least `x` + U+0001 too.
pub(super) fn lower_bound(after: Option<&str>) -> String {
    match after {
        Some(after) => {
            let stored = after.split('\0').next().unwrap_or_default();
            format!("{stored}\u{1}")
        }
        None => String::new(),
    }
}

/// `limit` for a `LIMIT` parameter (bigint).
pub(super) fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// `limit` + 1 for a `LIMIT` parameter: a page fetched one row long tells whether more follow.
pub(super) fn sql_limit_and_one(limit: usize) -> i64 {
    sql_limit(limit).saturating_add(1)
}

/// Takes a transaction-scoped advisory lock on each of `keys` (texts naming what the transaction will
/// decide about, hashed to the lock's number), held until the transaction ends. The locks are taken in one
/// statement in ascending order of their numbers, so two transactions that lock overlapping keys this way
/// never wait for each other in a cycle; a hash collision only makes two unrelated keys wait for each other.
pub(super) async fn lock_keys(tx: &Transaction<'_>, keys: &[String]) -> Result<(), StoreError> {
    let statement = tx
        .prepare_cached(
            "SELECT pg_advisory_xact_lock(k)
             FROM (SELECT DISTINCT hashtextextended(key, 0) AS k
                   FROM unnest($1::text[]) AS key
                   ORDER BY k) AS ordered",
        )
        .await?;
    tx.execute(&statement, &[&keys]).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_bounds_start_right_after_the_text() {
        assert_eq!(lower_bound(None), "");
        assert_eq!(lower_bound(Some("u1")), "u1\u{1}");
        assert_eq!(lower_bound(Some("u1\0x")), "u1\u{1}");
        assert!("u1" < lower_bound(Some("u1")).as_str());
        assert!(lower_bound(Some("u1")).as_str() < "u10");
    }
}
