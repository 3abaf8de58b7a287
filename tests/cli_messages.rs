//! The `repalign` binary's messages and exit statuses (issue 13, items 14, 15): option
//! values are checked as a bad command line (exit 2, no file named, the valid range given),
//! and an option that would do nothing is refused.
//!
//! Run with `cargo test --features cli --test cli_messages`.
#![cfg(feature = "cli")]

use std::path::PathBuf;
use std::process::{Command, Output};

use npyz::WriterBuilder;

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("repalign-msg-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self, file: &str) -> String {
        self.0.join(file).to_str().unwrap().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn repalign(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_repalign")).args(args).output().expect("the binary runs")
}

/// Runs a command that must fail with `code`; returns its stderr.
fn fails(args: &[&str], code: i32) -> String {
    let out = repalign(args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(code), "repalign {args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "repalign {args:?} printed to stdout");
    assert!(stderr.starts_with("repalign: error: "), "{stderr}");
    stderr
}

/// Reproducible small integers.
fn ints(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % 17) as f32 - 8.0
        })
        .collect()
}

fn write_npy(path: &str, shape: &[u64], values: &[f32]) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = npyz::WriteOptions::<f32>::new().default_dtype().shape(shape).writer(file).begin_nd().unwrap();
    w.extend(values.iter().copied()).unwrap();
    w.finish().unwrap();
}

const N: usize = 24;
const D: usize = 6;

/// a.npy (N x 6) and b.npy (N x 5), two views of the same samples.
fn pair(dir: &TempDir) -> (String, String) {
    let a = ints(N * D, 1);
    let b: Vec<f32> = a.chunks(D).flat_map(|r| r[..5].to_vec()).collect();
    let (pa, pb) = (dir.path("a.npy"), dir.path("b.npy"));
    write_npy(&pa, &[N as u64, D as u64], &a);
    write_npy(&pb, &[N as u64, 5], &b);
    (pa, pb)
}

// ---- Item 14: option values are checked as a bad command line ----

#[test]
fn bad_option_values_are_command_line_errors_with_their_range() {
    let dir = TempDir::new("values");
    let (pa, pb) = pair(&dir);
    let (a, b) = (pa.as_str(), pb.as_str());
    let out = dir.path("p.npy");
    for (args, range) in [
        (&["score", a, b, "--k", "0"][..], "at least 1"),
        (&["knn", a, "--k", "0"], "at least 1"),
        (&["score", a, b, "--metric", "cknna", "--k", "1"], "at least 2"),
        (&["sweep", a, b, "--prepare", "paper", "--q", "0"], "(0, 1]"),
        (&["prepare", a, "--q", "1.5", "--out", &out], "(0, 1]"),
        (&["score", a, b, "--metric", "cka", "--kernel", "rbf", "--sigma", "0"], "> 0"),
        (&["score", a, b, "--permutations", "10", "--alpha", "0"], "(0, 1)"),
        (&["score", a, b, "--permutations", "0"], "at least 1"),
        (&["score", a, b, "--metric", "svcca", "--cca-dim", "0"], "at least 1"),
    ] {
        let e = fails(args, 2);
        assert!(e.contains(range), "{args:?}: {e}");
        assert!(!e.contains(a) && !e.contains(b), "{args:?} blames a file: {e}");
    }
    #[cfg(target_arch = "x86_64")]
    {
        let e = fails(&["score", a, b, "--isa", "neon"], 2);
        assert!(e.contains("neon") && e.contains("not available") && e.contains("scalar"), "{e}");
        assert!(fails(&["info", "--isa", "neon"], 2).contains("not available"));
    }
    for (args, message) in
        [(&["demo", "--permutations", "0"][..], "at least 1"), (&["demo", "--dtype", "f64"], "f16 or f32")]
    {
        let e = fails(args, 2);
        assert!(e.contains(message), "{args:?}: {e}");
    }
    // cca_dim beyond what the data allow is a data error, with the bound.
    let e = fails(&["score", a, b, "--metric", "svcca", "--cca-dim", "9"], 1);
    assert!(e.contains("--cca-dim 9") && e.contains("at most 5"), "{e}");
}

// ---- Item 15: options that would do nothing are refused ----

#[test]
fn options_that_would_do_nothing_are_refused() {
    let dir = TempDir::new("no-effect");
    let (pa, pb) = pair(&dir);
    let (a, b) = (pa.as_str(), pb.as_str());
    let out = dir.path("p.npy");
    for (args, says) in [
        (&["score", a, b, "--sigma", "2"][..], "--kernel rbf"),
        (&["score", a, b, "--metric", "cka", "--sigma", "2"], "--kernel rbf"),
        (&["score", a, b, "--kernel", "rbf"], "cka"),
        (&["score", a, b, "--cca-dim", "3"], "svcca"),
        (&["score", a, b, "--metric", "cka", "--k", "3"], "--k"),
        (&["score", a, b, "--unbiased"], "cka"),
        (&["sweep", a, b, "--q", "0.9"], "paper"),
        (&["sweep", a, b, "--prepare", "none", "--q", "0.9"], "paper"),
        (&["prepare", a, "--prepare", "normalize", "--q", "0.9", "--out", &out], "paper"),
        (&["score", a, b, "--cosine", "--normalize"], "--normalize"),
        (&["score", a, b, "--metric", "cka", "--cosine"], "--cosine"),
        (&["score", a, b, "--seed", "3"], "--permutations"),
        (&["score", a, b, "--alpha", "0.1"], "--permutations"),
    ] {
        let e = fails(args, 2);
        assert!(e.contains(says), "{args:?}: {e}");
    }
    // A value that starts with -- is a missing value.
    let e = fails(&["score", a, b, "--k", "--quiet"], 2);
    assert!(e.contains("--k needs a value"), "{e}");
}
