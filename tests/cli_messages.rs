//! The `repalign` binary's messages and exit statuses (issue 13, items 8, 13, 14, 15): layer
//! patterns keep the file's own indices, bad data are reported with their file and the
//! numbers that make them bad, option values are checked as a bad command line (exit 2, no
//! file named, the valid range given), and an option that would do nothing is refused.
//!
//! Run with `cargo test --features cli --test cli_messages`.
#![cfg(feature = "cli")]

mod cli_support;

use std::process::Command;

use safetensors::Dtype;
use serde_json::{Value, json as j};

use cli_support::{TempDir, fails, ints, json_of, raw_npy, run_ok, write_npy};

/// Float32 N x D tensors, by name.
fn write_safetensors(path: &str, tensors: &[(&str, &[f32])]) {
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|(_, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, v), b)| {
            let shape = vec![N, v.len() / N];
            (name.to_string(), safetensors::tensor::TensorView::new(Dtype::F32, shape, b).unwrap())
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
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

// ---- Item 8: layer patterns keep the file's own indices ----

#[test]
fn layer_patterns_report_the_files_own_layer_indices() {
    let dir = TempDir::new("layer-ids");
    let b = ints(N * D, 1);
    let (l0, l1) = (ints(N * D, 5), ints(N * D, 6));
    let pb = dir.path("b.npy");
    write_npy(&pb, &[N as u64, D as u64], &b);
    let st = dir.path("m.safetensors");
    // Layer 3 of A is B itself: the best pair is (layer 3 of A, layer 0 of B).
    write_safetensors(&st, &[("layers.0.out", &l0), ("layers.1.out", &l1), ("layers.3.out", &b)]);
    let spec = format!("{st}:layers.{{}}.out");
    let r = json_of(&["sweep", &spec, &pb, "--k", "3", "--json"]).0;
    assert_eq!(r["layer_ids_a"], j!([0, 1, 3]), "{r}");
    assert_eq!(r["layer_ids_b"], j!([0]), "{r}");
    assert_eq!(r["best_index"], j!([2, 0]), "best_index stays positional: {r}");
    assert_eq!(r["best_layers"], j!([3, 0]), "{r}");
    assert_eq!(r["layers_a"], 3);
    // The table names layers by their ids.
    let table = run_ok(&["sweep", &spec, &pb, "--k", "3"]).0;
    assert!(table.contains("A3") && !table.contains("A2"), "{table}");
    assert!(table.contains("at layer 3 of A, layer 0 of B"), "{table}");
    // The plot's ticks too.
    let svg = dir.path("s.svg");
    run_ok(&["sweep", &spec, &pb, "--k", "3", "--plot", &svg, "--quiet"]);
    let svg = std::fs::read_to_string(&svg).unwrap();
    // A text element whose content is "3" (plotters writes the content on its own line).
    let texts: Vec<&str> = svg.split("</text>").filter_map(|t| t.rsplit('>').next()).map(str::trim).collect();
    assert!(texts.contains(&"3") && !texts.contains(&"2"), "no tick label 3 (or a label 2) in the heatmap: {texts:?}");
    // A layer's bad value is reported by its id.
    let mut bad = b.clone();
    bad[4] = f32::NAN;
    write_safetensors(&st, &[("layers.0.out", &l0), ("layers.1.out", &l1), ("layers.3.out", &bad)]);
    let e = fails(&["sweep", &spec, &pb, "--k", "3"], 1);
    assert!(e.contains("layer 3"), "{e}");
    // An index too large for the machine is refused, not dropped.
    let big = "layers.99999999999999999999999.out";
    write_safetensors(&st, &[("layers.0.out", &l0), (big, &l1)]);
    let e = fails(&["sweep", &spec, &pb, "--k", "3"], 1);
    assert!(e.contains(big) && e.contains("layer index"), "{e}");
    // So is an index that is not a decimal number.
    write_safetensors(&st, &[("layers.0.out", &l0), ("layers.x1.out", &l1)]);
    let e = fails(&["sweep", &spec, &pb, "--k", "3"], 1);
    assert!(e.contains("layers.x1.out") && e.contains("layer index"), "{e}");
    // Every sweep reports its ids: 0, 1, ... for .npy inputs.
    let r = json_of(&["sweep", &pb, &pb, "--k", "3", "--json"]).0;
    assert_eq!((&r["layer_ids_a"], &r["best_layers"]), (&j!([0]), &j!([0, 0])), "{r}");
}

// ---- Item 13: messages that name the file and the numbers ----

#[test]
fn bad_files_are_reported_with_their_name_and_numbers() {
    let dir = TempDir::new("bad-files");
    let (_, pb) = pair(&dir);
    // A corrupt header whose shape overflows: the file and the shape.
    let p = dir.path("huge.npy");
    std::fs::write(&p, raw_npy("<f4", "(4294967296, 4294967296)", &[0; 64])).unwrap();
    let e = fails(&["score", &p, &pb], 1);
    assert!(e.contains(&p) && e.contains("4294967296"), "{e}");
    // Zero-width inputs: which dimension is 0.
    let p = dir.path("d0.npy");
    write_npy(&p, &[N as u64, 0], &[] as &[f32]);
    let e = fails(&["score", &p, &pb], 1);
    assert!(e.contains(&p) && e.contains("D = 0"), "{e}");
    let p = dir.path("l0.npy");
    write_npy(&p, &[N as u64, 0, 4], &[] as &[f32]);
    let e = fails(&["sweep", &p, &pb], 1);
    assert!(e.contains(&p) && e.contains("L = 0"), "{e}");
    // No rows: said as such, not as a bound on k.
    let p = dir.path("n0.npy");
    write_npy(&p, &[0, 4], &[] as &[f32]);
    let e = fails(&["knn", &p, "--k", "2"], 1);
    assert!(e.contains(&p) && e.contains("no rows") && !e.contains("at most 0"), "{e}");
    // A truncated file: the bytes expected and found.
    let p = dir.path("short.npy");
    let full = raw_npy("<f4", &format!("({N}, {D})"), &vec![0u8; N * D * 4]);
    std::fs::write(&p, &full[..full.len() - 10]).unwrap();
    let e = fails(&["knn", &p, "--k", "2"], 1);
    let (want, got) = ((N * D * 4).to_string(), (N * D * 4 - 10).to_string());
    assert!(e.contains(&p) && e.contains(&want) && e.contains(&got), "{e}");
}

#[cfg(unix)]
#[test]
fn pipes_are_read_and_symlink_loops_reported() {
    use std::io::Write;
    use std::process::Stdio;

    let dir = TempDir::new("pipes");
    let (pa, pb) = pair(&dir);
    let st = dir.path("a.safetensors");
    write_safetensors(&st, &[("x", &ints(N * D, 1))]);
    let want = json_of(&["score", &pa, &pb, "--k", "3", "--json"]).0["score"].clone();
    for input in [&pa, &st] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_repalign"))
            .args(["score", "/dev/stdin", &pb, "--k", "3", "--json"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let bytes = std::fs::read(input).unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // The child may fail before it reads everything; its status says so below.
        let _ = stdin.write_all(&bytes);
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{input} through a pipe: {stderr}");
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(r["score"], want, "{input}");
    }
    // A symlink loop is not "not found": the OS's reason.
    let (l1, l2) = (dir.path("loop1.npy"), dir.path("loop2.npy"));
    std::os::unix::fs::symlink(&l2, &l1).unwrap();
    std::os::unix::fs::symlink(&l1, &l2).unwrap();
    let e = fails(&["score", &l1, &pb], 1);
    assert!(e.contains(&l1) && !e.contains("not found") && e.contains("symbolic links"), "{e}");
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

/// Inputs are read side by side: with several bad ones, the first named is reported, on any
/// thread count, as reading them in turn would.
#[test]
fn of_several_bad_inputs_the_first_named_is_reported() {
    let dir = TempDir::new("first-bad");
    let (pa, pb) = pair(&dir);
    let missing = dir.path("missing.npy");
    let short = dir.path("short.npy");
    let full = raw_npy("<f4", &format!("({N}, {D})"), &vec![0u8; N * D * 4]);
    std::fs::write(&short, &full[..full.len() - 10]).unwrap();
    for threads in ["1", "2", "4"] {
        let e = fails(&["score", &missing, &short, "--threads", threads], 1);
        assert!(e.contains(&missing) && !e.contains(&short), "{e}");
        let e = fails(&["sweep", &short, &missing, "--threads", threads], 1);
        assert!(e.contains(&short) && !e.contains(&missing), "{e}");
        let e = fails(&["zoo", &pa, &short, &pb, &missing, "--threads", threads], 1);
        assert!(e.contains(&short) && !e.contains(&missing), "{e}");
    }
}
