//! pushgate: a self-hosted push-notification gateway behind one gRPC API.
//!
//! The binary (`src/main.rs`) is a thin CLI over this library; `server::run` is where a server is assembled.
//! ARCHITECTURE.md at the repository's root is the map of the modules.

pub mod api;
pub mod callback;
pub mod channel;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod delivery_channel;
pub mod devices;
pub mod dispatch;
pub mod egress;
pub mod labels;
pub mod notifier;
pub mod proto;
pub mod push;
pub mod rest;
pub mod sandbox;
pub mod secret;
pub mod server;
pub mod settings;
pub mod store;
pub mod tasks;
pub mod telemetry;
pub mod tenant;
pub mod time_zone;
pub mod validate;
