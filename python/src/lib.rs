//! `repalign._repalign`: the core's calls for Python. Arrays are viewed, never copied
//! (`input`); every call runs with the GIL released and Ctrl-C honoured (`run`); errors are
//! the core's, as Python exceptions (`error`). Metric logic lives in the core only: this
//! module translates arguments and results. The public, documented API is the pure-Python
//! package `repalign` around it (`repalign/__init__.py`), which also turns torch tensors,
//! bfloat16 and other dtypes into the arrays this module takes.

use numpy::{IntoPyArray, PyArray1, PyArray2, PyArray3, PyArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use repalign::calibrate::{Calibration, CalibrationOptions};
use repalign::knn::{self, GraphRef, KnnGraph, Similarity};
use repalign::metrics::{self, KnnMetric, MetricParams};
use repalign::prepare::Prepare;
use repalign::sweep::SweepResult;
use repalign::{Isa, Metric};

mod error;
mod input;
mod run;

use run::{Opts, run};

/// A metric as the Python layer passes it: name, then the keyword parameters (None =
/// default): k, kernel, sigma, unbiased, cca_dim, cosine, rdm, corr.
type Spec = (
    String,
    Option<usize>,
    Option<String>,
    Option<f64>,
    Option<bool>,
    Option<usize>,
    Option<bool>,
    Option<String>,
    Option<String>,
);

fn metric_of(spec: &Spec) -> PyResult<Metric> {
    let (name, k, kernel, sigma, unbiased, cca_dim, cosine, rdm, corr) = spec;
    let params = MetricParams {
        k: *k,
        kernel: kernel.as_deref(),
        sigma: *sigma,
        unbiased: *unbiased,
        cca_dim: *cca_dim,
        cosine: *cosine,
        rdm: rdm.as_deref(),
        corr: corr.as_deref(),
    };
    params.metric(name).map_err(|e| PyValueError::new_err(e.to_string()))
}

fn similarity(cosine: bool) -> Similarity {
    if cosine { Similarity::Cosine } else { Similarity::InnerProduct }
}

/// Multiply-adds of the per-layer work on N rows of these widths (kNN graphs and Gram
/// matrices: about N² D / 2 each), to tell short calls from long ones.
fn cost(n: usize, dims: impl IntoIterator<Item = usize>) -> f64 {
    dims.into_iter().map(|d| n as f64 * n as f64 * d as f64 / 2.0).sum()
}

type Graph<'py> = (Bound<'py, PyArray2<i32>>, Bound<'py, PyArray2<f32>>, Option<&'static str>);

/// `values` (row-major) as a numpy array of `shape`, without a copy.
fn shaped<'py, T: numpy::Element, D: numpy::ndarray::Dimension>(
    py: Python<'py>,
    shape: impl numpy::ndarray::ShapeBuilder<Dim = D>,
    values: Vec<T>,
) -> PyResult<Bound<'py, numpy::PyArray<T, D>>> {
    let array =
        numpy::ndarray::Array::from_shape_vec(shape, values).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(array.into_pyarray(py))
}

fn graph_out<'py>(py: Python<'py>, g: &KnnGraph) -> PyResult<Graph<'py>> {
    let (n, k) = (g.rows(), g.k());
    let indices: Vec<i32> = g
        .indices()
        .iter()
        .map(|&i| i32::try_from(i).map_err(|_| PyValueError::new_err("more than 2^31 rows: indices exceed int32")))
        .collect::<PyResult<_>>()?;
    Ok((shaped(py, (n, k), indices)?, shaped(py, (n, k), g.scores().to_vec())?, g.isa().map(Isa::name)))
}

/// kNN graph of the rows of `x` (self excluded).
#[pyfunction]
#[pyo3(signature = (x, k, cosine, threads, isa, progress))]
fn knn_graph<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    k: usize,
    cosine: bool,
    threads: usize,
    isa: Option<&str>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Graph<'py>> {
    let opts = Opts::new(threads, isa, progress)?;
    let x = input::matrix(x, "x")?;
    let c = cost(x.rows(), [x.cols()]);
    let g = run(py, &opts, c, |exec| knn::graph(x, k, similarity(cosine), exec))?;
    graph_out(py, &g)
}

