//! One entry of the operator's list: a host name, a `*.` pattern, an address or a CIDR, with an optional port.

use std::{
    fmt,
    net::{IpAddr, Ipv6Addr},
    str::FromStr,
};

/// A place the operator allows notifiers to be aimed at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Exactly this host name (`push.staging.example.com`).
    Name {
        /// Lower case, no trailing dot.
        name: String,
        /// Only this port, when given.
        port: Option<u16>,
    },
    /// Any host name under a domain (`*.staging.example.com`), not the domain itself.
    Suffix {
        /// The domain with its leading dot (`.staging.example.com`).
        suffix: String,
        /// Only this port, when given.
        port: Option<u16>,
    },
    /// An address (`127.0.0.1`, `[::1]:8443`) or a network (`10.0.0.0/8`, `fd00::/8`).
    Net {
        /// The network's first address.
        base: IpAddr,
        /// Leading bits that must match: 32 or 128 for one address.
        prefix: u8,
        /// Only this port, when given (never with a network).
        port: Option<u16>,
    },
}

/// The host of a URL, as [`Entry::matches`] compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A DNS name, lower case, no trailing dot.
    Name(String),
    /// An address literal.
    Ip(IpAddr),
}

impl Host {
    /// The host part of a URL (`http::Uri::host`, IPv6 in brackets) as a name or an address.
    pub fn parse(host: &str) -> Self {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<IpAddr>() {
            Ok(ip) => Host::Ip(ip),
            Err(_) => Host::Name(host.trim_end_matches('.').to_ascii_lowercase()),
        }
    }
}

impl Entry {
    /// Whether a URL's `host` and `port` fall under this entry.
    pub fn matches(&self, host: &Host, port: u16) -> bool {
        let port_ok = |want: &Option<u16>| want.is_none_or(|p| p == port);
        match (self, host) {
            (Entry::Name { name, port: p }, Host::Name(h)) => name == h && port_ok(p),
            (Entry::Suffix { suffix, port: p }, Host::Name(h)) => {
                h.ends_with(suffix.as_str()) && port_ok(p)
            }
            (Entry::Net { port: p, .. }, Host::Ip(ip)) => self.covers(*ip) && port_ok(p),
            _ => false,
        }
    }

    /// Whether `ip` lies in this entry's address or network (names cover no address).
    pub fn covers(&self, ip: IpAddr) -> bool {
        let Entry::Net { base, prefix, .. } = self else {
            return false;
        };
        match (base, canonical(ip)) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(*prefix)).unwrap_or(0);
                u32::from(*base) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(base), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(*prefix)).unwrap_or(0);
                u128::from(*base) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }

    /// Whether this entry names `name` exactly: the operator vouched for whatever that name resolves to.
    pub fn names_exactly(&self, name: &str) -> bool {
        matches!(self, Entry::Name { name: n, .. } if n == name)
    }
}

