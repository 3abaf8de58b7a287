//! The `repalign` binary on small files written here: every command, its JSON keys, CSV
//! shapes and tables, results equal to the library's, `.npy` and `.safetensors` inputs of
//! every dtype, and every bad-input message with its exit status.
//!
//! Run with `cargo test --features cli --test cli`.
#![cfg(feature = "cli")]

mod cli_support;

use std::process::Command;

use npyz::WriterBuilder;
use repalign::knn::{self, Similarity};
use repalign::metrics::{self, KnnMetric};
use repalign::prepare::{self, Layers, Prepare};
use repalign::sweep;
use repalign::{AnyMatrix, Exec, Matrix, Metric, bf16, f16};
use safetensors::Dtype;
use serde_json::Value;

use cli_support::{TempDir, fails, ints, json, ok, random, raw_npy, write_npy};

const EXEC: Exec<'static> = Exec::new();

/// Mutual kNN with `k` neighbours on `similarity`, as the library computes it.
fn mutual(k: usize, similarity: Similarity) -> Metric {
    Metric::Knn { metric: KnnMetric::Mutual, k, similarity }
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

fn has_keys(v: &Value, want: &[&str]) {
    let got = keys(v);
    for k in want {
        assert!(got.contains(k), "key {k} missing from {v}");
    }
}

/// `x` plus a little noise: a representation that agrees with `x`.
fn noisy(x: &[f32], seed: u64) -> Vec<f32> {
    x.iter().zip(ints(x.len(), seed)).map(|(a, n)| a + n / 8.0).collect()
}

fn read_npy<T: npyz::Deserialize>(path: &str) -> (Vec<u64>, Vec<T>) {
    let file = npyz::NpyFile::new(std::fs::File::open(path).unwrap()).unwrap();
    let shape = file.shape().to_vec();
    (shape, file.into_vec().unwrap())
}

enum Tensor<'a> {
    F32(&'a [f32]),
    F16(Vec<f16>),
    Bf16(Vec<bf16>),
    I32(Vec<i32>),
}

impl Tensor<'_> {
    fn bytes(&self) -> (Dtype, Vec<u8>) {
        match self {
            Tensor::F32(v) => (Dtype::F32, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            Tensor::F16(v) => (Dtype::F16, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            Tensor::Bf16(v) => (Dtype::BF16, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            Tensor::I32(v) => (Dtype::I32, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        }
    }
}

fn write_safetensors(path: &str, tensors: &[(&str, Vec<usize>, Tensor<'_>)]) {
    let bytes: Vec<(Dtype, Vec<u8>)> = tensors.iter().map(|(_, _, t)| t.bytes()).collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), (dtype, b))| {
            (name.to_string(), safetensors::tensor::TensorView::new(*dtype, shape.clone(), b).unwrap())
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

fn f16s(v: &[f32]) -> Vec<f16> {
    v.iter().map(|&x| f16::from_f32(x)).collect()
}

fn bf16s(v: &[f32]) -> Vec<bf16> {
    v.iter().map(|&x| bf16::from_f32(x)).collect()
}

const N: usize = 24;
const DA: usize = 6;
const DB: usize = 5;

/// Two N x D representations of the same samples, as .npy files: a.npy, b.npy (f32), and
/// a16.npy (f16).
fn pair(dir: &TempDir) -> (Vec<f32>, Vec<f32>) {
    let a = ints(N * DA, 1);
    let b: Vec<f32> = noisy(&a, 2).chunks(DA).flat_map(|r| r[..DB].to_vec()).collect();
    write_npy(&dir.path("a.npy"), &[N as u64, DA as u64], &a);
    write_npy(&dir.path("b.npy"), &[N as u64, DB as u64], &b);
    write_npy(&dir.path("a16.npy"), &[N as u64, DA as u64], &f16s(&a));
    (a, b)
}

#[test]
fn score_json_keys_and_value_match_the_library() {
    let dir = TempDir::new("score");
    let (a, b) = pair(&dir);
    let (pa, pb) = (dir.path("a.npy"), dir.path("b.npy"));
    let r = json(&["score", &pa, &pb, "--metric", "mutual_knn", "--k", "3", "--json"]);
    assert_eq!(keys(&r), ["metric", "k", "score", "n", "d_a", "d_b", "normalize", "isa", "seconds", "warnings"]);
    assert_eq!((r["metric"].as_str(), r["k"].as_u64(), r["n"].as_u64()), (Some("mutual_knn"), Some(3), Some(N as u64)));
    assert_eq!((r["d_a"].as_u64(), r["d_b"].as_u64(), r["normalize"].as_bool()), (Some(6), Some(5), Some(false)));
    let (ma, mb) = (Matrix::new(&a, N, DA).unwrap(), Matrix::new(&b, N, DB).unwrap());
    let want = metrics::score(ma, mb, &mutual(3, Similarity::InnerProduct), &EXEC).unwrap();
    assert_eq!(r["score"].as_f64(), Some(want));
    assert!(want > 0.3, "{want}");

    // sweep takes N x D inputs as one layer each.
    let r = json(&["sweep", &pa, &pb, "--k", "3", "--json"]);
    assert_eq!(r["scores"], serde_json::json!([[want]]));

    // --cosine ranks by cosine; f16 input gives the same answer on these exact values.
    let r = json(&["score", &dir.path("a16.npy"), &pb, "--k", "3", "--cosine", "--json"]);
    let cosine = mutual(3, Similarity::Cosine);
    assert_eq!(r["score"].as_f64(), Some(metrics::score(ma, mb, &cosine, &EXEC).unwrap()));
    // --normalize prepares the f16 values as f32; the report still names the file's dtype.
    let text = ok(&["score", &dir.path("a16.npy"), &pb, "--k", "3", "--normalize"]);
    assert!(text.contains(&format!("({N} x {DA}, f16)")) && text.contains(&format!("({N} x {DB}, f32)")), "{text}");

    // Every metric, with its parameters among the keys.
    // Each metric gets only the options that apply to it (the others are refused).
    for (metric, extra, options) in [
        ("cycle_knn", &["k"][..], &["--k", "4"][..]),
        ("lcs_knn", &["k"], &["--k", "4"]),
        ("edit_distance_knn", &["k"], &["--k", "4"]),
        ("jaccard_knn", &["k"], &["--k", "4"]),
        ("cka", &["kernel", "unbiased"], &[]),
        ("unbiased_cka", &["kernel", "unbiased"], &[]),
        ("cknna", &["k", "unbiased"], &["--k", "4"]),
        ("svcca", &["cca_dim"], &["--cca-dim", "3"]),
    ] {
        let r = json(&[&["score", &pa, &pb, "--metric", metric, "--normalize", "--json"][..], options].concat());
        has_keys(&r, extra);
        has_keys(&r, &["metric", "score", "n", "normalize", "isa", "seconds"]);
        assert!(r["score"].is_f64(), "{metric}: {r}");
    }
    let r = json(&["score", &pa, &pb, "--metric", "cka", "--kernel", "rbf", "--sigma", "2", "--unbiased", "--json"]);
    assert_eq!(
        (r["kernel"].as_str(), r["sigma"].as_f64(), r["unbiased"].as_bool()),
        (Some("rbf"), Some(2.0), Some(true))
    );
}

#[test]
fn score_table_and_calibration() {
    let dir = TempDir::new("score-table");
    pair(&dir);
    let (pa, pb) = (dir.path("a.npy"), dir.path("b.npy"));
    let text = ok(&["score", &pa, &pb, "--k", "3"]);
    let line = text.lines().find(|l| l.starts_with("score ")).unwrap_or_else(|| panic!("{text}"));
    let value: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(value > 0.3, "{text}");
    assert!(text.contains("mutual_knn (k = 3)") && text.contains(&pa), "{text}");

    let r = json(&["score", &pa, &pb, "--k", "3", "--permutations", "50", "--seed", "7", "--json"]);
    let c = &r["calibration"];
    assert_eq!(
        keys(c),
        [
            "permutations",
            "seed",
            "alpha",
            "raw",
            "null_mean",
            "null_median",
            "null_std",
            "z",
            "p_value",
            "tau",
            "calibrated"
        ]
    );
    assert_eq!((c["permutations"].as_u64(), c["seed"].as_u64(), c["alpha"].as_f64()), (Some(50), Some(7), Some(0.05)));
    assert_eq!(c["raw"], r["score"]);
    assert_eq!(c["p_value"].as_f64(), Some(1.0 / 51.0), "{c}");
    // Calibrated from the two graphs, as the library's calibrate does it from the features.
    let (a, b) = (read_npy::<f32>(&pa).1, read_npy::<f32>(&pb).1);
    let (ma, mb): (AnyMatrix<'_>, AnyMatrix<'_>) =
        (Matrix::new(&a, N, DA).unwrap().into(), Matrix::new(&b, N, DB).unwrap().into());
    let opts = repalign::calibrate::CalibrationOptions { permutations: 50, seed: 7, alpha: 0.05 };
    let metric = Metric::from_name("mutual_knn", 3).unwrap();
    let (_, want) = repalign::calibrate::calibrate(&[ma], &[mb], &metric, &opts, &EXEC).unwrap();
    for (key, value) in [("null_mean", want.null_mean), ("null_std", want.null_std), ("z", want.z), ("tau", want.tau)] {
        assert_eq!(c[key].as_f64(), Some(value), "{key}");
    }
    // The same through the library's calibrate (a kernel metric takes its other path).
    for (metric, k) in [("mutual_knn", &["--k", "3"][..]), ("cka", &[])] {
        let r = json(&[&["score", &pa, &pb, "--metric", metric, "--permutations", "20", "--json"][..], k].concat());
        let text = ok(&[&["score", &pa, &pb, "--metric", metric, "--permutations", "20"][..], k].concat());
        assert!(text.contains("p-value") && text.contains("20 permutations"), "{text}");
        assert!(r["calibration"]["z"].as_f64().unwrap() > 1.0, "{r}");
    }
}

/// Two models of N x L x D features as 3-D .npy files, and the same layers as safetensors.
fn models(dir: &TempDir) -> (Vec<f32>, Vec<f32>) {
    let (la, lb, d) = (3, 4, 5);
    let a = ints(N * la * d, 3);
    // Layer l of B is a scaled, noisy copy of layer min(l, 2) of A: values stay quarters
    // below 64, exact in f16 and bf16.
    let noise = ints(N * lb * d, 4);
    let mut b = Vec::with_capacity(N * lb * d);
    for i in 0..N {
        for l in 0..lb {
            for c in 0..d {
                b.push(a[(i * la + l.min(la - 1)) * d + c] * (l as f32 + 1.0) + noise[(i * lb + l) * d + c] / 4.0);
            }
        }
    }
    write_npy(&dir.path("A.npy"), &[N as u64, la as u64, d as u64], &a);
    write_npy(&dir.path("B.npy"), &[N as u64, lb as u64, d as u64], &b);
    write_npy(&dir.path("B16.npy"), &[N as u64, lb as u64, d as u64], &f16s(&b));
    (a, b)
}

fn library_sweep(a: &[f32], la: usize, b: &[f32], lb: usize, mode: Prepare, metric: Metric) -> sweep::SweepResult {
    let (pa, _) = prepare::prepare(&Layers::new(a, N, la, 5).unwrap(), mode, 0.95, &EXEC).unwrap();
    let (pb, _) = prepare::prepare(&Layers::new(b, N, lb, 5).unwrap(), mode, 0.95, &EXEC).unwrap();
    let (xa, xb) = (Layers::new(&pa, N, la, 5).unwrap(), Layers::new(&pb, N, lb, 5).unwrap());
    let va: Vec<AnyMatrix<'_>> = (0..la).map(|l| xa.layer(l).into()).collect();
    let vb: Vec<AnyMatrix<'_>> = (0..lb).map(|l| xb.layer(l).into()).collect();
    sweep::sweep(&va, &vb, &metric, &EXEC).unwrap()
}

fn scores_of(r: &Value) -> Vec<f64> {
    r["scores"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
        .collect()
}

#[test]
fn sweep_json_csv_table_and_plot() {
    let dir = TempDir::new("sweep");
    let (a, b) = models(&dir);
    let (pa, pb) = (dir.path("A.npy"), dir.path("B.npy"));
    for (metric, mode) in
        [("mutual_knn", "paper"), ("mutual_knn", "none"), ("cka", "normalize"), ("svcca", "paper-per-sample")]
    {
        let option = match metric {
            "svcca" => &["--cca-dim", "2"][..],
            "cka" => &[],
            _ => &["--k", "4"],
        };
        let r = json(&[&["sweep", &pa, &pb, "--metric", metric, "--prepare", mode, "--json"][..], option].concat());
        has_keys(
            &r,
            &["metric", "prepare", "n", "layers_a", "layers_b", "scores", "best", "best_index", "isa", "seconds"],
        );
        assert_eq!(
            (r["layers_a"].as_u64(), r["layers_b"].as_u64(), r["n"].as_u64()),
            (Some(3), Some(4), Some(N as u64))
        );
        let rows = r["scores"].as_array().unwrap();
        assert!(rows.len() == 3 && rows.iter().all(|row| row.as_array().unwrap().len() == 4), "{r}");
        let m = match metric {
            "svcca" => Metric::Svcca { cca_dim: 2 },
            name => Metric::from_name(name, 4).unwrap(),
        };
        let want = library_sweep(&a, 3, &b, 4, Prepare::from_name(mode).unwrap(), m);
        assert_eq!(scores_of(&r), want.scores, "{metric} {mode}");
        assert_eq!(r["best"].as_f64(), Some(want.best));
        let (i, j) = want.best_index.unwrap();
        assert_eq!(r["best_index"], serde_json::json!([i, j]));
    }

    let csv = ok(&["sweep", &pa, &pb, "--k", "4", "--prepare", "paper", "--csv"]);
    let rows: Vec<Vec<f64>> = csv.lines().map(|l| l.split(',').map(|x| x.parse().unwrap()).collect()).collect();
    assert!(rows.len() == 3 && rows.iter().all(|r| r.len() == 4), "{csv}");
    let r = json(&["sweep", &pa, &pb, "--k", "4", "--prepare", "paper", "--json"]);
    assert_eq!(rows.concat(), scores_of(&r));

    let table = ok(&["sweep", &pa, &pb, "--k", "4", "--prepare", "paper"]);
    let (i, j) = (r["best_index"][0].as_u64().unwrap(), r["best_index"][1].as_u64().unwrap());
    let starred = table.lines().find(|l| l.contains('*')).unwrap_or_else(|| panic!("{table}"));
    assert!(starred.trim_start().starts_with(&format!("A{i} ")), "{table}");
    assert!(table.contains(&format!("layer {i} of A, layer {j} of B")), "{table}");
    assert!(table.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["B0", "B1", "B2", "B3"]), "{table}");

    let r = json(&["sweep", &pa, &pb, "--k", "4", "--prepare", "paper", "--permutations", "20", "--json"]);
    has_keys(&r["calibration"], &["raw", "null_mean", "null_std", "z", "p_value", "tau", "calibrated"]);
    assert_eq!(r["calibration"]["raw"], r["best"]);

    for ext in ["svg", "png"] {
        let plot = dir.path(&format!("sweep.{ext}"));
        json(&["sweep", &pa, &pb, "--k", "4", "--plot", &plot, "--json"]);
        assert!(std::fs::metadata(&plot).unwrap().len() > 100, "{plot}");
    }
}

#[test]
fn knn_graph_to_npy_csv_json_and_table() {
    let dir = TempDir::new("knn");
    let (a, _) = pair(&dir);
    let pa = dir.path("a.npy");
    let out = dir.path("g.npy");
    let r = json(&["knn", &pa, "--k", "4", "--cosine", "--out", &out, "--json"]);
    assert_eq!(keys(&r), ["n", "d", "k", "similarity", "isa", "seconds", "out"]);
    assert_eq!(r["similarity"], "cosine");
    let (shape, graph) = read_npy::<i32>(&out);
    assert_eq!(shape, [N as u64, 4]);
    let want = knn::graph(Matrix::new(&a, N, DA).unwrap(), 4, Similarity::Cosine, &EXEC).unwrap();
    assert_eq!(graph.iter().map(|&i| i as u32).collect::<Vec<_>>(), want.indices());

    let text = ok(&["knn", &pa, "--k", "4", "--cosine", "--out", &out]);
    assert!(text.contains(&format!("{N} x 4 int32 -> {out}")), "{text}");

    let csv = ok(&["knn", &pa, "--k", "4", "--cosine", "--csv"]);
    let rows: Vec<Vec<u32>> = csv.lines().map(|l| l.split(',').map(|x| x.parse().unwrap()).collect()).collect();
    assert_eq!(rows.len(), N);
    assert_eq!(rows.concat(), want.indices());

    let r = json(&["knn", &pa, "--k", "4", "--cosine", "--json"]);
    assert_eq!(keys(&r), ["n", "d", "k", "similarity", "isa", "seconds", "indices", "similarities"]);
    let indices: Vec<u32> = r["indices"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect::<Vec<_>>())
        .collect();
    assert_eq!(indices, want.indices());
    assert_eq!(r["similarities"][0][0].as_f64(), Some(f64::from(want.row_scores(0)[0])));

    let table = ok(&["knn", &pa, "--k", "4"]);
    let inner = knn::graph(Matrix::new(&a, N, DA).unwrap(), 4, Similarity::InnerProduct, &EXEC).unwrap();
    let row3: Vec<String> = std::iter::once(3).chain(inner.row(3).iter().copied()).map(|i| i.to_string()).collect();
    assert!(table.lines().any(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>() == row3), "{table}");
}

#[test]
fn prepare_writes_float32_and_reports_the_threshold() {
    let dir = TempDir::new("prepare");
    let (a, _) = models(&dir);
    let (pa, out) = (dir.path("A.npy"), dir.path("P.npy"));
    let r = json(&["prepare", &pa, "--prepare", "paper", "--q", "0.9", "--out", &out, "--json"]);
    assert_eq!(keys(&r), ["prepare", "q", "threshold", "shape", "out", "seconds"]);
    let (want, t) = prepare::prepare(&Layers::new(&a, N, 3, 5).unwrap(), Prepare::Paper, 0.9, &EXEC).unwrap();
    assert_eq!(r["threshold"].as_f64(), Some(f64::from(t)));
    assert_eq!(r["shape"], serde_json::json!([N, 3, 5]));
    let (shape, got) = read_npy::<f32>(&out);
    assert_eq!((shape, got), (vec![N as u64, 3, 5], want));
    let r = json(&["prepare", &pa, "--prepare", "normalize", "--out", &out, "--json"]);
    assert_eq!(r["threshold"], Value::Null);
    let text = ok(&["prepare", &pa, "--out", &out]);
    assert!(text.contains("threshold") && text.contains(&out), "{text}");
}

#[test]
fn info_and_isa() {
    let r = json(&["info", "--json"]);
    assert_eq!(keys(&r), ["version", "arch", "isa", "isas_available", "threads"]);
    assert_eq!(r["version"], env!("CARGO_PKG_VERSION"));
    let isas: Vec<&str> = r["isas_available"].as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect();
    assert_eq!(r["isa"].as_str(), Some(isas[0]));
    assert!(isas.contains(&"scalar") && r["threads"].as_u64().unwrap() >= 1);
    assert_eq!(json(&["info", "--isa", "scalar", "--threads", "3", "--json"])["isa"], "scalar");
    assert_eq!(json(&["info", "--threads", "3", "--json"])["threads"], 3);
    let text = ok(&["info"]);
    assert!(text.contains("version") && text.contains(env!("CARGO_PKG_VERSION")) && text.contains("threads"), "{text}");
    assert_eq!(ok(&["isa"]).lines().collect::<Vec<_>>(), isas);
    assert!(ok(&["--help"]).contains("JSON KEYS"));
    assert!(ok(&["score", "--help"]).contains("USAGE"));
    assert_eq!(ok(&["--version"]).trim(), format!("repalign {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn safetensors_inputs_of_every_dtype_and_layer_patterns() {
    let dir = TempDir::new("safetensors");
    let (a, b) = pair(&dir);
    let (pa, pb) = (dir.path("a.npy"), dir.path("b.npy"));
    let want = json(&["score", &pa, &pb, "--k", "3", "--json"])["score"].clone();
    let st = |file: &str| dir.path(file);
    write_safetensors(&st("a32.safetensors"), &[("x", vec![N, DA], Tensor::F32(&a))]);
    write_safetensors(&st("a16.safetensors"), &[("x", vec![N, DA], Tensor::F16(f16s(&a)))]);
    write_safetensors(&st("abf.safetensors"), &[("x", vec![N, DA], Tensor::Bf16(bf16s(&a)))]);
    for file in ["a32.safetensors", "a16.safetensors", "abf.safetensors"] {
        assert_eq!(json(&["score", &st(file), &pb, "--k", "3", "--json"])["score"], want, "{file}");
    }
    // Several tensors: by name with FILE:NAME or --tensor.
    let both = st("both.safetensors");
    write_safetensors(
        &both,
        &[("model.a", vec![N, DA], Tensor::F32(&a)), ("model.b", vec![N, DB], Tensor::Bf16(bf16s(&b)))],
    );
    let (sa, sb) = (format!("{both}:model.a"), format!("{both}:model.b"));
    assert_eq!(json(&["score", &sa, &sb, "--k", "3", "--json"])["score"], want);
    assert_eq!(json(&["score", &both, &pb, "--tensor", "model.a", "--k", "3", "--json"])["score"], want);

    // One tensor per layer, stacked: the same sweep as the 3-D .npy files.
    let (ma, mb) = models(&dir);
    let layer = |x: &[f32], l: usize, layers: usize| -> Vec<f32> {
        x.chunks(layers * 5).flat_map(|s| s[l * 5..(l + 1) * 5].to_vec()).collect()
    };
    let la: Vec<Vec<f32>> = (0..3).map(|l| layer(&ma, l, 3)).collect();
    let lb: Vec<Vec<f16>> = (0..4).map(|l| f16s(&layer(&mb, l, 4))).collect();
    let names_a: Vec<String> = (0..3).map(|l| format!("h.{l}.out")).collect();
    // Indices sort numerically (10 after 9), other tensors are ignored.
    let mut ta: Vec<(&str, Vec<usize>, Tensor<'_>)> =
        names_a.iter().zip(&la).map(|(n, v)| (n.as_str(), vec![N, 5], Tensor::F32(v))).collect();
    ta.push(("h.final", vec![N, 5], Tensor::F32(&la[0])));
    write_safetensors(&st("layers_a.safetensors"), &ta);
    let names_b = ["blk2", "blk9", "blk10", "blk11"];
    let tb: Vec<(&str, Vec<usize>, Tensor<'_>)> =
        names_b.iter().zip(&lb).map(|(n, v)| (*n, vec![N, 5], Tensor::F16(v.clone()))).collect();
    write_safetensors(&st("layers_b.safetensors"), &tb);
    let want = json(&["sweep", &dir.path("A.npy"), &dir.path("B16.npy"), "--k", "4", "--prepare", "paper", "--json"]);
    let got = json(&[
        "sweep",
        &format!("{}:h.{{}}.out", st("layers_a.safetensors")),
        &format!("{}:blk{{}}", st("layers_b.safetensors")),
        "--k",
        "4",
        "--prepare",
        "paper",
        "--json",
    ]);
    assert_eq!(got["scores"], want["scores"]);
    assert_eq!(got["best_index"], want["best_index"]);

    // A header whose length is not a multiple of 4: the data are unaligned in the file.
    let header = format!("{{\"x\":{{\"dtype\":\"F32\",\"shape\":[{N},{DA}],\"data_offsets\":[0,{}]}}}}", N * DA * 4);
    let mut bytes = (header.len() as u64 + 1).to_le_bytes().to_vec();
    bytes.extend(header.as_bytes());
    bytes.push(b' ');
    bytes.extend(a.iter().flat_map(|x| x.to_le_bytes()));
    std::fs::write(st("odd.safetensors"), bytes).unwrap();
    let want = json(&["score", &pa, &pb, "--k", "3", "--json"])["score"].clone();
    assert_eq!(json(&["score", &st("odd.safetensors"), &pb, "--k", "3", "--json"])["score"], want);
}

#[test]
fn f16_npy_3d_matches_f32_on_exact_values() {
    let dir = TempDir::new("f16-3d");
    let (_, b) = models(&dir);
    assert!(b.iter().all(|&x| f16::from_f32(x).to_f32() == x));
    let (pa, pb, pb16) = (dir.path("A.npy"), dir.path("B.npy"), dir.path("B16.npy"));
    let r32 = json(&["sweep", &pa, &pb, "--k", "4", "--prepare", "paper", "--json"]);
    let r16 = json(&["sweep", &pa, &pb16, "--k", "4", "--prepare", "paper", "--json"]);
    assert_eq!(r32["scores"], r16["scores"]);
}

#[test]
fn npy_values_are_read_in_either_byte_order() {
    // The values are read as raw bytes: every one of them must arrive, in its own byte order,
    // whatever the width. Linear CKA depends on each value, so any lost or garbled byte moves it.
    let dir = TempDir::new("byte-order");
    let (a, b) = (random(N * DA, 11), random(N * DB, 12));
    let pb = dir.path("b.npy");
    write_npy(&pb, &[N as u64, DB as u64], &b);
    let h = f16s(&a);
    let files = [
        ("le32.npy", "<f4", a.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()),
        ("be32.npy", ">f4", a.iter().flat_map(|x| x.to_be_bytes()).collect()),
        ("le16.npy", "<f2", h.iter().flat_map(|x| x.to_le_bytes()).collect()),
        ("be16.npy", ">f2", h.iter().flat_map(|x| x.to_be_bytes()).collect()),
    ];
    let mb = Matrix::new(&b, N, DB).unwrap();
    let cka = |m: AnyMatrix<'_>| {
        metrics::score(m, mb, &Metric::Cka { kernel: repalign::metrics::Kernel::Linear, unbiased: false }, &EXEC)
            .unwrap()
    };
    let want32 = cka(Matrix::new(&a, N, DA).unwrap().into());
    let want16 = cka(Matrix::new(&h, N, DA).unwrap().into());
    assert_ne!(want32, want16, "the f16 values must differ from the f32 ones for the test to tell them apart");
    for (name, descr, data) in files {
        let p = dir.path(name);
        std::fs::write(&p, raw_npy(descr, &format!("({N}, {DA})"), &data)).unwrap();
        let r = json(&["score", &p, &pb, "--metric", "cka", "--json"]);
        let want = if descr.ends_with('4') { want32 } else { want16 };
        assert_eq!(r["score"].as_f64(), Some(want), "{descr}");
    }
    // A file that ends early is still reported with the bytes it lacks, in either order.
    let p = dir.path("short.npy");
    std::fs::write(&p, raw_npy(">f4", &format!("({N}, {DA})"), &vec![0; N * DA * 4 - 3])).unwrap();
    let e = fails(&["score", &p, &pb, "--metric", "cka"], 1);
    assert!(e.contains(&p) && e.contains("truncated"), "{e}");
}
#[test]
fn bad_input_is_reported_with_exit_status() {
    let dir = TempDir::new("errors");
    let (a, _) = pair(&dir);
    let (pa, pb) = (dir.path("a.npy"), dir.path("b.npy"));

    // File not found, with the path.
    let missing = dir.path("missing.npy");
    let e = fails(&["score", &missing, &pb], 1);
    assert!(e.contains(&missing) && e.contains("not found"), "{e}");
    // Not a feature file at all.
    let text = dir.path("notes.txt");
    std::fs::write(&text, "hello, world").unwrap();
    assert!(fails(&["score", &text, &pb], 1).contains("not a .npy or .safetensors file"));

    // Wrong dtype: what was found and what is accepted.
    let p = dir.path("int.npy");
    write_npy(&p, &[N as u64, DA as u64], &vec![1i32; N * DA]);
    let e = fails(&["score", &p, &pb], 1);
    assert!(e.contains("int32") && e.contains("float32 or float16"), "{e}");
    let p = dir.path("f64.npy");
    write_npy(&p, &[N as u64, DA as u64], &vec![1.0f64; N * DA]);
    let e = fails(&["knn", &p, "--k", "2"], 1);
    assert!(e.contains("float64") && e.contains("float32 or float16"), "{e}");
    let p = dir.path("int.safetensors");
    write_safetensors(&p, &[("x", vec![N, DA], Tensor::I32(vec![1; N * DA]))]);
    let e = fails(&["score", &p, &pb], 1);
    assert!(e.contains("I32") && e.contains("bfloat16"), "{e}");

    // Wrong rank: what was found and what is accepted.
    let p = dir.path("flat.npy");
    write_npy(&p, &[(N * DA) as u64], &a);
    let e = fails(&["score", &p, &pb], 1);
    assert!(e.contains("1-D") && e.contains("2-D (N x D) or 3-D"), "{e}");
    let p = dir.path("cube.npy");
    write_npy(&p, &[N as u64, 2, 3], &a);
    let e = fails(&["score", &p, &pb], 1);
    assert!(e.contains("3-D") && e.contains("takes a 2-D array"), "{e}");

    // Fortran order is refused, not silently transposed.
    let p = dir.path("fortran.npy");
    let file = std::fs::File::create(&p).unwrap();
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .order(npyz::Order::Fortran)
        .shape(&[N as u64, DA as u64])
        .writer(file)
        .begin_nd()
        .unwrap();
    w.extend(a.iter().copied()).unwrap();
    w.finish().unwrap();
    assert!(fails(&["knn", &p, "--k", "2"], 1).contains("Fortran order"));

    // N mismatch: both Ns.
    let p = dir.path("short.npy");
    write_npy(&p, &[(N - 4) as u64, DA as u64], &a[..(N - 4) * DA]);
    let e = fails(&["score", &pa, &p], 1);
    assert!(e.contains(&format!("N = {N}")) && e.contains(&format!("N = {}", N - 4)), "{e}");
    let e = fails(&["sweep", &p, &pb], 1);
    assert!(e.contains(&format!("N = {}", N - 4)) && e.contains(&format!("N = {N}")), "{e}");

    // NaN / infinity: which file, which row.
    let mut bad = a.clone();
    bad[5 * DA + 2] = f32::NAN;
    let p = dir.path("nan.npy");
    write_npy(&p, &[N as u64, DA as u64], &bad);
    let e = fails(&["score", &pa, &p], 1);
    assert!(e.contains(&p) && e.contains("row 5, column 2"), "{e}");
    let mut bad = f16s(&a);
    bad[7 * DA] = f16::INFINITY;
    let p = dir.path("inf.safetensors");
    write_safetensors(&p, &[("x", vec![N / 2, 2, DA], Tensor::F16(bad))]);
    let e = fails(&["sweep", &p, &p], 1);
    assert!(e.contains(&p) && e.contains("row 3 (sample), layer 1, column 0"), "{e}");

    // k too large: the largest allowed.
    let e = fails(&["score", &pa, &pb, "--k", "30"], 1);
    assert!(e.contains("--k 30 is too large") && e.contains(&format!("at most {}", N - 1)), "{e}");
    let e = fails(&["knn", &pa, "--k", &N.to_string()], 1);
    assert!(e.contains(&format!("at most {}", N - 1)), "{e}");
    let e = fails(&["score", &pa, &pb, "--metric", "cknna", "--k", "30"], 1);
    assert!(e.contains(&format!("at most {N}")), "{e}");
    // k below every metric's minimum is a bad command line, whatever the data.
    assert!(fails(&["knn", &pa, "--k", "0"], 2).contains("at least 1"));

    // Unknown metric: the valid ones.
    let e = fails(&["score", &pa, &pb, "--metric", "mutual"], 2);
    assert!(e.contains("unknown metric 'mutual'") && e.contains("mutual_knn, cycle_knn") && e.contains("svcca"), "{e}");

    // Unknown tensor name: the available ones; several tensors and no name; no pattern match.
    let p = dir.path("two.safetensors");
    write_safetensors(&p, &[("left", vec![N, DA], Tensor::F32(&a)), ("right", vec![N, DA], Tensor::F32(&a))]);
    let e = fails(&["score", &format!("{p}:middle"), &pb], 1);
    assert!(e.contains("no tensor named 'middle'") && e.contains("available: left, right"), "{e}");
    let e = fails(&["score", &p, &pb, "--tensor", "up"], 1);
    assert!(e.contains("no tensor named 'up'") && e.contains("left, right"), "{e}");
    let e = fails(&["score", &p, &pb], 1);
    assert!(e.contains("holds 2 tensors") && e.contains("left, right"), "{e}");
    let e = fails(&["sweep", &format!("{p}:layer.{{}}"), &pb], 1);
    assert!(e.contains("no tensor matches the layer pattern 'layer.{}'") && e.contains("left, right"), "{e}");

    // Unknown option, options of another command, unknown command, bad values: exit 2.
    let e = fails(&["score", &pa, &pb, "--frobnicate"], 2);
    assert!(e.contains("unknown option '--frobnicate'") && e.contains("--metric"), "{e}");
    assert!(fails(&["knn", &pa, "--k", "2", "--metric", "cka"], 2).contains("does not apply to knn"));
    assert!(fails(&["sweep", &pa, &pb, "--normalize"], 2).contains("--prepare normalize"));
    assert!(fails(&["prepare", &pa, "--out", &dir.path("p.npy"), "--isa", "scalar"], 2).contains("does not apply"));
    assert!(fails(&["frobnicate"], 2).contains("unknown command 'frobnicate'"));
    assert!(fails(&[], 2).contains("no command"));
    assert!(fails(&["score", &pa, &pb, "--k", "ten"], 2).contains("not a non-negative integer"));
    assert!(fails(&["score", &pa, &pb, "--k"], 2).contains("--k needs a value"));
    assert!(fails(&["sweep", &pa, &pb, "--json", "--csv"], 2).contains("exclude each other"));
    assert!(fails(&["sweep", &pa, &pb, "--prepare", "zap"], 2).contains("paper-per-sample"));
    assert!(fails(&["score", &pa], 2).contains("two input files"));
    assert!(fails(&["knn", &pa, "--k", "2", "--out", &dir.path("g.txt")], 2).contains("must end in .npy"));
    assert!(fails(&["sweep", &pa, &pb, "--plot", &dir.path("x.gif")], 2).contains(".svg or .png"));
}

#[test]
fn progress_is_drawn_only_on_a_terminal() {
    // `script` runs the command on a pseudo-terminal (util-linux); skip where it is missing.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` command");
        return;
    }
    let dir = TempDir::new("progress");
    models(&dir);
    let (pa, pb) = (dir.path("A.npy"), dir.path("B.npy"));
    let on_tty = |extra: &str| -> String {
        let cmd = format!("{} sweep {pa} {pb} --k 4 --json {extra}", env!("CARGO_BIN_EXE_repalign"));
        // TERM as a terminal emulator sets it (indicatif draws nothing on a dumb terminal).
        let out = Command::new("script").args(["-qec", &cmd, "/dev/null"]).env("TERM", "xterm").output().unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shown = on_tty("");
    assert!(shown.contains("A: layer 1/3") && shown.contains("\"best\""), "{shown}");
    let quiet = on_tty("--quiet");
    assert!(!quiet.contains("A: layer") && quiet.contains("\"best\""), "{quiet}");
}

#[test]
fn zoo_pairs_equal_sweeps_and_groups_split_the_models() {
    let dir = TempDir::new("zoo");
    models(&dir);
    let (pa, pb, pb16) = (dir.path("A.npy"), dir.path("B.npy"), dir.path("B16.npy"));
    let c = dir.path("C.npy");
    write_npy(&c, &[N as u64, 7], &ints(N * 7, 9));
    let named = format!("half={pb16}");
    let r = json(&["zoo", &pa, &pb, &named, &c, "--k", "4", "--prepare", "paper", "--permutations", "30", "--json"]);
    has_keys(
        &r,
        &["metric", "prepare", "n", "models", "pairs", "rows", "cols", "matrix", "isa", "seconds", "warnings"],
    );
    let names: Vec<&str> = r["models"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["A", "B", "half", "C"]);
    let paths = [&pa, &pb, &pb16, &c];
    let pairs = r["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 6);
    for p in pairs {
        let (ia, ib) = (
            names.iter().position(|n| *n == p["a"].as_str().unwrap()).unwrap(),
            names.iter().position(|n| *n == p["b"].as_str().unwrap()).unwrap(),
        );
        // The pair's sweep, and its calibration, as `repalign sweep` gives them.
        let s =
            json(&["sweep", paths[ia], paths[ib], "--k", "4", "--prepare", "paper", "--permutations", "30", "--json"]);
        assert_eq!(p["scores"], s["scores"], "{ia} {ib}");
        assert_eq!((&p["best"], &p["best_index"]), (&s["best"], &s["best_index"]));
        assert_eq!(p["p_value"], s["calibration"]["p_value"]);
        assert_eq!(r["matrix"][ia][ib], s["best"]);
        assert_eq!(r["matrix"][ib][ia], s["best"]);
        assert!(p["q_value"].as_f64().unwrap() >= p["p_value"].as_f64().unwrap());
    }
    assert!(r["matrix"][0][0].is_null());

    // --group-b: A and B against half and C, a 2 x 2 matrix.
    let g = json(&["zoo", &pa, &pb, "--group-b", &named, &c, "--k", "4", "--json"]);
    assert_eq!(
        (g["rows"].clone(), g["cols"].clone()),
        (serde_json::json!(["A", "B"]), serde_json::json!(["half", "C"]))
    );
    assert_eq!(g["pairs"].as_array().unwrap().len(), 4);
    let csv = ok(&["zoo", &pa, &pb, "--group-b", &named, &c, "--k", "4", "--csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "model,half,C");
    assert!(lines[1].starts_with("A,") && lines.len() == 3, "{csv}");
    let table = ok(&["zoo", &pa, &pb, &c, "--k", "4"]);
    assert!(table.contains("A vs B: ") && table.contains("B vs C: "), "{table}");

    // Bad zoos: one model, a name given twice, different N, --group-b at an end.
    assert!(fails(&["zoo", &pa, "--k", "4"], 2).contains("two models"));
    assert!(fails(&["zoo", &pa, &pa, "--k", "4"], 2).contains("named 'A'"));
    assert!(fails(&["zoo", &pa, &pb, "--group-b", "--k", "4"], 2).contains("--group-b"));
    let short = dir.path("short.npy");
    write_npy(&short, &[N as u64 - 1, 3], &ints((N - 1) * 3, 5));
    assert!(fails(&["zoo", &pa, &short, "--k", "4"], 1).contains("different samples"));
}