/// The `k` nearest database rows of every query row; indices are offset by `offset` (a
/// shard's first row in the whole database).
#[pyfunction]
#[pyo3(signature = (queries, database, k, cosine, offset, threads, isa, progress))]
#[allow(clippy::too_many_arguments)]
fn knn_search<'py>(
    py: Python<'py>,
    queries: &Bound<'py, PyAny>,
    database: &Bound<'py, PyAny>,
    k: usize,
    cosine: bool,
    offset: u32,
    threads: usize,
    isa: Option<&str>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Graph<'py>> {
    let opts = Opts::new(threads, isa, progress)?;
    let (q, x) = (input::matrix(queries, "queries")?, input::matrix(database, "database")?);
    let c = q.rows() as f64 * x.rows() as f64 * x.cols() as f64;
    let mut g = run(py, &opts, c, |exec| knn::search(q, x, k, similarity(cosine), exec))?;
    g.offset_indices(offset).map_err(error::to_py)?;
    graph_out(py, &g)
}

/// [`knn_search`] in both directions, each similarity computed once: `a`'s lists (indices
/// into `b`, offset by `offset_b`) and `b`'s lists (indices into `a`, offset by `offset_a`).
#[pyfunction]
#[pyo3(signature = (a, b, k, cosine, offset_a, offset_b, threads, isa, progress))]
#[allow(clippy::too_many_arguments)]
fn knn_search_both<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    k: usize,
    cosine: bool,
    offset_a: u32,
    offset_b: u32,
    threads: usize,
    isa: Option<&str>,
    progress: Option<Py<PyAny>>,
) -> PyResult<(Graph<'py>, Graph<'py>)> {
    let opts = Opts::new(threads, isa, progress)?;
    let (x, y) = (input::matrix(a, "a")?, input::matrix(b, "b")?);
    let c = x.rows() as f64 * y.rows() as f64 * y.cols() as f64;
    let (mut ab, mut ba) = run(py, &opts, c, |exec| knn::search_both(x, y, k, similarity(cosine), exec))?;
    ab.offset_indices(offset_b).map_err(error::to_py)?;
    ba.offset_indices(offset_a).map_err(error::to_py)?;
    Ok((graph_out(py, &ab)?, graph_out(py, &ba)?))
}

/// Neighbour lists read from Python: indices (int64 N x w, as u32) and optional scores.
struct Lists {
    indices: Vec<u32>,
    rows: usize,
    width: usize,
    scores: Option<Vec<f32>>,
}

impl Lists {
    fn read(indices: &Bound<'_, PyAny>, scores: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Self> {
        let (indices, rows, width) = input::indices(indices, what)?;
        let scores = match scores {
            None => None,
            Some(s) => {
                let s = s.cast::<PyArray2<f32>>().map_err(|_| {
                    pyo3::exceptions::PyTypeError::new_err(format!("{what}: scores must be a float32 array"))
                })?;
                Some(
                    s.readonly().as_slice().map_err(|_| PyValueError::new_err("scores must be C-contiguous"))?.to_vec(),
                )
            }
        };
        Ok(Lists { indices, rows, width, scores })
    }

    /// The core's view, which checks every index (in range, not repeated in a row).
    fn view(&self) -> PyResult<GraphRef<'_>> {
        let g = GraphRef::new(&self.indices, self.rows, self.width).map_err(error::to_py)?;
        match &self.scores {
            Some(s) => g.with_scores(s).map_err(error::to_py),
            None => Ok(g),
        }
    }
}

