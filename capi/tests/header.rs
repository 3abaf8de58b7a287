//! The committed `include/repalign.h` must be exactly what cbindgen generates from the
//! current sources (build.rs writes the fresh copy to `$OUT_DIR`). Runs with the
//! `cbindgen` feature only: `cargo test -p repalign-capi --features cbindgen`.
#![cfg(feature = "cbindgen")]

const GENERATED: &str = include_str!(env!("REPALIGN_GENERATED_HEADER"));
const COMMITTED: &str = include_str!("../../include/repalign.h");

#[test]
fn committed_header_is_up_to_date() {
    if GENERATED != COMMITTED {
        let line = GENERATED.lines().zip(COMMITTED.lines()).position(|(g, c)| g != c).map_or_else(
            || format!("lengths differ ({} vs {} lines)", GENERATED.lines().count(), COMMITTED.lines().count()),
            |i| format!("first difference at line {}", i + 1),
        );
        panic!(
            "include/repalign.h is stale ({line}). Regenerate it and commit the result:\n    \
             REPALIGN_WRITE_HEADER=1 cargo build -p repalign-capi --features cbindgen"
        );
    }
}
