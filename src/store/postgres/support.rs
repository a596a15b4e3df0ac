//! What several repositories share: decoding a stored record, the per-app lock that count limits take, and
//! converting the traits' counts to PostgreSQL's integers.

use deadpool_postgres::Transaction;
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

/// A page size for `LIMIT`: anything past `i64::MAX` is no limit anyway.
pub(super) fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Whether `count` stored records reach `max`.
pub(super) fn at_limit(count: i64, max: usize) -> bool {
    usize::try_from(count).map_or(true, |count| count >= max)
}
