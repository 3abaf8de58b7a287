//! Golden data from the paper's reference implementation (`../shared/golden/`): the kNN
//! lists and mutual_knn values must match, and the edge cases where repalign reports an
//! error instead of the reference's silent value are pinned down.

mod common;

use repalign::knn::{self, KnnOptions};
use repalign::metrics::{self, KnnMetric};
use repalign::npy::{self, NpyData};
use repalign::{AnyMatrix, Error, Isa, Matrix};
use serde_json::Value;

struct Features {
    rows: usize,
    cols: usize,
    data: NpyData,
}

impl Features {
    fn load(file: &str) -> Features {
        let a = npy::read(common::shared(&format!("golden/{file}"))).unwrap();
        assert_eq!(a.shape.len(), 2, "{file}");
        Features { rows: a.shape[0], cols: a.shape[1], data: a.data }
    }
    fn view(&self) -> AnyMatrix<'_> {
        match &self.data {
            NpyData::F32(v) => Matrix::new(v, self.rows, self.cols).unwrap().into(),
            NpyData::F16(v) => Matrix::new(v, self.rows, self.cols).unwrap().into(),
            NpyData::I32(_) => panic!("features are floats"),
        }
    }
}

fn manifest() -> Value {
    let text = std::fs::read_to_string(common::shared("golden/manifest.json")).expect("../shared/golden is missing");
    serde_json::from_str(&text).unwrap()
}

fn knn_list(file: &str) -> (usize, usize, Vec<u32>) {
    let a = npy::read(common::shared(&format!("golden/{file}"))).unwrap();
    let NpyData::I32(v) = a.data else { panic!("{file}: int32 expected") };
    (a.shape[0], a.shape[1], v.into_iter().map(|x| x as u32).collect())
}

/// Metric cases: our inner-product graphs equal the reference lists on every backend, and
/// every kNN metric (mutual, cycle, LCS, edit distance) equals the reference within the
/// manifest's tolerance, in the recorded argument order.
#[test]
fn knn_lists_and_mutual_knn_match_the_reference() {
    let m = manifest();
    let mut cases = 0;
    let mut values = 0;
    for case in m["cases"].as_array().unwrap() {
        let Some(knn_files) =
            case.get("knn").filter(|_| case["type"] != "pipeline" && case["type"] != "pipeline_float16")
        else {
            continue;
        };
        let id = case["id"].as_str().unwrap();
        let a = Features::load(case["inputs"]["A"]["file"].as_str().unwrap());
        let b = Features::load(case["inputs"]["B"]["file"].as_str().unwrap());
        let (rows, kmax, want_a) = knn_list(knn_files["A"]["file"].as_str().unwrap());
        let (_, _, want_b) = knn_list(knn_files["B"]["file"].as_str().unwrap());
        assert_eq!(rows, a.rows);
        // The reference ranks raw inner products (metrics do not normalise).
        for isa in [Isa::best(), Isa::Scalar, Isa::Emulated512] {
            let o = KnnOptions { isa: Some(isa), ..KnnOptions::default() };
            let ga = knn::graph(a.view(), kmax, &o).unwrap();
            let gb = knn::graph(b.view(), kmax, &o).unwrap();
            assert_eq!(ga.indices(), &want_a[..], "{id}: A lists on {isa}");
            assert_eq!(gb.indices(), &want_b[..], "{id}: B lists on {isa}");
        }
        let o = KnnOptions::default();
        let (ga, gb) = (knn::graph(a.view(), kmax, &o).unwrap(), knn::graph(b.view(), kmax, &o).unwrap());
        for r in case["results"].as_array().unwrap() {
            let Some(metric) = KnnMetric::from_name(r["metric"].as_str().unwrap()) else { continue };
            let k = r["params"]["topk"].as_u64().unwrap() as usize;
            let expected = r["expected"].as_f64().unwrap();
            let tol = r["tolerance_abs"].as_f64().unwrap();
            // `args` records the reference's argument order (cycle_knn is not symmetric).
            let swap = r["args"] == "B,A";
            let (g1, g2) = if swap { (gb.as_ref(), ga.as_ref()) } else { (ga.as_ref(), gb.as_ref()) };
            let (f1, f2) = if swap { (b.view(), a.view()) } else { (a.view(), b.view()) };
            let from_graphs = metrics::knn_metric_graphs(metric, g1, g2, k).unwrap();
            let from_features = metrics::knn_metric(metric, f1, f2, k, &o).unwrap();
            let what = format!("{id} {} k={k} {}", metric.name(), r["args"]);
            assert!((from_graphs - expected).abs() <= tol, "{what}: {from_graphs} vs {expected}");
            assert_eq!(from_graphs, from_features, "{what}");
            if let Some(exact) = r["exact_f64"].as_f64() {
                assert!((from_graphs - exact).abs() < 1e-12, "{what}: {from_graphs} vs exact {exact}");
            }
            values += 1;
        }
        cases += 1;
    }
    assert!(cases >= 15 && values >= 100, "only {cases} cases / {values} values checked");
    println!("{cases} cases, {values} kNN-metric values checked");
}