/// An IPv4 address mapped into IPv6 compares as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl FromStr for Entry {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let text = raw.trim();
        let bad = |why: &str| format!("{raw:?} {why}");
        if text.is_empty() {
            return Err(bad("is empty"));
        }
        if text.contains("://") || text.contains('@') {
            return Err(bad(
                "must be a host, not a URL: write it without scheme, user or path",
            ));
        }
        if let Some((net, bits)) = text.split_once('/') {
            let base: IpAddr = net
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| bad("is not a CIDR: the part before '/' is not an address"))?;
            let max = if base.is_ipv4() { 32 } else { 128 };
            let prefix: u8 = bits
                .parse()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| bad(&format!("is not a CIDR: the prefix must be 0..={max}")))?;
            return Ok(Entry::Net {
                base: canonical(base),
                prefix,
                port: None,
            });
        }
        // `[v6]`, `[v6]:port`, a bare v6 address (more than one colon), or `host[:port]`.
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (inside, after) = rest
                .split_once(']')
                .ok_or_else(|| bad("has an unclosed '['"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(bad("has text after ']' that is not a port")),
            };
            (inside, port)
        } else if text.matches(':').count() > 1 {
            (text, None)
        } else {
            match text.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (text, None),
            }
        };
        let port = port
            .map(|p| {
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| bad("has a port that is not 1..=65535"))
            })
            .transpose()?;
        if let Ok(ip) = host.parse::<IpAddr>() {
            let ip = canonical(ip);
            let prefix = if ip.is_ipv4() { 32 } else { 128 };
            return Ok(Entry::Net {
                base: ip,
                prefix,
                port,
            });
        }
        if host.parse::<Ipv6Addr>().is_err() && host.contains(':') {
            return Err(bad("is not an address"));
        }
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        let (pattern, labels) = match name.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, name.as_str()),
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !labels.split('.').all(label_ok) {
            return Err(bad(
                "is not a host name, '*.' pattern, address or CIDR (names are ASCII labels of letters, digits and '-')",
            ));
        }
        if pattern && !labels.contains('.') {
            return Err(bad(
                "is too wide: a '*.' pattern needs at least two labels after it",
            ));
        }
        Ok(if pattern {
            Entry::Suffix {
                suffix: format!(".{labels}"),
                port,
            }
        } else {
            Entry::Name { name, port }
        })
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let port = |f: &mut fmt::Formatter<'_>, p: &Option<u16>| match p {
            Some(p) => write!(f, ":{p}"),
            None => Ok(()),
        };
        match self {
            Entry::Name { name, port: p } => {
                f.write_str(name)?;
                port(f, p)
            }
            Entry::Suffix { suffix, port: p } => {
                write!(f, "*{suffix}")?;
                port(f, p)
            }
            Entry::Net {
                base,
                prefix,
                port: p,
            } => {
                let full = if base.is_ipv4() { 32 } else { 128 };
                match (base, p) {
                    (_, _) if *prefix != full => write!(f, "{base}/{prefix}"),
                    (IpAddr::V6(v6), Some(p)) => write!(f, "[{v6}]:{p}"),
                    (_, p) => {
                        write!(f, "{base}")?;
                        port(f, p)
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(s: &str) -> Entry {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    fn name(s: &str) -> Host {
        Host::parse(s)
    }

    #[test]
    fn parses_every_form_and_prints_it_back() {
        for text in [
            "push.example.com",
            "push.example.com:8443",
            "*.staging.example.com",
            "127.0.0.1",
            "127.0.0.1:8601",
            "10.0.0.0/8",
            "::1",
            "[::1]:8443",
            "fd00::/8",
        ] {
            assert_eq!(entry(text).to_string(), text);
        }
        assert_eq!(entry("[::1]").to_string(), "::1");
        assert_eq!(entry("Push.Example.COM.").to_string(), "push.example.com");
    }

    #[test]
    fn refuses_what_is_not_an_entry() {
        for bad in [
            "",
            "https://x.example.com",
            "user@x.example.com",
            "10.0.0.0/33",
            "x/8",
            "*.com",
            "*",
            "a..b",
            "x.example.com:0",
            "x.example.com:99999",
            "[::1",
            "exa mple.com",
            "ünïcode.example",
        ] {
            assert!(bad.parse::<Entry>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn matching() {
        let host = entry("push.example.com");
        assert!(host.matches(&name("PUSH.example.com."), 443));
        assert!(!host.matches(&name("x.push.example.com"), 443));
        let with_port = entry("push.example.com:8443");
        assert!(with_port.matches(&name("push.example.com"), 8443));
        assert!(!with_port.matches(&name("push.example.com"), 443));
        let pattern = entry("*.example.com");
        assert!(pattern.matches(&name("a.b.example.com"), 1));
        assert!(!pattern.matches(&name("example.com"), 1));
        assert!(!pattern.matches(&name("evilexample.com"), 1));
        let net = entry("10.0.0.0/8");
        assert!(net.matches(&name("10.9.8.7"), 80));
        assert!(net.covers("::ffff:10.1.1.1".parse().unwrap()));
        assert!(!net.matches(&name("11.0.0.1"), 80));
        assert!(!net.matches(&name("ten.example.com"), 80));
        let loopback = entry("127.0.0.1:8601");
        assert!(loopback.matches(&name("127.0.0.1"), 8601));
        assert!(!loopback.matches(&name("127.0.0.1"), 8602));
        assert!(entry("::1").matches(&name("[::1]"), 5));
        assert!(entry("0.0.0.0/0").covers("8.8.8.8".parse().unwrap()));
    }
}
