//! Several replicas of pushgate on one shared store (PostgreSQL): who they are (`membership.rs`) and the
//! `[cluster]` section (`config.rs`). On sled the one process is the one replica, and the same code runs.

mod config;
mod membership;

pub use config::ClusterConfig;
pub use membership::Membership;
