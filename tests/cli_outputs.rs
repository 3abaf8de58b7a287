//! The `repalign` binary's outputs under failure: a closed pipe or a full disk on stdout is
//! never a panic, an output never overwrites an input, every output is checked before any
//! work, and a failed write leaves an existing output file as it was.
//!
//! Run with `cargo test --features cli --test cli_outputs`.
#![cfg(feature = "cli")]

mod cli_support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use cli_support::{BIN, TempDir, check_fails, fails, ints, repalign, write_npy};

/// A float32 `.safetensors` file with one tensor `name`.
fn write_safetensors(path: &str, name: &str, shape: &[usize], values: &[f32]) {
    let bytes: Vec<u8> = values.iter().flat_map(|x| x.to_le_bytes()).collect();
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.to_vec(), &bytes).unwrap();
    std::fs::write(path, safetensors::serialize([(name.to_string(), view)], None).unwrap()).unwrap();
}

/// Runs `args` with stdout a pipe whose reader is gone (closed before the command writes, or
/// while it writes more than a pipe holds).
fn closed_pipe(args: &[&str]) -> Output {
    let mut child =
        Command::new(BIN).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("the binary runs");
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

/// Runs `args` with stdout `/dev/full` (every write fails with "no space left on device").
fn full_stdout(args: &[&str]) -> Output {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
    Command::new(BIN).args(args).stdout(full).stderr(Stdio::piped()).output().expect("the binary runs")
}

/// Runs `args` where no file may grow past `blocks` blocks (`ulimit -f`), with SIGXFSZ
/// ignored, so that a write past the limit fails (EFBIG) as on a full disk.
fn file_size_limited(blocks: u32, args: &[&str]) -> Output {
    let script = format!("ulimit -f {blocks} && trap '' XFSZ && exec \"$0\" \"$@\"");
    Command::new("sh").arg("-c").arg(script).arg(BIN).args(args).output().expect("sh runs")
}

/// N x 4 features: N rows make a kNN table and graph far larger than a pipe buffer.
const BIG: usize = 4000;

fn inputs(dir: &TempDir) -> (String, String, String) {
    let (a, b, big) = (dir.path("a.npy"), dir.path("b.npy"), dir.path("big.npy"));
    write_npy(&a, &[24, 6], &ints(24 * 6, 1));
    write_npy(&b, &[24, 5], &ints(24 * 5, 2));
    write_npy(&big, &[BIG as u64, 4], &ints(BIG * 4, 3));
    (a, b, big)
}

#[test]
fn a_closed_stdout_pipe_ends_the_command_quietly() {
    let dir = TempDir::new("pipe");
    let (a, b, big) = inputs(&dir);
    let cases: [&[&str]; 7] = [
        &["knn", &big, "--k", "8"],
        &["knn", &big, "--k", "8", "--json"],
        &["knn", &big, "--k", "8", "--csv"],
        &["score", &a, &b, "--k", "3"],
        &["score", &a, &b, "--k", "3", "--json"],
        &["sweep", &a, &b, "--k", "3"],
        &["--help"],
    ];
    for args in cases {
        let out = closed_pipe(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "repalign {args:?}: {stderr}");
        assert_eq!(stderr, "", "repalign {args:?}");
    }
    // The shell's way: `repalign knn ... | head -c1` prints one byte and nothing else.
    let out =
        Command::new("sh").arg("-c").arg("\"$0\" knn \"$1\" --k 8 | head -c1").arg(BIN).arg(&big).output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(out.stdout, b"r");
}

#[test]
fn a_full_stdout_is_an_error_with_a_message() {
    if !Path::new("/dev/full").exists() {
        return;
    }
    let dir = TempDir::new("full");
    let (a, b, big) = inputs(&dir);
    let cases: [&[&str]; 9] = [
        &["score", &a, &b, "--k", "3"],
        &["score", &a, &b, "--k", "3", "--json"],
        &["knn", &big, "--k", "8"],
        &["knn", &a, "--k", "3", "--json"],
        &["sweep", &a, &b, "--k", "3"],
        &["sweep", &a, &b, "--k", "3", "--csv"],
        &["info"],
        &["isa"],
        &["--version"],
    ];
    for args in cases {
        let out = full_stdout(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "repalign {args:?}: {stderr}");
        assert!(stderr.starts_with("repalign: error: cannot write to stdout: "), "repalign {args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "repalign {args:?}: {stderr}");
    }
}

#[test]
fn an_output_that_is_an_input_is_refused() {
    let dir = TempDir::new("same");
    let (a, b, _) = inputs(&dir);
    let before = std::fs::read(&a).unwrap();
    let refused = |args: &[&str], input: &str, output: &str| {
        let e = fails(args, 2);
        assert!(e.contains(input) && e.contains(output) && e.contains("input"), "repalign {args:?}: {e}");
        assert_eq!(std::fs::read(&a).unwrap(), before, "repalign {args:?} changed its input");
    };
    refused(&["knn", &a, "--k", "3", "--out", &a], &a, &a);
    refused(&["prepare", &a, "--out", &a], &a, &a);
    // Another spelling of the same path, a hard link and a symbolic link.
    let other = format!("{}/../{}/a.npy", dir.0.display(), dir.0.file_name().unwrap().to_str().unwrap());
    refused(&["knn", &a, "--k", "3", "--out", &other], &a, &other);
    let hard = dir.path("hard.npy");
    std::fs::hard_link(&a, &hard).unwrap();
    refused(&["prepare", &a, "--out", &hard], &a, &hard);
    let soft = dir.path("soft.npy");
    std::os::unix::fs::symlink(&a, &soft).unwrap();
    refused(&["knn", &soft, "--k", "3", "--out", &a], &soft, &a);

    // A `.safetensors:NAME` input is its file.
    let st = dir.path("m.safetensors");
    write_safetensors(&st, "x", &[24, 6], &ints(24 * 6, 1));
    let st_before = std::fs::read(&st).unwrap();
    let link = dir.path("m-link.npy");
    std::fs::hard_link(&st, &link).unwrap();
    let spec = format!("{st}:x");
    let e = fails(&["prepare", &spec, "--out", &link], 2);
    assert!(e.contains(&spec) && e.contains(&link), "{e}");
    assert_eq!(std::fs::read(&st).unwrap(), st_before);

    // A heatmap over an input (inputs are recognised by content, not by name).
    let svg = dir.path("a.svg");
    std::fs::copy(&a, &svg).unwrap();
    let svg_before = std::fs::read(&svg).unwrap();
    let e = fails(&["sweep", &svg, &b, "--k", "3", "--plot", &svg], 2);
    assert!(e.contains(&svg), "{e}");
    assert_eq!(std::fs::read(&svg).unwrap(), svg_before);
}

#[test]
fn outputs_are_checked_before_any_input_is_read() {
    let dir = TempDir::new("check");
    let (a, b, _) = inputs(&dir);
    // An input that fails only once read: an error about it means the output went unchecked.
    let nan = dir.path("nan.npy");
    let mut v = ints(24 * 6, 1);
    v[7] = f32::NAN;
    write_npy(&nan, &[24, 6], &v);
    let missing = dir.path("missing");
    let names = dir.names();
    let cases: [(&[&str], String); 4] = [
        (&["knn", &nan, "--k", "3", "--out", &format!("{missing}/g.npy")], format!("{missing}/g.npy")),
        (&["prepare", &nan, "--out", &format!("{missing}/p.npy")], format!("{missing}/p.npy")),
        (&["sweep", &nan, &b, "--k", "3", "--plot", &format!("{missing}/h.svg")], format!("{missing}/h.svg")),
        (
            &["demo", "--data", &format!("{missing}/data"), "--plot", &format!("{missing}/d.png")],
            format!("{missing}/d.png"),
        ),
    ];
    for (args, path) in cases {
        let e = fails(args, 1);
        assert!(e.contains(&path) && e.contains("cannot write"), "repalign {args:?}: {e}");
        assert_eq!(dir.names(), names, "repalign {args:?} left a file");
    }
    // An output that is a directory.
    let sub = dir.path("sub.npy");
    std::fs::create_dir(&sub).unwrap();
    let e = fails(&["knn", &a, "--k", "3", "--out", &sub], 1);
    assert!(e.contains(&sub) && e.contains("directory"), "{e}");
}

#[test]
fn a_failed_write_leaves_the_existing_output_intact() {
    let dir = TempDir::new("atomic");
    let (a, b, big) = inputs(&dir);
    let precious = b"the previous output, kept";
    let (graph, prepared, heatmap) = (dir.path("g.npy"), dir.path("p.npy"), dir.path("h.png"));
    for path in [&graph, &prepared, &heatmap] {
        std::fs::write(path, precious).unwrap();
    }
    let names = dir.names();
    // One block (512 or 1024 bytes) at most: every output here is larger (checked below).
    let cases: [(&[&str], &str); 3] = [
        (&["knn", &big, "--k", "8", "--out", &graph], &graph),
        (&["prepare", &big, "--out", &prepared], &prepared),
        (&["sweep", &a, &b, "--k", "3", "--plot", &heatmap], &heatmap),
    ];
    for (args, path) in cases {
        let out = file_size_limited(1, args);
        let e = check_fails(out, args, 1);
        assert!(e.contains(path), "repalign {args:?}: {e}");
        assert_eq!(std::fs::read(path).unwrap(), precious, "repalign {args:?} damaged its previous output");
        assert_eq!(dir.names(), names, "repalign {args:?} left a temporary file");
    }
    // Without the limit, the same commands replace the outputs.
    for (args, path) in cases {
        assert!(repalign(args).status.success(), "repalign {args:?}");
        assert!(std::fs::metadata(path).unwrap().len() > 1024, "repalign {args:?}: a small output");
    }
    assert_eq!(dir.names(), names);
}