/// The `k` best of several neighbour lists of the same queries (shards of a search).
#[pyfunction]
fn merge<'py>(py: Python<'py>, parts: Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>, k: usize) -> PyResult<Graph<'py>> {
    let owned = parts
        .iter()
        .enumerate()
        .map(|(i, (ind, s))| Lists::read(ind, Some(s), &format!("parts[{i}]")))
        .collect::<PyResult<Vec<_>>>()?;
    let refs = owned.iter().map(Lists::view).collect::<PyResult<Vec<_>>>()?;
    let g = py.detach(|| knn::merge(&refs, k)).map_err(error::to_py)?;
    graph_out(py, &g)
}

/// One metric of two representations of the same samples.
#[pyfunction]
#[pyo3(signature = (a, b, spec, threads, isa, progress))]
fn score(
    py: Python<'_>,
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    spec: Spec,
    threads: usize,
    isa: Option<&str>,
    progress: Option<Py<PyAny>>,
) -> PyResult<f64> {
    let opts = Opts::new(threads, isa, progress)?;
    let metric = metric_of(&spec)?;
    let (a, b) = (input::matrix(a, "a")?, input::matrix(b, "b")?);
    let c = cost(a.rows(), [a.cols(), b.cols()]);
    run(py, &opts, c, |exec| metrics::score(a, b, &metric, exec))
}

/// A kNN metric from two neighbour lists (N x w each, w >= k).
#[pyfunction]
fn score_graphs(py: Python<'_>, name: &str, a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>, k: usize) -> PyResult<f64> {
    let metric = knn_metric(name)?;
    let (ga, gb) = (Lists::read(a, None, "a")?, Lists::read(b, None, "b")?);
    let (ra, rb) = (ga.view()?, gb.view()?);
    py.detach(|| metrics::knn_metric_graphs(metric, ra, rb, k)).map_err(error::to_py)
}

fn knn_metric(name: &str) -> PyResult<KnnMetric> {
    KnnMetric::from_name(name).ok_or_else(|| {
        PyValueError::new_err(format!(
            "'{name}' is not a kNN metric: from graphs only mutual_knn, cycle_knn, lcs_knn, edit_distance_knn and jaccard_knn"
        ))
    })
}

/// Prepared f32 features (same N x L x D shape) and the clamp threshold (inf: none).
#[pyfunction]
#[pyo3(signature = (x, mode, q, threads, isa))]
fn prepare<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    mode: &str,
    q: f64,
    threads: usize,
    isa: Option<&str>,
) -> PyResult<(Bound<'py, PyArray3<f32>>, f32)> {
    let opts = Opts::new(threads, isa, None)?;
    let mode = Prepare::from_name(mode).ok_or_else(|| {
        PyValueError::new_err(format!("prepare: unknown mode '{mode}' (valid: {})", Prepare::NAMES.join(", ")))
    })?;
    let x = input::layers(x, "x")?;
    let shape = (x.samples(), x.layers(), x.dim());
    let (values, t) = run(py, &opts, 0.0, |exec| x.prepare(mode, q, exec))?;
    Ok((shaped(py, shape, values)?, t))
}

/// The clamp threshold of the paper's preparation: exact (whole tensor) or per sample.
#[pyfunction]
#[pyo3(signature = (x, q, per_sample, threads))]
fn threshold(py: Python<'_>, x: &Bound<'_, PyAny>, q: f64, per_sample: bool, threads: usize) -> PyResult<f32> {
    let opts = Opts::new(threads, None, None)?;
    let x = input::layers(x, "x")?;
    run(py, &opts, 0.0, |exec| x.threshold(per_sample, q, exec))
}

type Sweep<'py> = (Bound<'py, PyArray2<f64>>, f64, Option<(usize, usize)>, Option<&'static str>, Vec<String>);

fn sweep_out<'py>(py: Python<'py>, r: SweepResult) -> PyResult<Sweep<'py>> {
    let warnings = r.warnings.iter().map(|w| w.message()).collect();
    let scores = shaped(py, (r.rows, r.cols), r.scores)?;
    Ok((scores, r.best, r.best_index, r.isa.map(Isa::name), warnings))
}

