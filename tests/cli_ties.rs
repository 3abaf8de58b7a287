//! The `repalign` binary on degenerate inputs (issue 13, item 11): `score` and `sweep` JSON
//! always have a `warnings` list, which names the layer whose kNN lists are decided by ties
//! (identical or all-zero rows) and is empty on ordinary data; tables print each warning as
//! a line, and stderr gets `repalign: warning: ...` (with or without `--quiet`).
//!
//! Run with `cargo test --features cli --test cli_ties`.
#![cfg(feature = "cli")]

mod cli_support;

use serde_json::json;

use cli_support::{TempDir, json_of, random, run_ok, write_npy};

const N: usize = 51;
const D: usize = 8;
const TIED: &str = "51 of 51 rows have a tie at the k-th neighbour: \
                    their neighbour lists are decided by index order, not by the data";

/// same.npy (every row the same), zero.npy (all zero), a.npy and b.npy (random), all N x D,
/// and layers.npy: N x 3 x D whose layer 1 is all zero.
fn inputs(dir: &TempDir) -> [String; 5] {
    let row = random(D, 1);
    let same: Vec<f32> = row.iter().copied().cycle().take(N * D).collect();
    let files =
        [("same.npy", same), ("zero.npy", vec![0.0; N * D]), ("a.npy", random(N * D, 2)), ("b.npy", random(N * D, 3))];
    let paths: Vec<String> = files
        .iter()
        .map(|(name, values)| {
            let p = dir.path(name);
            write_npy(&p, &[N as u64, D as u64], values);
            p
        })
        .collect();
    let mut layers = random(N * 3 * D, 4);
    for r in 0..N {
        layers[(r * 3 + 1) * D..(r * 3 + 2) * D].iter_mut().for_each(|v| *v = 0.0);
    }
    let pl = dir.path("layers.npy");
    write_npy(&pl, &[N as u64, 3, D as u64], &layers);
    [paths[0].clone(), paths[1].clone(), paths[2].clone(), paths[3].clone(), pl]
}

#[test]
fn score_json_warns_on_identical_and_zero_rows_and_not_on_random_data() {
    let dir = TempDir::new("score");
    let [same, zero, a, b, _] = inputs(&dir);
    // Identical rows on both sides: mutual kNN 1.0, and a warning for each.
    let (v, stderr) = json_of(&["score", &same, &same, "--k", "10", "--json"]);
    assert_eq!(v["score"], json!(1.0));
    let want = json!([format!("A ({same}): {TIED}"), format!("B ({same}): {TIED}")]);
    assert_eq!(v["warnings"], want);
    assert_eq!(stderr, format!("repalign: warning: A ({same}): {TIED}\nrepalign: warning: B ({same}): {TIED}\n"));
    // All-zero rows on B only, calibrated: the warning comes with the calibration.
    let (v, _) = json_of(&["score", &a, &zero, "--k", "5", "--permutations", "20", "--json"]);
    assert_eq!(v["warnings"], json!([format!("B ({zero}): {TIED}")]));
    assert!(v["calibration"].is_object());
    // Ordinary data: the key is there and empty; stderr stays silent.
    let (v, stderr) = json_of(&["score", &a, &b, "--k", "10", "--json"]);
    assert_eq!(v["warnings"], json!([]));
    assert_eq!(stderr, "");
    // Kernel metrics have no neighbour lists to tie.
    let (v, _) = json_of(&["score", &same, &same, "--metric", "cka", "--json"]);
    assert_eq!(v["warnings"], json!([]));
}

#[test]
fn score_table_prints_each_warning_and_quiet_keeps_stderr() {
    let dir = TempDir::new("table");
    let [_, zero, a, _, _] = inputs(&dir);
    let (stdout, stderr) = run_ok(&["score", &zero, &a, "--k", "5", "--quiet"]);
    let line = stdout.lines().find(|l| l.starts_with("warning")).expect("a warning line");
    assert!(line.ends_with(&format!("A ({zero}): {TIED}")), "{stdout}");
    assert_eq!(stderr, format!("repalign: warning: A ({zero}): {TIED}\n"));
}

#[test]
fn sweep_names_the_tied_layer_by_its_id() {
    let dir = TempDir::new("sweep");
    let [_, _, a, _, layers] = inputs(&dir);
    let (v, stderr) = json_of(&["sweep", &layers, &a, "--k", "5", "--json"]);
    let want = format!("layer 1 of A ({layers}): {TIED}");
    assert_eq!(v["warnings"], json!([want]));
    assert_eq!(stderr, format!("repalign: warning: {want}\n"));
    let (stdout, _) = run_ok(&["sweep", &layers, &a, "--k", "5"]);
    assert!(stdout.lines().any(|l| l.starts_with("warning") && l.ends_with(&want)), "{stdout}");
    let (v, _) = json_of(&["sweep", &a, &a, "--k", "5", "--json"]);
    assert_eq!(v["warnings"], json!([]));
}
