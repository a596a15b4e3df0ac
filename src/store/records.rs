//! Internal records the store keeps, encoded with prost like the API types.
//!
//! Times are Unix milliseconds.

/// One app (tenant).
#[derive(Clone, PartialEq, prost::Message)]
pub struct AppRecord {
    /// `org#app`.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Public client id for `IssueToken`.
    #[prost(string, tag = "2")]
    pub client_id: String,
    /// SHA-256 of the client secret; the secret itself is never stored.
    #[prost(bytes = "vec", tag = "3")]
    pub secret_hash: Vec<u8>,
    /// Random id of the current secret; tokens carry it, so a rotation revokes every older token.
    #[prost(uint64, tag = "4")]
    pub secret_id: u64,
    /// Creation time.
    #[prost(int64, tag = "5")]
    pub create_time_ms: i64,
    /// Time the current secret was set.
    #[prost(int64, tag = "6")]
    pub secret_time_ms: i64,
    /// Time zone for do-not-disturb intervals.
    #[prost(string, tag = "7")]
    pub time_zone: String,
}

/// One callback rule of an app.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CallbackRuleRecord {
    /// Rule name, unique in the app.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Receiver URL.
    #[prost(string, tag = "2")]
    pub url: String,
    /// Signing secret (needed in clear to compute the seed's md5 `security` field).
    #[prost(string, tag = "3")]
    pub secret: String,
    /// Whether deliveries are sent.
    #[prost(bool, tag = "4")]
    pub enabled: bool,
    /// `pushgate.v1.DeliveryStatus` values to send; empty means all.
    #[prost(int32, repeated, tag = "5")]
    pub statuses: Vec<i32>,
    /// Creation time.
    #[prost(int64, tag = "6")]
    pub create_time_ms: i64,
    /// Last change.
    #[prost(int64, tag = "7")]
    pub update_time_ms: i64,
}