fn layer_cost(a: &[repalign::AnyMatrix<'_>], b: &[repalign::AnyMatrix<'_>]) -> f64 {
    let n = a.first().map_or(0, |x| x.rows());
    cost(n, a.iter().chain(b).map(|x| x.cols()))
}

/// Every layer pair of two models (lists of N x D_l arrays), scored with one metric.
#[pyfunction]
#[pyo3(signature = (layers_a, layers_b, spec, threads, isa, progress))]
fn sweep<'py>(
    py: Python<'py>,
    layers_a: Vec<Bound<'py, PyAny>>,
    layers_b: Vec<Bound<'py, PyAny>>,
    spec: Spec,
    threads: usize,
    isa: Option<&str>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Sweep<'py>> {
    let opts = Opts::new(threads, isa, progress)?;
    let metric = metric_of(&spec)?;
    let (a, b) = (input::matrices(&layers_a, "layers_a")?, input::matrices(&layers_b, "layers_b")?);
    let r = run(py, &opts, layer_cost(&a, &b), |exec| repalign::sweep::sweep(&a, &b, &metric, exec))?;
    sweep_out(py, r)
}

type Summary<'py> = (f64, f64, f64, f64, f64, f64, f64, f64, Bound<'py, PyArray1<f64>>);

fn summary_out(py: Python<'_>, c: Calibration) -> Summary<'_> {
    let null = c.null.into_pyarray(py);
    (c.raw, c.null_mean, c.null_median, c.null_std, c.z, c.p_value, c.tau, c.calibrated, null)
}

/// A sweep (one layer each for a single score) and its best score against the
/// permutation null of the maximum over pairs.
#[pyfunction]
#[pyo3(signature = (layers_a, layers_b, spec, permutations, seed, alpha, threads, isa, progress))]
#[allow(clippy::too_many_arguments)]
fn calibrate<'py>(
    py: Python<'py>,
    layers_a: Vec<Bound<'py, PyAny>>,
    layers_b: Vec<Bound<'py, PyAny>>,
    spec: Spec,
    permutations: usize,
    seed: u64,
    alpha: f64,
    threads: usize,
    isa: Option<&str>,
    progress: Option<Py<PyAny>>,
) -> PyResult<(Sweep<'py>, Summary<'py>)> {
    let opts = Opts::new(threads, isa, progress)?;
    let metric = metric_of(&spec)?;
    let options = CalibrationOptions { permutations, seed, alpha };
    let (a, b) = (input::matrices(&layers_a, "layers_a")?, input::matrices(&layers_b, "layers_b")?);
    // The null relabels per-layer states: its cost grows with P, not with D.
    let c = layer_cost(&a, &b) + permutations as f64 * a.first().map_or(0, |x| x.rows()) as f64 * 64.0;
    let (r, cal) = run(py, &opts, c, |exec| repalign::calibrate::calibrate(&a, &b, &metric, &options, exec))?;
    Ok((sweep_out(py, r)?, summary_out(py, cal)))
}

/// One model pair of a zoo: (a, b, sweep, calibration, q-value, Holm).
type ZooPairOut<'py> = (usize, usize, Sweep<'py>, Option<Summary<'py>>, Option<f64>, Option<f64>);
/// What the cache did: (hits, computed, rejected, unwritten, first write error).
type CacheOut = (usize, usize, usize, usize, Option<String>);
type ZooOut<'py> = (Vec<ZooPairOut<'py>>, Bound<'py, PyArray2<f64>>, Option<CacheOut>);