fn edge_calls(id: &str) -> Vec<Value> {
    let m = manifest();
    let case = m["cases"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap().clone();
    case["calls"].as_array().unwrap().iter().filter(|c| c["metric"] == "mutual_knn").cloned().collect()
}

fn edge_inputs(id: &str) -> (Features, Features) {
    (Features::load(&format!("{id}.A.npy")), Features::load(&format!("{id}.B.npy")))
}

#[test]
fn edge_values_with_unambiguous_answers() {
    let o = KnnOptions::default();
    // Exact duplicate rows: the reference's value with ties broken by lower index first.
    let (a, b) = edge_inputs("edge_duplicates_n12_d6");
    let mut checked = 0;
    for call in edge_calls("edge_duplicates_n12_d6") {
        let k = call["params"]["topk"].as_u64().unwrap() as usize;
        let want = call["value_with_ties_broken_by_lower_index_first"].as_f64().unwrap();
        let got = metrics::mutual_knn(a.view(), b.view(), k, &o).unwrap();
        assert!((got - want).abs() < 1e-12, "duplicates k={k}: {got} vs {want}");
        checked += 1;
    }
    // Very small N.
    let (a, b) = edge_inputs("edge_small_n3");
    for call in edge_calls("edge_small_n3") {
        let k = call["params"]["topk"].as_u64().unwrap() as usize;
        let want = call["exact_f64"].as_f64().unwrap();
        assert!((metrics::mutual_knn(a.view(), b.view(), k, &o).unwrap() - want).abs() < 1e-12);
        checked += 1;
    }
    assert!(checked >= 4);
}

/// Where the reference silently returns a number, repalign returns a typed error
/// (documented in README.md, "Differences from the reference").
#[test]
fn edge_inputs_the_reference_accepts_are_errors_here() {
    let o = KnnOptions::default();
    let (a, b) = edge_inputs("edge_nan_n10_d8");
    assert_eq!(metrics::mutual_knn(a.view(), b.view(), 2, &o).unwrap_err(), Error::NonFinite { row: 2, col: 3 });
    let (a, b) = edge_inputs("edge_d0_n5");
    assert_eq!(metrics::mutual_knn(a.view(), b.view(), 2, &o).unwrap_err(), Error::ZeroDimension);
    let (a, b) = edge_inputs("edge_n1_d4");
    assert_eq!(metrics::mutual_knn(a.view(), b.view(), 1, &o).unwrap_err(), Error::InvalidK { k: 1, max: 0 });
    let (a, b) = edge_inputs("edge_topk_ge_n_n6");
    for k in [0, 6, 7] {
        assert_eq!(metrics::mutual_knn(a.view(), b.view(), k, &o).unwrap_err(), Error::InvalidK { k, max: 5 });
    }
    // k = N - 1 is the largest k and agrees with the reference.
    let want = edge_calls("edge_topk_ge_n_n6").iter().find(|c| c["params"]["topk"] == 5).unwrap()["expected"]
        .as_f64()
        .unwrap();
    assert_eq!(metrics::mutual_knn(a.view(), b.view(), 5, &o).unwrap(), want);
}

/// Kernel metrics (cka, unbiased_cka with linear and RBF kernels; cknna biased and
/// unbiased, both argument orders) within the manifest's tolerances.
#[test]
fn kernel_metrics_match_the_reference() {
    use repalign::metrics::{Kernel, cka_kernels, cknna_kernels, kernel_matrix};
    let m = manifest();
    let mut values = 0;
    for case in m["cases"].as_array().unwrap() {
        let Some(results) = case["results"].as_array() else { continue };
        let id = case["id"].as_str().unwrap();
        let a = Features::load(case["inputs"]["A"]["file"].as_str().unwrap());
        let b = Features::load(case["inputs"]["B"]["file"].as_str().unwrap());
        for r in results {
            let metric = r["metric"].as_str().unwrap();
            if !matches!(metric, "cka" | "unbiased_cka" | "cknna") {
                continue;
            }
            let p = &r["params"];
            let kernel = match p["kernel_metric"].as_str() {
                Some("rbf") => Kernel::Rbf { sigma: p["rbf_sigma"].as_f64().unwrap_or(1.0) },
                _ => Kernel::Linear,
            };
            let (x, y) = if r["args"] == "B,A" { (&b, &a) } else { (&a, &b) };
            let (kx, ky) = (kernel_matrix(x.view(), kernel, 0).unwrap(), kernel_matrix(y.view(), kernel, 0).unwrap());
            let got = match metric {
                "cka" => cka_kernels(&kx, &ky, false).unwrap(),
                "unbiased_cka" => cka_kernels(&kx, &ky, true).unwrap(),
                _ => {
                    let topk = p["topk"].as_u64().unwrap() as usize;
                    cknna_kernels(&kx, &ky, topk, p["unbiased"].as_bool().unwrap_or(true)).unwrap()
                }
            };
            let (expected, tol) = (r["expected"].as_f64().unwrap(), r["tolerance_abs"].as_f64().unwrap());
            assert!((got - expected).abs() <= tol, "{id} {metric} {p} {}: {got} vs {expected} (tol {tol})", r["args"]);
            values += 1;
        }
    }
    println!("{values} kernel-metric values checked");
    assert!(values >= 50, "only {values} kernel-metric values");
}

/// SVCCA: the exact deterministic definition against `exact_f64` (the reference itself is
/// randomised; its value is only checked within its own recorded noise).
#[test]
fn svcca_matches_the_exact_definition() {
    let m = manifest();
    let mut values = 0;
    for case in m["cases"].as_array().unwrap() {
        let Some(results) = case["results"].as_array() else { continue };
        let id = case["id"].as_str().unwrap();
        for r in results.iter().filter(|r| r["metric"] == "svcca") {
            let a = Features::load(case["inputs"]["A"]["file"].as_str().unwrap());
            let b = Features::load(case["inputs"]["B"]["file"].as_str().unwrap());
            let dim = r["params"]["cca_dim"].as_u64().unwrap() as usize;
            let got = metrics::svcca(a.view(), b.view(), dim).unwrap();
            let exact = r["exact_f64"].as_f64().unwrap();
            let tol = r["tolerance_abs_vs_exact_f64"].as_f64().unwrap();
            assert!((got - exact).abs() <= tol, "{id} svcca({dim}): {got} vs exact {exact} (tol {tol})");
            let (expected, tol_ref) = (r["expected"].as_f64().unwrap(), r["tolerance_abs"].as_f64().unwrap());
            assert!((got - expected).abs() <= tol_ref, "{id} svcca({dim}): {got} vs reference {expected}");
            values += 1;
        }
    }
    println!("{values} svcca values checked");
    assert!(values >= 10);
}
