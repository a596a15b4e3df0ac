//! Several replicas of pushgate on one shared store (PostgreSQL): who they are (`membership.rs`), the leases
//! they hold on background work (`lease.rs`), rate limits they keep together (`rate.rs`), and the
//! `[cluster]` section (`config.rs`). On sled the one process is the one replica, and the same code runs.

mod config;
mod lease;
mod membership;
mod rate;

pub use config::ClusterConfig;
pub use lease::{Held, Leases, OneReplica};
pub use membership::{Holder, Membership};
pub use rate::{RateError, SharedRate};