/// Every model pair of a zoo (models are lists of N x D_l arrays), each model's layer
/// states computed once (or read from the cache directory), optionally calibrated.
#[pyfunction]
#[pyo3(signature = (models, spec, first_b, calibration, cache, threads, isa, progress))]
#[allow(clippy::too_many_arguments)]
fn zoo<'py>(
    py: Python<'py>,
    models: Vec<Vec<Bound<'py, PyAny>>>,
    spec: Spec,
    first_b: Option<usize>,
    calibration: Option<(usize, u64, f64)>,
    cache: Option<std::path::PathBuf>,
    threads: usize,
    isa: Option<&str>,
    progress: Option<Py<PyAny>>,
) -> PyResult<ZooOut<'py>> {
    use repalign::zoo::{Pairs, model_states_with, zoo_states};
    let mut opts = Opts::new(threads, isa, progress)?;
    opts.zoo_layers = models.iter().map(Vec::len).collect();
    let metric = metric_of(&spec)?;
    let pairs = first_b.map_or(Pairs::All, |first_b| Pairs::Bipartite { first_b });
    let options = calibration.map(|(permutations, seed, alpha)| CalibrationOptions { permutations, seed, alpha });
    let layers = models
        .iter()
        .enumerate()
        .map(|(m, x)| input::matrices(x, &format!("models[{m}]")))
        .collect::<PyResult<Vec<_>>>()?;
    let refs: Vec<&[repalign::AnyMatrix<'_>]> = layers.iter().map(Vec::as_slice).collect();
    let store = match &cache {
        Some(dir) => Some(
            repalign::cache::StateCache::open(dir)
                .map_err(|e| pyo3::exceptions::PyOSError::new_err(format!("cache {}: {e}", dir.display())))?,
        ),
        None => None,
    };
    let n = refs.iter().flat_map(|m| m.first()).map(|x| x.rows()).next().unwrap_or(0);
    let cost = cost(n, layers.iter().flatten().map(|x| x.cols()))
        + options.as_ref().map_or(0.0, |o| o.permutations as f64 * n as f64 * 64.0);
    let r = run(py, &opts, cost, |exec| {
        pairs.list(refs.len())?;
        let states = model_states_with(&refs, &metric, exec, |x, e| match &store {
            Some(c) => c.state(x, &metric, e),
            None => metrics::LayerState::new(x, &metric, e),
        })?;
        zoo_states(&states, pairs, options.as_ref(), exec)
    })?;
    let matrix = shaped(py, (r.rows, r.cols), r.matrix)?;
    let out = r
        .pairs
        .into_iter()
        .map(|p| Ok((p.a, p.b, sweep_out(py, p.sweep)?, p.calibration.map(|c| summary_out(py, c)), p.q_value, p.holm)))
        .collect::<PyResult<Vec<_>>>()?;
    let stats = store.map(|c| {
        let s = c.stats();
        (s.hits, s.computed, s.rejected, s.unwritten, s.first_write_error)
    });
    Ok((out, matrix, stats))
}

/// A map: (x, y, eigenvalues, negative count, negative share).
type MapOut<'py> = (Vec<f64>, Vec<f64>, Bound<'py, PyArray1<f64>>, usize, f64);

/// One layer's state for `spec` (its kNN graph, kernel or basis) as bytes, for a zoo whose
/// layers and pairs run as separate tasks (`repalign.ray.zoo`): `zoo_pair` reads them back.
#[pyfunction]
#[pyo3(signature = (x, spec, threads, isa))]
fn layer_state<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    spec: Spec,
    threads: usize,
    isa: Option<&str>,
) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
    let opts = Opts::new(threads, isa, None)?;
    let metric = metric_of(&spec)?;
    let x = input::matrix(x, "x")?;
    let n = x.rows();
    let bytes = run(py, &opts, cost(n, [x.cols()]), |exec| metrics::LayerState::new(x, &metric, exec)?.to_bytes())?;
    Ok(pyo3::types::PyBytes::new(py, &bytes))
}

