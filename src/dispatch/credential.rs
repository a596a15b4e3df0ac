//! A cache for one notifier's vendor credential (an OAuth access token, a signed JWT) with single-flight
//! refresh: when the credential expires under load, one caller fetches a new one and every other caller waits
//! for that fetch instead of starting its own.

use std::{
    future::Future,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use super::{Answered, Outcome, VendorAnswer};

/// Why no credential could be had from a vendor's token (auth) endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantError {
    /// What went wrong, with the vendor's words when it answered.
    pub reason: String,
    /// True when trying again later may work (no answer, a 5xx, flow control); false when the vendor refused
    /// the notifier's credentials.
    pub transient: bool,
    /// The token endpoint's answer, whatever its status, when one came; `None` when none did (unreachable,
    /// timeout) or nothing was asked. It becomes the devices' vendor answer, so the caller and the callbacks
    /// see the vendor's own words on a refused grant as they do on a refused send.
    pub answer: Option<VendorAnswer>,
}

impl GrantError {
    /// A failed grant without an answer: [`TokenAnswer::read`] attaches the endpoint's answer to the errors
    /// made from it, so the vendors' parsers need not carry it.
    pub fn new(reason: impl Into<String>, transient: bool) -> Self {
        Self {
            reason: reason.into(),
            transient,
            answer: None,
        }
    }

    /// The failed grant as the outcome of every device of the request.
    pub fn outcome(self) -> Outcome {
        if self.transient {
            Outcome::TokenUnavailable {
                reason: self.reason,
            }
        } else {
            Outcome::AuthFailed {
                reason: self.reason,
                at_token_endpoint: true,
            }
        }
    }
}

// No `From<GrantError> for Outcome`: a failed grant becomes an `Answered`, so that `?` cannot drop the token
// endpoint's answer on the way.
impl From<GrantError> for Answered {
    fn from(mut error: GrantError) -> Self {
        let answer = error.answer.take().unwrap_or_default();
        Answered {
            outcome: error.outcome(),
            answer,
        }
    }
}

/// A token endpoint's answer, read whole.
#[derive(Debug)]
pub(crate) struct TokenAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The body as text.
    pub body: String,
}

impl TokenAnswer {
    /// What the vendor's `parse` makes of the answer (its status and body). When that is a failure, the
    /// failure carries this answer.
    pub fn read<T>(
        self,
        parse: impl FnOnce(u16, &str) -> Result<T, GrantError>,
    ) -> Result<T, GrantError> {
        parse(self.status, &self.body).map_err(|error| GrantError {
            answer: Some(VendorAnswer {
                status: self.status,
                body: self.body.into(),
            }),
            ..error
        })
    }
}

/// Sends a token `request` and reads its answer whole, or a transient [`GrantError`] without an answer saying
/// `endpoint` was unreachable or `answer` was lost.
pub(crate) async fn token_answer(
    request: reqwest::RequestBuilder,
    endpoint: &str,
    answer: &str,
) -> Result<TokenAnswer, GrantError> {
    let response = request
        .send()
        .await
        .map_err(|e| GrantError::new(format!("{endpoint} unreachable: {e}"), true))?;
    let status = response.status().as_u16();
    let body = response
        .text()
        .await
        .map_err(|e| GrantError::new(format!("{answer} lost: {e}"), true))?;
    Ok(TokenAnswer { status, body })
}

/// A credential as cached, with when it stops being used.
#[derive(Debug)]
pub struct Cached<T> {
    /// The credential.
    pub value: T,
    /// After this instant the next caller fetches a new one.
    pub fresh_until: Instant,
    generation: u64,
}

/// The last failed fetch, handed to callers that were waiting for it.
struct Failure<E> {
    at: Instant,
    error: E,
}

/// The cache. `E` is the fetch's error, cloned to every caller that waited on a failed fetch.
pub struct CredentialCache<T, E> {
    current: RwLock<Option<Arc<Cached<T>>>>,
    last_failure: RwLock<Option<Failure<E>>>,
    refresh: tokio::sync::Mutex<()>,
    fetches: AtomicU64,
}

impl<T, E: Clone> Default for CredentialCache<T, E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, E: Clone> CredentialCache<T, E> {
    /// An empty cache: the first `get` fetches.
    pub fn new() -> Self {
        Self {
            current: RwLock::new(None),
            last_failure: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
            fetches: AtomicU64::new(0),
        }
    }

    /// The cached credential when fresh, else the result of `fetch`, which answers the credential and how long
    /// to use it. At most one fetch runs at a time; callers arriving during it wait and share its result,
    /// including its failure.
    pub async fn get<F, Fut>(&self, fetch: F) -> Result<Arc<Cached<T>>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(T, Duration), E>>,
    {
        if let Some(cached) = self.fresh() {
            return Ok(cached);
        }
        let waiting_since = Instant::now();
        let _turn = self.refresh.lock().await;
        if let Some(cached) = self.fresh() {
            return Ok(cached);
        }
        // A fetch that failed while we waited answers for us too: without this, a down token endpoint would
        // see every waiting caller try in turn.
        if let Ok(failure) = self.last_failure.read()
            && let Some(f) = failure.as_ref()
            && f.at >= waiting_since
        {
            return Err(f.error.clone());
        }
        // Fetches are serialised by `refresh`, so their count is a generation no two credentials share.
        let generation = self.fetches.fetch_add(1, Ordering::Relaxed) + 1;
        match fetch().await {
            Ok((value, lifetime)) => {
                let cached = Arc::new(Cached {
                    value,
                    fresh_until: Instant::now() + lifetime,
                    generation,
                });
                if let Ok(mut current) = self.current.write() {
                    *current = Some(cached.clone());
                }
                Ok(cached)
            }
            Err(error) => {
                if let Ok(mut failure) = self.last_failure.write() {
                    *failure = Some(Failure {
                        at: Instant::now(),
                        error: error.clone(),
                    });
                }
                Err(error)
            }
        }
    }

