//! The operator's list and the rules that judge a URL, and an address at connect time, against it.

use std::{net::IpAddr, sync::Arc};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{
    address::is_internal,
    entry::{Entry, Host},
};

/// The domains of the vendors' own endpoints (a host is one of them or under one): always reachable over
/// HTTPS, so a notifier may name a vendor's regional or development host without the operator's consent.
pub const VENDOR_DOMAINS: &[&str] = &[
    "push.apple.com",
    "googleapis.com",
    "cloud.huawei.com",
    "hihonor.com",
    "xiaomi.com",
    "oppomobile.com",
    "vivo.com.cn",
    "meizu.com",
];

/// The setting that holds the list, named in every refusal so an operator knows what to change.
const SETTING: &str = "dispatch.allowed_endpoints";

/// Why a URL or an address is not reachable for a notifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not an absolute http(s) URL with a host.
    #[error("is not an absolute http or https URL")]
    NotUrl,
    /// A host that is neither a vendor's nor listed.
    #[error(
        "names {host}, which is neither a vendor's own host nor listed in {SETTING} by the operator"
    )]
    NotListed {
        /// The host as written.
        host: String,
    },
    /// An address literal in a loopback, private or link-local range that is not listed.
    #[error("names {host}, an internal address that {SETTING} does not list")]
    InternalLiteral {
        /// The address as written.
        host: String,
    },
    /// `http://` to a vendor host: only hosts the operator listed may be reached in clear.
    #[error(
        "uses plain http:// for {host}; only hosts listed in {SETTING} may be reached without TLS"
    )]
    PlainHttp {
        /// The host as written.
        host: String,
    },
    /// At connect time: the name resolved to an internal address that is not listed.
    #[error("{host} resolves to {ip}, an internal address that {SETTING} does not list")]
    ResolvedInternal {
        /// The name that was resolved.
        host: String,
        /// The address it resolved to.
        ip: IpAddr,
    },
}

/// The hosts, patterns, addresses and networks the operator lets notifiers be aimed at, beside the vendors'
/// own hosts. Empty by default. Cheap to clone: every client of every notifier holds one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    entries: Arc<[Entry]>,
}

impl EgressPolicy {
    /// A policy allowing `entries` beside the vendors' hosts.
    pub fn new(entries: impl IntoIterator<Item = Entry>) -> Self {
        Self {
            entries: entries.into_iter().collect(),
        }
    }

    /// This policy with `more` entries allowed too.
    pub fn allowing(&self, more: impl IntoIterator<Item = Entry>) -> Self {
        Self::new(self.entries.iter().cloned().chain(more))
    }

    /// The operator's entries.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Whether a notifier may be aimed at `url`: a listed host (over http or https), or a vendor's own host
    /// over https.
    pub fn check_url(&self, url: &str) -> Result<(), Refused> {
        let uri: http::Uri = url.parse().map_err(|_| Refused::NotUrl)?;
        let (Some(scheme), Some(written)) = (uri.scheme_str(), uri.host()) else {
            return Err(Refused::NotUrl);
        };
        let https = match scheme {
            "https" => true,
            "http" => false,
            _ => return Err(Refused::NotUrl),
        };
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let host = Host::parse(written);
        if self.entries.iter().any(|e| e.matches(&host, port)) {
            return Ok(());
        }
        let written = written.to_owned();
        match host {
            Host::Name(name) if is_vendor_host(&name) => match https {
                true => Ok(()),
                false => Err(Refused::PlainHttp { host: written }),
            },
            Host::Ip(ip) if is_internal(ip) => Err(Refused::InternalLiteral { host: written }),
            _ => Err(Refused::NotListed { host: written }),
        }
    }

    /// Whether a connection to `ip`, which `name` resolved to, may be made: a public address always (the
    /// name itself was checked with the URL), an internal one only when the operator listed that address or
    /// network, or listed `name` exactly (not through a pattern).
    pub fn check_resolved(&self, name: &str, ip: IpAddr) -> Result<(), Refused> {
        if !is_internal(ip) {
            return Ok(());
        }
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if self
            .entries
            .iter()
            .any(|e| e.covers(ip) || e.names_exactly(&name))
        {
            return Ok(());
        }
        Err(Refused::ResolvedInternal { host: name, ip })
    }
}

/// Whether `name` (lower case) is one of [`VENDOR_DOMAINS`] or under one.
fn is_vendor_host(name: &str) -> bool {
    VENDOR_DOMAINS.iter().any(|domain| {
        name == *domain
            || name
                .strip_suffix(domain)
                .is_some_and(|head| head.ends_with('.'))
    })
}