/// One model pair of a zoo from its layers' states (`layer_state` bytes): the sweep and,
/// with `calibration`, its calibration, as `zoo` gives them for that pair.
#[pyfunction]
#[pyo3(signature = (states_a, states_b, spec, calibration, threads, isa))]
fn zoo_pair<'py>(
    py: Python<'py>,
    states_a: Vec<Bound<'py, pyo3::types::PyBytes>>,
    states_b: Vec<Bound<'py, pyo3::types::PyBytes>>,
    spec: Spec,
    calibration: Option<(usize, u64, f64)>,
    threads: usize,
    isa: Option<&str>,
) -> PyResult<(Sweep<'py>, Option<Summary<'py>>)> {
    let opts = Opts::new(threads, isa, None)?;
    let metric = metric_of(&spec)?;
    let read = |v: &[Bound<'py, pyo3::types::PyBytes>]| {
        use pyo3::types::PyBytesMethods;
        v.iter().map(|b| metrics::LayerState::from_bytes(b.as_bytes(), &metric)).collect::<repalign::Result<Vec<_>>>()
    };
    let (a, b) = (read(&states_a).map_err(error::to_py)?, read(&states_b).map_err(error::to_py)?);
    let options = calibration.map(|(permutations, seed, alpha)| CalibrationOptions { permutations, seed, alpha });
    let n = a.first().map_or(0, |s| s.samples()) as f64;
    let c = (a.len() * b.len()) as f64 * n * 64.0 + options.as_ref().map_or(0.0, |o| o.permutations as f64 * n * 64.0);
    let (sweep, cal) = run(py, &opts, c, |exec| match &options {
        Some(o) => repalign::calibrate::calibrate_states(&a, &b, o, exec).map(|(s, c)| (s, Some(c))),
        None => repalign::sweep::sweep_states(&a, &b, exec).map(|s| (s, None)),
    })?;
    Ok((sweep_out(py, sweep)?, cal.map(|c| summary_out(py, c))))
}

/// Benjamini-Hochberg and Holm adjusted p-values, in the input's order.
#[pyfunction]
fn adjust_p_values(p: Vec<f64>) -> (Vec<f64>, Vec<f64>) {
    (repalign::zoo::benjamini_hochberg(&p), repalign::zoo::holm(&p))
}

/// The zoo's models in 2-D: classical MDS of -ln(score / max) over the M x M best scores
/// (NaN diagonal): (x, y, eigenvalues, negative count, negative share).
#[pyfunction]
fn zoo_map<'py>(py: Python<'py>, matrix: Vec<Vec<f64>>, max: f64) -> PyResult<MapOut<'py>> {
    let m = matrix.len();
    if matrix.iter().any(|r| r.len() != m) {
        return Err(PyValueError::new_err("the zoo matrix must be square (a zoo without group_b)"));
    }
    let result = repalign::zoo::ZooResult { pairs: Vec::new(), rows: m, cols: m, matrix: matrix.concat() };
    let map = repalign::zoo::model_map(&result, repalign::zoo::Pairs::All, max).map_err(error::to_py)?;
    Ok((map.x, map.y, map.eigenvalues.into_pyarray(py), map.negative, map.negative_share))
}

/// Spearman's rho of x and y with its permutation p-value (exact up to 8 values):
/// (rho, p, permutations, exact).
#[pyfunction]
fn rank_correlation(x: Vec<f64>, y: Vec<f64>, permutations: usize, seed: u64) -> PyResult<(f64, f64, usize, bool)> {
    let t = repalign::zoo::rank_correlation_test(&x, &y, permutations, seed).map_err(error::to_py)?;
    Ok((t.rho, t.p_value, t.permutations, t.exact))
}

