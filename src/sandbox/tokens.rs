//! The bearer tokens a fake has issued (Google's and Huawei's access tokens, OPPO's and vivo's auth
//! tokens): what each one grants, when it stops being accepted, and a bound on how many are kept.
//!
//! Kept apart from the grants themselves, which follow each vendor's own rules, so that the bookkeeping
//! every issuer needs (expiry, expiring all through the control API, the memory bound) is written once.

use std::collections::HashMap;

/// Why a presented token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    /// Never issued (or garbage).
    Unknown,
    /// Issued, but past its lifetime or expired through the control API.
    Expired,
}

#[derive(Debug)]
struct Issued<T> {
    grant: T,
    issued_at_ms: i64,
    expires_at_ms: i64,
}

/// Issued tokens, each granting a `T` (the app or project it acts for).
#[derive(Debug)]
pub struct IssuedTokens<T> {
    tokens: HashMap<String, Issued<T>>,
}

impl<T> Default for IssuedTokens<T> {
    fn default() -> Self {
        Self {
            tokens: HashMap::new(),
        }
    }
}

impl<T> IssuedTokens<T> {
    /// Remembers `token`, granting `grant` from `now_ms` for `lifetime_secs`.
    pub fn insert(&mut self, token: String, grant: T, now_ms: i64, lifetime_secs: u64) {
        self.tokens.insert(
            token,
            Issued {
                grant,
                issued_at_ms: now_ms,
                expires_at_ms: now_ms + (lifetime_secs as i64).saturating_mul(1000),
            },
        );
    }

    /// What a live `token` grants.
    pub fn check(&self, token: &str, now_ms: i64) -> Result<&T, TokenRefusal> {
        match self.tokens.get(token) {
            Some(t) if t.expires_at_ms > now_ms => Ok(&t.grant),
            Some(_) => Err(TokenRefusal::Expired),
            None => Err(TokenRefusal::Unknown),
        }
    }

    /// Expires every token issued so far (they are still told from unknown ones).
    pub fn expire_all(&mut self) {
        for t in self.tokens.values_mut() {
            t.expires_at_ms = 0;
        }
    }

    /// At `max` tokens, drops the expired ones (kept until space is needed, so that they can still be told
    /// from unknown ones), then, if that was not enough, the older half.
    pub fn make_room(&mut self, max: usize, now_ms: i64) {
        if self.tokens.len() < max {
            return;
        }
        self.tokens.retain(|_, t| t.expires_at_ms > now_ms);
        self.drop_older_half_at(max);
    }

    /// At `max` tokens, drops the older half, expired or not.
    pub fn drop_older_half_at(&mut self, max: usize) {
        if self.tokens.len() < max {
            return;
        }
        let mut issued: Vec<i64> = self.tokens.values().map(|t| t.issued_at_ms).collect();
        issued.sort_unstable();
        let cut = issued[issued.len() / 2];
        self.tokens.retain(|_, t| t.issued_at_ms > cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expire_and_stay_bounded() {
        let mut tokens = IssuedTokens::default();
        tokens.insert("a".into(), "app", 0, 10);
        assert_eq!(tokens.check("a", 9_999), Ok(&"app"));
        assert_eq!(tokens.check("a", 10_000), Err(TokenRefusal::Expired));
        assert_eq!(tokens.check("b", 0), Err(TokenRefusal::Unknown));
        tokens.insert("b".into(), "app", 0, 10);
        tokens.expire_all();
        assert_eq!(tokens.check("b", 1), Err(TokenRefusal::Expired));

        let mut tokens = IssuedTokens::default();
        tokens.insert("0".into(), (), 0, 0);
        for i in 1..4 {
            tokens.insert(i.to_string(), (), i, 1_000);
        }
        tokens.make_room(4, 3);
        assert_eq!(tokens.check("0", 3), Err(TokenRefusal::Unknown));
        assert_eq!(tokens.tokens.len(), 3, "dropping the expired one made room");
        tokens.insert("4".into(), (), 4, 1_000);
        tokens.make_room(4, 4);
        assert_eq!(tokens.check("3", 4), Err(TokenRefusal::Unknown));
        assert!(tokens.check("4", 4).is_ok());
        tokens.drop_older_half_at(4);
        assert_eq!(tokens.tokens.len(), 1, "below the bound: nothing dropped");
    }
}