// In the configuration the policy is a list of strings, checked when the configuration is loaded.
impl Serialize for EgressPolicy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.entries.iter().map(ToString::to_string))
    }
}

impl<'de> Deserialize<'de> for EgressPolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        let entries = texts
            .iter()
            .map(|t| t.parse::<Entry>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| serde::de::Error::custom(format!("{SETTING}: {e}")))?;
        Ok(Self::new(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(entries: &[&str]) -> EgressPolicy {
        EgressPolicy::new(entries.iter().map(|e| e.parse().unwrap()))
    }

    #[test]
    fn by_default_only_vendor_hosts_over_https() {
        let p = EgressPolicy::default();
        for ok in [
            "https://api.push.apple.com",
            "https://api.development.push.apple.com:2197",
            "https://fcm.googleapis.com/",
            "https://oauth2.googleapis.com/token",
            "https://push-api.cloud.huawei.com",
            "https://api.xmpush.global.xiaomi.com",
            "https://API-PUSH.vivo.com.cn.",
        ] {
            assert_eq!(p.check_url(ok), Ok(()), "{ok}");
        }
        assert!(matches!(
            p.check_url("http://fcm.googleapis.com"),
            Err(Refused::PlainHttp { .. })
        ));
        for host in [
            "https://evilgoogleapis.com",
            "https://googleapis.com.evil.net",
            "https://example.com",
        ] {
            assert!(
                matches!(p.check_url(host), Err(Refused::NotListed { .. })),
                "{host}"
            );
        }
        for internal in [
            "http://127.0.0.1:9/internal",
            "https://[::1]/x",
            "https://169.254.169.254/",
        ] {
            assert!(
                matches!(p.check_url(internal), Err(Refused::InternalLiteral { .. })),
                "{internal}"
            );
        }
        assert_eq!(p.check_url("ftp://x"), Err(Refused::NotUrl));
        assert_eq!(p.check_url("/relative"), Err(Refused::NotUrl));
    }

    #[test]
    fn listed_hosts_may_use_plain_http_and_ports_count() {
        let p = policy(&[
            "127.0.0.1:8601",
            "staging.example.com",
            "*.corp.example",
            "10.0.0.0/8",
        ]);
        assert_eq!(p.check_url("http://127.0.0.1:8601/apns"), Ok(()));
        assert!(p.check_url("http://127.0.0.1:8602/").is_err());
        assert_eq!(p.check_url("http://staging.example.com/"), Ok(()));
        assert_eq!(p.check_url("https://a.corp.example:8443/"), Ok(()));
        assert_eq!(p.check_url("http://10.20.30.40/"), Ok(()));
        assert!(p.check_url("https://corp.example/").is_err());
    }

    #[test]
    fn resolved_internal_addresses_need_a_listing() {
        let p = policy(&["staging.example.com", "*.corp.example", "10.1.0.0/16"]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Public addresses are fine for any name the URL check let through.
        assert_eq!(
            p.check_resolved("a.corp.example", ip("142.250.1.1")),
            Ok(())
        );
        // A name listed exactly may resolve anywhere the operator's DNS says.
        assert_eq!(
            p.check_resolved("staging.example.com", ip("10.9.9.9")),
            Ok(())
        );
        // A pattern vouches for no internal address (a rebinding tenant subdomain).
        assert!(p.check_resolved("a.corp.example", ip("127.0.0.1")).is_err());
        assert_eq!(p.check_resolved("a.corp.example", ip("10.1.2.3")), Ok(()));
        // A vendor's name that resolves inside the network is refused too.
        assert!(matches!(
            EgressPolicy::default().check_resolved("fcm.googleapis.com", ip("::ffff:192.168.1.1")),
            Err(Refused::ResolvedInternal { .. })
        ));
    }

    #[test]
    fn config_form_is_a_list_of_strings() {
        #[derive(Deserialize, Serialize)]
        struct C {
            allowed: EgressPolicy,
        }
        let c: C = toml::from_str(r#"allowed = ["10.0.0.0/8", "x.example.com:8443"]"#).unwrap();
        assert_eq!(c.allowed.entries().len(), 2);
        assert_eq!(
            toml::to_string(&c).unwrap().trim(),
            r#"allowed = ["10.0.0.0/8", "x.example.com:8443"]"#
        );
        let err = toml::from_str::<C>(r#"allowed = ["https://x"]"#)
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("dispatch.allowed_endpoints"),
            "{err}"
        );
    }
}