    /// Forgets `used` because the vendor refused it, unless it was replaced already: many requests refused
    /// with the same stale credential cause one fetch, not one each.
    pub fn invalidate(&self, used: &Cached<T>) {
        if let Ok(mut current) = self.current.write()
            && current
                .as_ref()
                .is_some_and(|c| c.generation == used.generation)
        {
            *current = None;
        }
    }

    /// How many fetches were started (for tests and metrics).
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    fn fresh(&self) -> Option<Arc<Cached<T>>> {
        let current = self.current.read().ok()?;
        current
            .as_ref()
            .filter(|c| Instant::now() < c.fresh_until)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use super::*;

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch() {
        let cache = Arc::new(CredentialCache::<u32, String>::new());
        let calls = Arc::new(AtomicU32::new(0));
        let mut tasks = Vec::new();
        for _ in 0..200 {
            let (cache, calls) = (cache.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get(|| async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok((7, Duration::from_secs(60)))
                    })
                    .await
                    .map(|c| c.value)
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), Ok(7));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(cache.fetches(), 1);
    }

    #[tokio::test]
    async fn invalidating_a_replaced_credential_does_nothing() {
        let cache = CredentialCache::<u32, String>::new();
        let first = cache
            .get(|| async { Ok((1, Duration::from_secs(60))) })
            .await
            .unwrap();
        cache.invalidate(&first);
        let second = cache
            .get(|| async { Ok((2, Duration::from_secs(60))) })
            .await
            .unwrap();
        assert_eq!(second.value, 2);
        // A late refusal of the first credential must not throw the second away.
        cache.invalidate(&first);
        let again = cache
            .get(|| async { Ok((3, Duration::from_secs(60))) })
            .await
            .unwrap();
        assert_eq!(again.value, 2);
        assert_eq!(cache.fetches(), 2);
    }

    #[tokio::test]
    async fn an_expired_credential_is_fetched_again() {
        let cache = CredentialCache::<u32, String>::new();
        cache
            .get(|| async { Ok((1, Duration::ZERO)) })
            .await
            .unwrap();
        let next = cache
            .get(|| async { Ok((2, Duration::from_secs(60))) })
            .await
            .unwrap();
        assert_eq!(next.value, 2);
    }

    #[tokio::test]
    async fn waiters_share_a_failed_fetch() {
        let cache = Arc::new(CredentialCache::<u32, String>::new());
        let calls = Arc::new(AtomicU32::new(0));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (cache, calls) = (cache.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get(|| async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Err::<(u32, Duration), _>("down".to_string())
                    })
                    .await
                    .map(|c| c.value)
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), Err("down".to_string()));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_failed_grant_is_a_token_outcome_retried_only_when_transient() {
        let down = GrantError::new("unreachable", true).outcome();
        assert_eq!(down.kind(), "token_unavailable");
        assert!(down.is_retryable());
        let refused = GrantError::new("invalid client", false).outcome();
        assert!(matches!(
            refused,
            Outcome::AuthFailed {
                at_token_endpoint: true,
                ..
            }
        ));
        assert!(!refused.is_retryable());
    }

    #[test]
    fn a_refusal_read_from_an_answer_carries_it_to_the_devices() {
        let body = r#"{"result":10206,"desc":"sign 不正确"}"#;
        let read = TokenAnswer {
            status: 200,
            body: body.into(),
        }
        .read(|_, _| Err::<(), _>(GrantError::new("vivo auth refused", false)))
        .unwrap_err();
        let answered = Answered::from(read);
        assert_eq!(answered.outcome.kind(), "auth_failed");
        assert_eq!(
            answered.answer,
            VendorAnswer {
                status: 200,
                body: body.into()
            }
        );
        // No answer, nothing to show: the devices' answer stays empty.
        let none = Answered::from(GrantError::new("token endpoint unreachable", true));
        assert_eq!(none.outcome.kind(), "token_unavailable");
        assert_eq!(none.answer, VendorAnswer::default());
    }

    #[tokio::test]
    async fn waiters_on_a_refused_grant_all_get_its_answer() {
        let cache = Arc::new(CredentialCache::<String, GrantError>::new());
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let cache = cache.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get(|| async {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        TokenAnswer {
                            status: 401,
                            body: r#"{"error":"invalid_client"}"#.into(),
                        }
                        .read(|status, _| Err(GrantError::new(format!("answered {status}"), false)))
                    })
                    .await
                    .map(|c| c.value.clone())
            }));
        }
        for t in tasks {
            let answer = t.await.unwrap().unwrap_err().answer.unwrap();
            assert_eq!(answer.status, 401);
            assert_eq!(&*answer.body, r#"{"error":"invalid_client"}"#);
        }
        assert_eq!(cache.fetches(), 1);
    }
}