/// A kNN metric of two neighbour lists against its permutation null.
#[pyfunction]
#[pyo3(signature = (name, a, b, k, permutations, seed, alpha, threads, isa, progress))]
#[allow(clippy::too_many_arguments)]
fn calibrate_graphs<'py>(
    py: Python<'py>,
    name: &str,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    k: usize,
    permutations: usize,
    seed: u64,
    alpha: f64,
    threads: usize,
    isa: Option<&str>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Summary<'py>> {
    let opts = Opts::new(threads, isa, progress)?;
    let metric = knn_metric(name)?;
    let options = CalibrationOptions { permutations, seed, alpha };
    let (ga, gb) = (Lists::read(a, None, "a")?, Lists::read(b, None, "b")?);
    let (ra, rb) = (ga.view()?, gb.view()?);
    let c = permutations as f64 * ga.rows as f64 * 64.0;
    let cal = run(py, &opts, c, |exec| repalign::calibrate::calibrate_graphs(metric, ra, rb, k, &options, exec))?;
    Ok(summary_out(py, cal))
}

/// Seconds of `reps` calls of the core's `metrics::score` alone (no Python in the loop), on
/// the same views and options as `score`: the Rust side of the binding-overhead benchmark.
#[pyfunction]
#[pyo3(signature = (a, b, spec, reps, threads))]
fn _bench_score(
    py: Python<'_>,
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    spec: Spec,
    reps: usize,
    threads: usize,
) -> PyResult<Vec<f64>> {
    let metric = metric_of(&spec)?;
    let (a, b) = (input::matrix(a, "a")?, input::matrix(b, "b")?);
    let exec = repalign::Exec::new().with_threads(threads);
    py.detach(|| {
        (0..reps)
            .map(|_| {
                let t = std::time::Instant::now();
                let s = metrics::score(a, b, &metric, &exec)?;
                std::hint::black_box(s);
                Ok(t.elapsed().as_secs_f64())
            })
            .collect::<repalign::Result<Vec<f64>>>()
    })
    .map_err(error::to_py)
}

/// Instruction sets this CPU and build can run, best first.
#[pyfunction]
fn available_isas() -> Vec<&'static str> {
    let mut all: Vec<Isa> = Isa::available().collect();
    let best = Isa::best();
    all.sort_by_key(|&i| i != best);
    all.into_iter().map(Isa::name).collect()
}

/// Frees the buffers kNN calls keep for the next call; returns the bytes freed.
#[pyfunction]
fn release_memory() -> usize {
    repalign::knn::release_memory()
}

#[pymodule]
fn _repalign(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", repalign::VERSION)?;
    m.add("METRICS", Metric::NAMES.to_vec())?;
    m.add("PREPARE_MODES", Prepare::NAMES.to_vec())?;
    m.add("ISAS", Isa::ALL.iter().map(|i| i.name()).collect::<Vec<_>>())?;
    m.add_function(wrap_pyfunction!(knn_graph, m)?)?;
    m.add_function(wrap_pyfunction!(knn_search, m)?)?;
    m.add_function(wrap_pyfunction!(knn_search_both, m)?)?;
    m.add_function(wrap_pyfunction!(merge, m)?)?;
    m.add_function(wrap_pyfunction!(score, m)?)?;
    m.add_function(wrap_pyfunction!(score_graphs, m)?)?;
    m.add_function(wrap_pyfunction!(prepare, m)?)?;
    m.add_function(wrap_pyfunction!(threshold, m)?)?;
    m.add_function(wrap_pyfunction!(sweep, m)?)?;
    m.add_function(wrap_pyfunction!(calibrate, m)?)?;
    m.add_function(wrap_pyfunction!(calibrate_graphs, m)?)?;
    m.add_function(wrap_pyfunction!(zoo, m)?)?;
    m.add_function(wrap_pyfunction!(zoo_map, m)?)?;
    m.add_function(wrap_pyfunction!(layer_state, m)?)?;
    m.add_function(wrap_pyfunction!(zoo_pair, m)?)?;
    m.add_function(wrap_pyfunction!(adjust_p_values, m)?)?;
    m.add_function(wrap_pyfunction!(rank_correlation, m)?)?;
    m.add_function(wrap_pyfunction!(available_isas, m)?)?;
    m.add_function(wrap_pyfunction!(release_memory, m)?)?;
    m.add_function(wrap_pyfunction!(_bench_score, m)?)?;
    Ok(())
}
