//! Where outgoing requests that a tenant can steer may go.
//!
//! A notifier may override its vendor's send and token URLs (to aim at a staging host or a test double), and
//! the gateway POSTs the notifier's credentials there and hands the answer back to the caller. Left open,
//! that lets any app token make the gateway reach hosts on its own network (server-side request forgery).
//! So the operator decides: [`EgressPolicy`] holds the hosts, host patterns, addresses and CIDRs the operator
//! listed, beside which only the vendors' own public hosts are reachable, over HTTPS.
//!
//! The check runs twice: on the URL when a notifier is created or updated ([`EgressPolicy::check_url`]), and
//! on every address a host name resolves to when a connection is made ([`GuardedResolver`]), so a name that
//! later resolves to a private address (DNS rebinding) is refused too.

mod address;
mod entry;
mod policy;
mod resolver;

pub use address::is_internal;
pub use entry::Entry;
pub use policy::{EgressPolicy, Refused, VENDOR_DOMAINS};
pub use resolver::GuardedResolver;
