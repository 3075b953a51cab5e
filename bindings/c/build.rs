//! Generates the C header (`logship.h`) from this crate's source with cbindgen, into OUT_DIR. With
//! `LOGSHIP_UPDATE_HEADER=1` it also refreshes the committed copy, include/logship.h at the
//! repository root; ordinary builds never write into the source tree. tests/c_door.rs fails when
//! the committed copy is stale.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=LOGSHIP_UPDATE_HEADER");

    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let config = cbindgen::Config::from_file(manifest_dir.join("cbindgen.toml"))
        .unwrap_or_else(|e| panic!("cbindgen.toml: {e}"));
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(manifest_dir.join("src/exports.rs"))
        .generate()
        .unwrap_or_else(|e| {
            panic!("cbindgen could not generate logship.h from src/exports.rs: {e}")
        });

    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    bindings.write_to_file(out_dir.join("logship.h"));
    if std::env::var_os("LOGSHIP_UPDATE_HEADER").is_some_and(|v| v == "1") {
        bindings.write_to_file(manifest_dir.join("../../include/logship.h"));
    }
}
