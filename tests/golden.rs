//! Golden data from the paper's reference implementation (`tests/data/golden/`): the kNN
//! lists and mutual_knn values must match, and the edge cases where repalign reports an
//! error instead of the reference's silent value are pinned down.

mod common;

use repalign::knn::{self, Similarity};
use repalign::{Exec, Metric};

const IP: Similarity = Similarity::InnerProduct;
const EXEC: Exec<'static> = Exec::new();
use repalign::metrics::{self, KnnMetric};
use repalign::{AnyMatrix, Error, Isa, Matrix};
use serde_json::Value;

/// Reads the reference's `.npy` files (float32, float16, int32; C order), stored gzipped, with npyz.
mod npy {
    use repalign::f16;

    pub enum NpyData {
        F32(Vec<f32>),
        F16(Vec<f16>),
        I32(Vec<i32>),
    }

    pub struct Npy {
        pub shape: Vec<usize>,
        pub data: NpyData,
    }

    pub fn read(path: impl AsRef<std::path::Path>) -> std::io::Result<Npy> {
        let path = path.as_ref();
        let gz = flate2::read::GzDecoder::new(std::fs::File::open(path)?);
        let file = npyz::NpyFile::new(std::io::BufReader::new(gz))?;
        assert_eq!(file.order(), npyz::Order::C, "{}", path.display());
        let shape = file.shape().iter().map(|&s| s as usize).collect();
        let npyz::DType::Plain(ty) = file.dtype() else { panic!("{}: not a plain dtype", path.display()) };
        let data = match (ty.type_char(), ty.size_field()) {
            (npyz::TypeChar::Float, 4) => NpyData::F32(file.into_vec()?),
            (npyz::TypeChar::Float, 2) => NpyData::F16(file.into_vec()?),
            (npyz::TypeChar::Int, 4) => NpyData::I32(file.into_vec()?),
            _ => panic!("{}: unexpected dtype {ty}", path.display()),
        };
        Ok(Npy { shape, data })
    }
}
use npy::NpyData;

struct Features {
    rows: usize,
    cols: usize,
    data: NpyData,
}

