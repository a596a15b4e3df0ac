//! One APNs provider token per key for the whole deployment. Apple refuses a key whose tokens change more
//! often than every 20 minutes (`TooManyProviderTokenUpdates`), and every replica signing its own token for
//! the same key changes it as often as replicas sign: the replicas share one token through the store. The
//! replica that finds the shared token missing, too old or refused signs a new one under the lease of the
//! key, so that two replicas never sign for it at once; the others wait for it and read it.

use std::time::Duration;

use crate::{
    clock::now_ms,
    cluster::Leases,
    store::{Store, StoreError},
};

/// How long a replica waits for another one signing before it signs on its own (a stuck holder must not
/// stop pushes; its lease runs out anyway).
const WAIT_FOR_SIGNER: Duration = Duration::from_secs(3);
/// Pause between looks at the shared token while another replica signs.
const LOOK_EVERY: Duration = Duration::from_millis(50);

/// The store and leases of this replica, for sharing provider tokens; cloned into every APNs lane.
#[derive(Clone)]
pub struct TokenShare {
    store: Store,
    leases: Leases,
}

/// A token signed at `iat` (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedToken {
    /// The JWT.
    pub jwt: String,
    /// Its `iat` claim.
    pub iat: i64,
}

impl TokenShare {
    /// Sharing through `store`, signing under `leases`.
    pub fn new(store: Store, leases: Leases) -> Self {
        Self { store, leases }
    }

    /// The deployment's token of `key` (team and key id) while it is younger than `refresh` and is not
    /// `refused`; else one `sign` makes now, stored for the other replicas. Store trouble falls back to
    /// signing here: a push is not held up by the database.
    pub async fn current(
        &self,
        key: &str,
        refresh: Duration,
        refused: Option<&str>,
        sign: impl Fn() -> Result<SignedToken, String>,
    ) -> Result<SignedToken, String> {
        let name = format!("apns-provider-token/{key}");
        let usable = |t: &SignedToken| {
            Some(t.jwt.as_str()) != refused
                && now_ms() / 1000 - t.iat < i64::try_from(refresh.as_secs()).unwrap_or(i64::MAX)
        };
        let deadline = tokio::time::Instant::now() + WAIT_FOR_SIGNER;
        while tokio::time::Instant::now() < deadline {
            match self.read(&name).await {
                Ok(Some(shared)) if usable(&shared) => return Ok(shared),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the shared APNs provider token; signing one here");
                    return sign();
                }
            }
            let held = match self.leases.try_hold(&name).await {
                Ok(held) => held,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot take the APNs provider token's lease; signing one here");
                    return sign();
                }
            };
            let Some(held) = held else {
                // Another replica signs it now.
                tokio::time::sleep(LOOK_EVERY).await;
                continue;
            };
            // Signed by another replica between the read and the lease?
            let token = match self.read(&name).await {
                Ok(Some(shared)) if usable(&shared) => shared,
                _ => {
                    let token = sign()?;
                    if let Err(e) = self.write(&name, &token).await {
                        tracing::warn!(error = %e, "cannot share the APNs provider token; the other replicas sign their own");
                    }
                    token
                }
            };
            held.release().await;
            return Ok(token);
        }
        tracing::warn!(
            "another replica did not sign the APNs provider token in time; signing one here"
        );
        sign()
    }

    async fn read(&self, name: &str) -> Result<Option<SignedToken>, StoreError> {
        let Some(bytes) = self.store.meta.get_meta(name.as_bytes()).await? else {
            return Ok(None);
        };
        // `<iat> <jwt>`; anything else is no token.
        let text = String::from_utf8_lossy(&bytes);
        Ok(text.split_once(' ').and_then(|(iat, jwt)| {
            Some(SignedToken {
                iat: iat.parse().ok()?,
                jwt: jwt.to_owned(),
            })
        }))
    }

    async fn write(&self, name: &str, token: &SignedToken) -> Result<(), StoreError> {
        self.store
            .meta
            .put_meta(
                name.as_bytes(),
                format!("{} {}", token.iat, token.jwt).into_bytes(),
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn share(store: &Store, holder: &str) -> TokenShare {
        TokenShare::new(
            store.clone(),
            Leases::new(
                store.clone(),
                holder,
                Duration::from_secs(10),
                Duration::from_secs(2),
            ),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replicas_share_one_token_per_key_and_sign_again_only_when_due_or_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sled_for_tests(dir.path());
        let signed = AtomicU32::new(0);
        let sign = || {
            let n = signed.fetch_add(1, Ordering::SeqCst);
            Ok(SignedToken {
                jwt: format!("jwt-{n}"),
                iat: now_ms() / 1000,
            })
        };
        let hour = Duration::from_secs(3000);
        // Three replicas asking at once get one token, signed once.
        let (a, b, c) = (share(&store, "a"), share(&store, "b"), share(&store, "c"));
        let (ta, tb, tc) = tokio::join!(
            a.current("T/K", hour, None, sign),
            b.current("T/K", hour, None, sign),
            c.current("T/K", hour, None, sign)
        );
        let ta = ta.unwrap();
        assert_eq!((ta.clone(), ta.clone()), (tb.unwrap(), tc.unwrap()));
        assert_eq!(signed.load(Ordering::SeqCst), 1);
        // Another key has its own token.
        let other = a.current("T/L", hour, None, sign).await.unwrap();
        assert_ne!(other.jwt, ta.jwt);
        // Refused by Apple: the next one asking signs anew, and the others take that one.
        let renewed = b.current("T/K", hour, Some(&ta.jwt), sign).await.unwrap();
        assert_ne!(renewed.jwt, ta.jwt);
        assert_eq!(c.current("T/K", hour, None, sign).await.unwrap(), renewed);
        // Past its refresh age a token is signed anew.
        let aged = a
            .current("T/K", Duration::from_secs(0), None, sign)
            .await
            .unwrap();
        assert_ne!(aged.jwt, renewed.jwt);
        assert_eq!(signed.load(Ordering::SeqCst), 4);
    }
}
