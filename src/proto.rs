//! Code generated from `proto/pushgate/v1` by `build.rs`.

/// The `pushgate.v1` package: messages, clients and servers.
#[allow(clippy::all, missing_docs)]
pub mod v1 {
    tonic::include_proto!("pushgate.v1");
}

/// The encoded `FileDescriptorSet` of the whole contract (imports included), served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/pushgate_descriptor.bin"));
