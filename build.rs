//! Build-time steps:
//! - records the exact wasmtime version from Cargo.lock for `flowctl_build_info`
//!   (Cargo gives no other way to learn a dependency's resolved version);
//! - compiles `proto/flowctl/v1/*.proto` into Rust with protox, a protobuf
//!   compiler written in Rust, so building needs no system `protoc`. The
//!   descriptor set is kept for gRPC server reflection.

use std::path::PathBuf;

const PROTO_ROOT: &str = "proto";
const PROTOS: &[&str] = &[
    "proto/flowctl/v1/common.proto",
    "proto/flowctl/v1/source.proto",
    "proto/flowctl/v1/processor.proto",
    "proto/flowctl/v1/consumer.proto",
    "proto/flowctl/v1/control_plane.proto",
];

fn main() {
    wasmtime_version();
    if let Err(error) = protos() {
        // A build script reports failure by exiting non-zero with the reason on stderr.
        eprintln!("error: cannot compile the .proto files: {error}");
        std::process::exit(1);
    }
}

fn wasmtime_version() {
    println!("cargo:rerun-if-changed=Cargo.lock");
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let version = lock
        .split("[[package]]")
        .find(|package| package.lines().any(|l| l.trim() == "name = \"wasmtime\""))
        .and_then(|package| package.lines().find_map(|l| l.trim().strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"').to_owned())
        .unwrap_or_else(|| "48".to_owned());
    println!("cargo:rustc-env=FLOWCTL_WASMTIME_VERSION={version}");
}

fn protos() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    let descriptors = protox::compile(PROTOS, [PROTO_ROOT])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("flowctl_v1_descriptor.bin"), prost::Message::encode_to_vec(&descriptors))?;
    let mut config = tonic_prost_build::Config::new();
    // Payloads decode as `Bytes` slices of the received buffer: no copy per event.
    config.bytes(["."]);
    tonic_prost_build::configure().compile_fds_with_config(descriptors, config)?;
    Ok(())
}
