//! The `[dispatch]` section of the configuration: what every notifier's lane is built with.

use std::{path::PathBuf, time::Duration};

use serde::{Deserialize, Serialize};

use crate::{egress::EgressPolicy, proto::v1::Vendor};

use super::retry::RetryPolicy;

/// Vendor dispatch: timeouts, retries, rate limits, circuit breaking, extra trusted CAs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DispatchConfig {
    /// Longest TCP + TLS connect to a vendor.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Longest vendor request, from sending to the whole answer.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Vendor requests per device at most, the first included (transient failures and rate limits are
    /// retried; nothing else is).
    pub max_attempts: u32,
    /// Backoff ceiling of the first retry; it doubles with each retry and is drawn with full jitter.
    #[serde(with = "humantime_serde")]
    pub retry_base_delay: Duration,
    /// Longest wait between attempts; a vendor's Retry-After beyond it ends the retries.
    #[serde(with = "humantime_serde")]
    pub retry_max_delay: Duration,
    /// Vendor requests in flight per notifier at most (APNs: concurrent HTTP/2 streams).
    pub max_in_flight_per_notifier: usize,
    /// Consecutive transient failures of a notifier that open its circuit.
    pub breaker_failures: u32,
    /// How long an open circuit refuses requests before one probe is let through.
    #[serde(with = "humantime_serde")]
    pub breaker_pause: Duration,
    /// How long a notifier rests after a vendor quota answer that says nothing of when the quota resets.
    #[serde(with = "humantime_serde")]
    pub quota_pause: Duration,
    /// Age at which an APNs provider token is signed anew. Apple refuses tokens older than 60 minutes and
    /// throttles re-signing more often than every 20, so this must lie between the two.
    #[serde(with = "humantime_serde")]
    pub apns_token_refresh: Duration,
    /// A PEM file of CA certificates trusted for every vendor endpoint, in addition to the public web roots
    /// (a corporate proxy, a staging host, the sandbox).
    pub extra_ca_certificates_file: Option<PathBuf>,
    /// Hosts (`push.example.com`, `push.example.com:8443`), patterns (`*.staging.example.com`), addresses
    /// (`10.0.0.7`, `[::1]:8443`) and networks (`10.0.0.0/8`) that a notifier's `send_base_url` and
    /// `token_base_url` may name, beside the vendors' own hosts (always allowed, over HTTPS only). Empty by
    /// default: tenants cannot aim the gateway at anything else. Listed hosts may use plain `http://`;
    /// loopback, private and link-local addresses are refused unless listed, also when a name resolves to
    /// one at connect time (only a name listed exactly, not a pattern, may resolve to one).
    pub allowed_endpoints: EgressPolicy,
    /// Whether a notifier may bring its own `extra_ca_certificates_pem` (trusted for that notifier only). Off
    /// by default: a tenant's CA lets its notifier reach hosts with certificates no public CA signed.
    pub allow_notifier_ca_certificates: bool,
    /// Requests per second per notifier when the notifier sets no `qps_limit`; 0 means unlimited.
    pub qps: VendorQps,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_attempts: 3,
            retry_base_delay: Duration::from_millis(200),
            retry_max_delay: Duration::from_secs(30),
            max_in_flight_per_notifier: 1000,
            breaker_failures: 20,
            breaker_pause: Duration::from_secs(30),
            quota_pause: Duration::from_secs(60),
            apns_token_refresh: Duration::from_secs(50 * 60),
            extra_ca_certificates_file: None,
            allowed_endpoints: EgressPolicy::default(),
            allow_notifier_ca_certificates: false,
            qps: VendorQps::default(),
        }
    }
}

impl DispatchConfig {
    /// The retry policy these settings describe.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.max_attempts.max(1),
            base_delay: self.retry_base_delay,
            max_delay: self.retry_max_delay,
        }
    }

    /// Whether the settings can work; the reason when they cannot.
    pub fn check(&self) -> Result<(), String> {
        let refresh = self.apns_token_refresh;
        if refresh < Duration::from_secs(20 * 60) || refresh >= Duration::from_secs(60 * 60) {
            return Err(format!(
                "dispatch.apns_token_refresh must be at least 20m and under 60m (Apple's window), got {refresh:?}"
            ));
        }
        if self.max_in_flight_per_notifier == 0 {
            return Err("dispatch.max_in_flight_per_notifier must be at least 1".into());
        }
        if self.request_timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err("dispatch timeouts must be longer than zero".into());
        }
        Ok(())
    }
}

/// Default requests per second per notifier, by vendor (the vendors' published ceilings).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct VendorQps {
    /// APNs: unlimited by default; HTTP/2 streams bound it.
    pub apns: u32,
    /// FCM: about 10,000 messages/s per project.
    pub fcm: u32,
    /// Huawei Push Kit.
    pub huawei: u32,
    /// Honor.
    pub honor: u32,
    /// Xiaomi MiPush.
    pub xiaomi: u32,
    /// OPPO.
    pub oppo: u32,
    /// vivo.
    pub vivo: u32,
    /// Meizu.
    pub meizu: u32,
}

impl Default for VendorQps {
    fn default() -> Self {
        Self {
            apns: 0,
            fcm: 10_000,
            huawei: 6_000,
            honor: 3_000,
            xiaomi: 500,
            oppo: 5_000,
            vivo: 3_000,
            meizu: 200,
        }
    }
}

impl VendorQps {
    /// The default for `vendor`.
    pub fn of(&self, vendor: Vendor) -> u32 {
        match vendor {
            Vendor::Apns => self.apns,
            Vendor::Fcm => self.fcm,
            Vendor::Huawei => self.huawei,
            Vendor::Honor => self.honor,
            Vendor::Xiaomi => self.xiaomi,
            Vendor::Oppo => self.oppo,
            Vendor::Vivo => self.vivo,
            Vendor::Meizu => self.meizu,
            Vendor::Unspecified => 0,
        }
    }
}
