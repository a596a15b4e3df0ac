//! Small pieces the repositories' statements share: decoding records, lower bounds of pages, limits, and
//! transaction-scoped advisory locks (per key, and the per-app lock of count limits).

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

/// [`decode`], naming the record by its table and key columns (`table/key1/key2`), as sled's `decode` names
/// the key.
pub(super) fn decode_named<M: Message + Default>(
    table: &str,
    key: &[&str],
    bytes: &[u8],
) -> Result<M, StoreError> {
    decode(bytes, || format!("{table}/{}", key.join("/")))
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

/// First key of the advisory locks that serialise an app's limited creates ("pglm"); the second is the
/// app's hash. Two-key advisory locks never meet the single-key one the migrations take.
const APP_LIMIT_LOCK: i32 = 0x7067_6c6d;

/// Takes the app's count-limit lock until the transaction ends. A create that must stay under a per-app
/// limit takes it before it counts, so two creates racing (in this process or another sharing the
/// database) count one after the other and the limit holds; the count's statement starts after the lock is
/// granted, so it sees what the previous holder committed. Apps whose names hash alike only wait for each
/// other. The lock does not need the app's row, which the limited records do not require to exist. It
/// takes a transaction because outside one the lock would end with its statement.
pub(super) async fn lock_app_limits(tx: &Transaction<'_>, app: &str) -> Result<(), StoreError> {
    let lock = tx
        .prepare_cached("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .await?;
    tx.execute(&lock, &[&APP_LIMIT_LOCK, &app]).await?;
    Ok(())
}

/// Whether `count` stored records reach `max`.
pub(super) fn at_limit(count: i64, max: usize) -> bool {
    usize::try_from(count).map_or(true, |count| count >= max)
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
