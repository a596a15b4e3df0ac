//! Vendor dispatchers against the sandbox's fake vendors over real TLS and HTTP/2: fields where the vendor
//! expects them, every error class, credential refresh under load, Retry-After, bounded backoff, the circuit
//! breaker and connection reuse.

#[path = "../common/mod.rs"]
mod common;

mod apns;
mod china;
mod fcm;
