//! Code generated from `proto/pushgate/v1` (the contract) and `proto/pushgate/cluster/v1` (between
//! replicas) by `build.rs`.

/// The `pushgate.v1` package: messages, clients and servers.
#[allow(clippy::all, missing_docs)]
pub mod v1 {
    tonic::include_proto!("pushgate.v1");
}

/// The `pushgate.cluster.v1` package: the calls between replicas (their internal listener only).
#[allow(clippy::all, missing_docs)]
pub mod cluster_v1 {
    tonic::include_proto!("pushgate.cluster.v1");
}

/// The encoded `FileDescriptorSet` of the whole contract (imports included), served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/pushgate_descriptor.bin"));
