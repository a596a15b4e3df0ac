//! sled implementation of [`LeaseRepository`]: each method one compare-and-swap of the lease's record
//! (`fetch_and_update`, which runs its closure again when another writer got there first). With one process
//! there is one replica, so a lease is never contended across processes; the rules are kept all the same.

use async_trait::async_trait;
use prost::Message;

use super::{SledStore, keys};
use crate::store::{LeaseRecord, LeaseRepository, StoreError, leases::granted};

fn decode(name: &str, bytes: &[u8]) -> Result<LeaseRecord, StoreError> {
    LeaseRecord::decode(bytes).map_err(|e| StoreError::Corrupt {
        key: format!("leases/{name}"),
        reason: e.to_string(),
    })
}

impl SledStore {
    /// Applies `change` to the lease `name` in one compare-and-swap: `change` gets the stored lease and
    /// answers the lease to store (or `None` to leave it) and what to return.
    async fn change_lease<T: Clone>(
        &self,
        name: &str,
        change: impl Fn(Option<&LeaseRecord>) -> (Option<LeaseRecord>, T),
    ) -> Result<T, StoreError> {
        let written: Result<T, StoreError> = (|| {
            let mut answer: Option<Result<T, StoreError>> = None;
            self.tree(keys::LEASES)?
                .fetch_and_update(name.as_bytes(), |old| {
                    let current = match old.map(|bytes| decode(name, bytes)).transpose() {
                        Ok(current) => current,
                        Err(e) => {
                            answer = Some(Err(e));
                            return old.map(<[u8]>::to_vec);
                        }
                    };
                    let (next, value) = change(current.as_ref());
                    answer = Some(Ok(value));
                    match next {
                        Some(next) => Some(next.encode_to_vec()),
                        None => old.map(<[u8]>::to_vec),
                    }
                })?;
            answer.unwrap_or_else(|| Err(StoreError::Backend("lease update did not run".into())))
        })();
        self.durably(written).await
    }
}

#[async_trait]
impl LeaseRepository for SledStore {
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Option<LeaseRecord>, StoreError> {
        self.change_lease(name, |current| {
            let grant = granted(current, name, holder, now_ms, until_ms);
            (grant.clone(), grant)
        })
        .await
    }

    async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        epoch: u64,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        self.change_lease(name, |current| match current {
            Some(c) if c.holder == holder && c.epoch == epoch && c.until_ms > now_ms => (
                Some(LeaseRecord {
                    until_ms,
                    ..c.clone()
                }),
                true,
            ),
            _ => (None, false),
        })
        .await
    }

    async fn release_lease(
        &self,
        name: &str,
        holder: &str,
        epoch: u64,
    ) -> Result<bool, StoreError> {
        self.change_lease(name, |current| match current {
            Some(c) if c.holder == holder && c.epoch == epoch && c.until_ms > 0 => (
                Some(LeaseRecord {
                    until_ms: 0,
                    ..c.clone()
                }),
                true,
            ),
            _ => (None, false),
        })
        .await
    }

    async fn forget_leases(&self) -> Result<(), StoreError> {
        let written: Result<_, StoreError> = async {
            self.tree(keys::LEASES)?.clear()?;
            Ok(())
        }
        .await;
        self.durably(written).await
    }

    async fn get_lease(&self, name: &str) -> Result<Option<LeaseRecord>, StoreError> {
        self.tree(keys::LEASES)?
            .get(name.as_bytes())?
            .map(|bytes| decode(name, &bytes))
            .transpose()
    }
}
