//! Compiles the API contract in `proto/pushgate/v1` with protox (pure Rust, so no system `protoc` is needed)
//! and generates the tonic clients and servers from the resulting descriptor set; the same for the calls
//! between replicas in `proto/pushgate/cluster/v1`.

use std::{env, fs, io, path::PathBuf};

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = PathBuf::from("proto/pushgate/v1");
    let mut files = fs::read_dir(&proto_dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<Vec<_>, io::Error>>()?;
    files.retain(|path| path.extension().is_some_and(|ext| ext == "proto"));
    // Sorted so that the generated code and the descriptor set do not depend on directory order.
    files.sort();

    let descriptors = protox::compile(&files, ["proto"])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    // Served by gRPC reflection, so that tools like grpcurl see the whole contract with its comments.
    fs::write(
        out_dir.join("pushgate_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;

    // Type names (`prost::Name`) let code find a message's descriptor in the set above, which the CLI's
    // protobuf JSON is read and written with.
    let mut config = prost_build::Config::new();
    config.enable_type_names();
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds_with_config(descriptors, config)?;

    // The calls between replicas: generated beside the contract, but kept out of its descriptor set, so
    // reflection on the public listener does not list them.
    let internal = protox::compile(["proto/pushgate/cluster/v1/relay.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(internal)?;

    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
