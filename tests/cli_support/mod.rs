//! Helpers shared by the command-line tests (`tests/cli*.rs`, each with `mod cli_support;`):
//! a temporary directory, running the `repalign` binary and checking its exit status and
//! streams, reproducible inputs and `.npy` files.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

use npyz::WriterBuilder;
use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_repalign");

/// A directory removed when dropped. Its name holds the test file's name and the process id,
/// so that test binaries running side by side never share one.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let test = env!("CARGO_CRATE_NAME");
        let dir = std::env::temp_dir().join(format!("repalign-{test}-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    pub fn path(&self, file: &str) -> String {
        self.0.join(file).to_str().unwrap().to_string()
    }
    /// The names in the directory, sorted: no temporary file may be left behind.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(&self.0).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn repalign(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("the binary runs")
}

/// Runs a command that must succeed; returns (stdout, stderr), stderr unchecked.
pub fn run_ok(args: &[&str]) -> (String, String) {
    let out = repalign(args);
    let (stdout, stderr) = (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap());
    assert!(out.status.success(), "repalign {args:?} failed: {stderr}");
    (stdout, stderr)
}

/// Runs a command that must succeed and write nothing to stderr (no progress or chatter when
/// it is not a terminal); returns its stdout.
pub fn ok(args: &[&str]) -> String {
    let (stdout, stderr) = run_ok(args);
    assert_eq!(stderr, "", "repalign {args:?} wrote to stderr");
    stdout
}

fn parse(args: &[&str], stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("repalign {args:?}: not JSON ({e}): {stdout}"))
}

/// [`ok`]'s stdout as JSON (stderr must be empty).
pub fn json(args: &[&str]) -> Value {
    parse(args, &ok(args))
}

/// [`run_ok`]'s stdout as JSON, with its stderr (unchecked).
pub fn json_of(args: &[&str]) -> (Value, String) {
    let (stdout, stderr) = run_ok(args);
    (parse(args, &stdout), stderr)
}

/// Runs a command that must fail with `code` and print nothing; returns its stderr.
pub fn fails(args: &[&str], code: i32) -> String {
    check_fails(repalign(args), args, code)
}

/// `out` of `repalign args` failed with `code`, printed nothing, and wrote an error; returns
/// its stderr.
pub fn check_fails(out: Output, args: &[&str], code: i32) -> String {
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(code), "repalign {args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "repalign {args:?} printed to stdout");
    assert!(stderr.starts_with("repalign: error: "), "repalign {args:?}: {stderr}");
    stderr
}

/// A reproducible xorshift sequence.
fn xorshift(seed: u64) -> impl Iterator<Item = u64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    std::iter::repeat_with(move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    })
}

/// Reproducible small integers in [-8, 8] (exact in f32, f16 and bf16).
pub fn ints(len: usize, seed: u64) -> Vec<f32> {
    xorshift(seed).take(len).map(|s| (s % 17) as f32 - 8.0).collect()
}

/// Reproducible values in [-1, 1).
pub fn random(len: usize, seed: u64) -> Vec<f32> {
    xorshift(seed).take(len).map(|s| (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0).collect()
}

/// The bytes of a version 1.0 `.npy` file of dtype `descr` (e.g. `<f4`, `>f2`): its header
/// (padded to 64 bytes) for `shape` (e.g. `(3, 4)`), then `data` as given.
pub fn raw_npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((dict.len() as u16).to_le_bytes());
    bytes.extend(dict.as_bytes());
    bytes.extend(data);
    bytes
}

/// An `.npy` file of `values`' dtype.
pub fn write_npy<T: npyz::AutoSerialize + Copy>(path: &str, shape: &[u64], values: &[T]) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = npyz::WriteOptions::new().default_dtype().shape(shape).writer(file).begin_nd().unwrap();
    w.extend(values.iter().copied()).unwrap();
    w.finish().unwrap();
}