impl Features {
    fn load(file: &str) -> Features {
        let a = npy::read(common::data(&format!("golden/{file}.gz"))).unwrap();
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
    let text = std::fs::read_to_string(common::data("golden/manifest.json")).expect("tests/data/golden is missing");
    serde_json::from_str(&text).unwrap()
}

fn knn_list(file: &str) -> (usize, usize, Vec<u32>) {
    let a = npy::read(common::data(&format!("golden/{file}.gz"))).unwrap();
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
        for isa in [Isa::best(), Isa::Scalar, Isa::Emulated512].into_iter().filter(|isa| common::isas().contains(isa)) {
            let o = Exec::new().with_isa(Some(isa));
            let ga = knn::graph(a.view(), kmax, IP, &o).unwrap();
            let gb = knn::graph(b.view(), kmax, IP, &o).unwrap();
            assert_eq!(ga.indices(), &want_a[..], "{id}: A lists on {isa}");
            assert_eq!(gb.indices(), &want_b[..], "{id}: B lists on {isa}");
        }
        let (ga, gb) = (knn::graph(a.view(), kmax, IP, &EXEC).unwrap(), knn::graph(b.view(), kmax, IP, &EXEC).unwrap());
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
            let from_features = metrics::score(f1, f2, &Metric::Knn { metric, k, similarity: IP }, &EXEC).unwrap();
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
    // Exact duplicate rows: the reference's value with ties broken by lower index first.
    let (a, b) = edge_inputs("edge_duplicates_n12_d6");
    let mut checked = 0;
    for call in edge_calls("edge_duplicates_n12_d6") {
        let k = call["params"]["topk"].as_u64().unwrap() as usize;
        let want = call["value_with_ties_broken_by_lower_index_first"].as_f64().unwrap();
        let got =
            metrics::score(a.view(), b.view(), &Metric::Knn { metric: KnnMetric::Mutual, k, similarity: IP }, &EXEC)
                .unwrap();
        assert!((got - want).abs() < 1e-12, "duplicates k={k}: {got} vs {want}");
        checked += 1;
    }
    // Very small N.
    let (a, b) = edge_inputs("edge_small_n3");
    for call in edge_calls("edge_small_n3") {
        let k = call["params"]["topk"].as_u64().unwrap() as usize;
        let want = call["exact_f64"].as_f64().unwrap();
        assert!(
            (metrics::score(a.view(), b.view(), &Metric::Knn { metric: KnnMetric::Mutual, k, similarity: IP }, &EXEC)
                .unwrap()
                - want)
                .abs()
                < 1e-12
        );
        checked += 1;
    }
    assert!(checked >= 4);
}

/// Where the reference silently returns a number, repalign returns a typed error
/// (documented in README.md, "Differences from the reference").
#[test]
fn edge_inputs_the_reference_accepts_are_errors_here() {
    let (a, b) = edge_inputs("edge_nan_n10_d8");
    assert_eq!(
        metrics::score(a.view(), b.view(), &Metric::Knn { metric: KnnMetric::Mutual, k: 2, similarity: IP }, &EXEC)
            .unwrap_err(),
        Error::NonFinite { row: 2, col: 3 }
    );
    let (a, b) = edge_inputs("edge_d0_n5");
    assert_eq!(
        metrics::score(a.view(), b.view(), &Metric::Knn { metric: KnnMetric::Mutual, k: 2, similarity: IP }, &EXEC)
            .unwrap_err(),
        Error::ZeroDimension
    );
    let (a, b) = edge_inputs("edge_n1_d4");
    assert_eq!(
        metrics::score(a.view(), b.view(), &Metric::Knn { metric: KnnMetric::Mutual, k: 1, similarity: IP }, &EXEC)
            .unwrap_err(),
        Error::InvalidK { k: 1, max: 0 }
    );
    let (a, b) = edge_inputs("edge_topk_ge_n_n6");
    for k in [0, 6, 7] {
        assert_eq!(
            metrics::score(a.view(), b.view(), &Metric::Knn { metric: KnnMetric::Mutual, k, similarity: IP }, &EXEC)
                .unwrap_err(),
            Error::InvalidK { k, max: 5 }
        );
    }
    // k = N - 1 is the largest k and agrees with the reference.
    let want = edge_calls("edge_topk_ge_n_n6").iter().find(|c| c["params"]["topk"] == 5).unwrap()["expected"]
        .as_f64()
        .unwrap();
    assert_eq!(
        metrics::score(a.view(), b.view(), &Metric::Knn { metric: KnnMetric::Mutual, k: 5, similarity: IP }, &EXEC)
            .unwrap(),
        want
    );
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
            let (kx, ky) =
                (kernel_matrix(x.view(), kernel, &EXEC).unwrap(), kernel_matrix(y.view(), kernel, &EXEC).unwrap());
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
            let got = metrics::score(a.view(), b.view(), &Metric::Svcca { cca_dim: dim }, &EXEC).unwrap();
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

/// The paper's pipeline: clamp (exact and per-sample thresholds), normalise, sweep every
/// layer pair; thresholds, kNN lists, full score matrices and best pairs.
#[test]
fn pipeline_matches_the_reference() {
    use repalign::prepare::{self, Layers, Prepare};
    use repalign::sweep::sweep;

    fn prepared(file: &str, mode: Prepare) -> (Vec<f32>, f32, [usize; 3]) {
        let t = npy::read(common::data(&format!("golden/{file}.gz"))).unwrap();
        let s = [t.shape[0], t.shape[1], t.shape[2]];
        let (values, threshold) = match &t.data {
            NpyData::F32(v) => prepare::prepare(&Layers::new(v, s[0], s[1], s[2]).unwrap(), mode, 0.95, &EXEC).unwrap(),
            NpyData::F16(v) => prepare::prepare(&Layers::new(v, s[0], s[1], s[2]).unwrap(), mode, 0.95, &EXEC).unwrap(),
            NpyData::I32(_) => panic!("features are floats"),
        };
        (values, threshold, s)
    }
    let m = manifest();
    let mut checked = 0;
    for case in m["cases"].as_array().unwrap() {
        let Some(pipe) = case.get("pipeline") else { continue };
        let id = case["id"].as_str().unwrap();
        for (variant, mode) in [("exact", Prepare::Paper), ("nonexact", Prepare::PaperPerSample)] {
            let v = &pipe[variant];
            let (va, ta, sa) = prepared(case["inputs"]["A"]["file"].as_str().unwrap(), mode);
            let (vb, tb, sb) = prepared(case["inputs"]["B"]["file"].as_str().unwrap(), mode);
            for (got, side) in [(ta, "A"), (tb, "B")] {
                let want = v["remove_outliers"][side]["threshold"].as_f64().unwrap() as f32;
                if mode == Prepare::Paper {
                    assert_eq!(got, want, "{id} {variant} threshold {side}");
                } else {
                    assert!((got - want).abs() <= 1e-6 * want, "{id} {variant} threshold {side}: {got} vs {want}");
                }
            }
            let la = Layers::new(&va, sa[0], sa[1], sa[2]).unwrap();
            let lb = Layers::new(&vb, sb[0], sb[1], sb[2]).unwrap();
            let a: Vec<AnyMatrix<'_>> = (0..sa[1]).map(|l| la.layer(l).into()).collect();
            let b: Vec<AnyMatrix<'_>> = (0..sb[1]).map(|l| lb.layer(l).into()).collect();
            if let Some(lists) = v.get("knn") {
                // L x N x 10 lists per layer, after clamping and normalisation.
                for (side, layers) in [("A", &a), ("B", &b)] {
                    let t = npy::read(common::data(&format!("golden/{}.gz", lists[side]["file"].as_str().unwrap())))
                        .unwrap();
                    let NpyData::I32(want) = t.data else { panic!() };
                    for (l, x) in layers.iter().enumerate() {
                        let g = knn::graph(*x, 10, IP, &EXEC).unwrap();
                        let w: Vec<u32> =
                            want[l * sa[0] * 10..(l + 1) * sa[0] * 10].iter().map(|&i| i as u32).collect();
                        assert_eq!(g.indices(), &w[..], "{id} {variant} {side} layer {l} kNN lists");
                    }
                }
            }
            for r in v["results"].as_array().unwrap() {
                let name = r["metric"].as_str().unwrap();
                let k = r["params"]["topk"].as_u64().unwrap_or(10) as usize;
                let result = sweep(&a, &b, &Metric::from_name(name, k).unwrap(), &EXEC).unwrap();
                let tol = r["tolerance_abs"].as_f64().unwrap();
                let want: Vec<f64> = r["score_matrix"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|row| row.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
                    .collect();
                for (pos, (g, w)) in result.scores.iter().zip(&want).enumerate() {
                    assert!((g - w).abs() <= tol, "{id} {variant} {name} pair {pos}: {g} vs {w}");
                }
                let bi = r["best_indices"].as_array().unwrap();
                let want_best = (bi[0].as_u64().unwrap() as usize, bi[1].as_u64().unwrap() as usize);
                assert_eq!(result.best_index, Some(want_best), "{id} {variant} {name} best pair");
                assert!((result.best - r["best_score"].as_f64().unwrap()).abs() <= tol);
                checked += 1;
            }
        }
    }
    assert!(checked >= 20, "{checked}");

    // No pair above 0: the reference returns score 0 and no indices.
    let case = m["cases"].as_array().unwrap().iter().find(|c| c["id"] == "edge_score_nonpositive_n10").unwrap();
    let cs = &case["compute_score"];
    let load = |side: &str| {
        npy::read(common::data(&format!("golden/{}.gz", case["inputs"][side]["file"].as_str().unwrap()))).unwrap()
    };
    let (ta, tb) = (load("A"), load("B"));
    let (NpyData::F32(xa), NpyData::F32(xb)) = (&ta.data, &tb.data) else { panic!() };
    let (sa, sb) = (&ta.shape, &tb.shape);
    let (pa, _) =
        prepare::prepare(&Layers::new(xa, sa[0], sa[1], sa[2]).unwrap(), Prepare::Normalize, 0.95, &EXEC).unwrap();
    let (pb, _) =
        prepare::prepare(&Layers::new(xb, sb[0], sb[1], sb[2]).unwrap(), Prepare::Normalize, 0.95, &EXEC).unwrap();
    let (la, lb) = (Layers::new(&pa, sa[0], sa[1], sa[2]).unwrap(), Layers::new(&pb, sb[0], sb[1], sb[2]).unwrap());
    let a: Vec<AnyMatrix<'_>> = (0..sa[1]).map(|l| la.layer(l).into()).collect();
    let b: Vec<AnyMatrix<'_>> = (0..sb[1]).map(|l| lb.layer(l).into()).collect();
    let result = sweep(&a, &b, &Metric::from_name(cs["metric"].as_str().unwrap(), 10).unwrap(), &EXEC).unwrap();
    assert_eq!((result.best, result.best_index), (0.0, None));
    let want: Vec<f64> = cs["score_matrix"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
        .collect();
    for (g, w) in result.scores.iter().zip(&want) {
        assert!((g - w).abs() <= 1e-5, "{g} vs {w}");
    }
}
