//! Records the exact wasmtime version from Cargo.lock for `flowctl_build_info`
//! (Cargo gives no other way to learn a dependency's resolved version).

fn main() {
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
