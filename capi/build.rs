//! Generates `repalign.h` with cbindgen when the `cbindgen` feature is on: always into
//! `$OUT_DIR/repalign.h` (read by `tests/header.rs`), and into the committed
//! `include/repalign.h` at the repository root when `REPALIGN_WRITE_HEADER=1`.
//! Without the feature it does nothing, so ordinary builds need no cbindgen.

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=REPALIGN_WRITE_HEADER");
    #[cfg(feature = "cbindgen")]
    header::generate();
}

#[cfg(feature = "cbindgen")]
mod header {
    use std::env;
    use std::path::PathBuf;

    pub fn generate() {
        let dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
        let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
        let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("capi/cbindgen.toml");
        let bindings = cbindgen::Builder::new()
            .with_crate(&dir)
            .with_config(config)
            .generate()
            .expect("cbindgen could not generate repalign.h");
        let generated = out_dir.join("repalign.h");
        bindings.write_to_file(&generated);
        println!("cargo:rustc-env=REPALIGN_GENERATED_HEADER={}", generated.display());
        if env::var_os("REPALIGN_WRITE_HEADER").is_some_and(|v| v == "1") {
            let committed = dir.join("..").join("include").join("repalign.h");
            bindings.write_to_file(&committed);
            println!("cargo:warning=wrote {}", committed.display());
        }
    }
}
