//! `repalign demo`: the colour study of the Platonic Representation Hypothesis, offline.
//!
//! 913 XKCD colour names in five representations (`data/color-demo/`, shipped in float16 and
//! embedded in the binary): `lab`, Gaussian-kernel features of CIELAB whose cosine neighbours
//! are the perceptual ΔE neighbours; `glove`, `e5`, `minilm`, three language models'
//! embeddings of "the color {name}"; `random`, a Gaussian control. For every comparison
//! (Lab against each model, the models against each other, the control), on all names and on
//! the 230 single-word names, and for k = 5, 10, 20 it computes mutual kNN on cosine
//! similarity (the reference L2-normalises rows) and its permutation null.
//!
//! Each representation's kNN graph is computed once per subset at the largest k and its
//! prefixes serve the smaller k (a top-k list is a prefix of a longer one); each null costs
//! O(N k) per permutation. Results depend on the seed only, never on the thread count.
//! Neighbours are ranked as the reference ranks them, in f64 (see [`Features::graph`]), so
//! float32 features reproduce `scores.json` exactly.

use std::prelude::rust_2024::*;
use std::{eprint, format, print, println};

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::Matrix;
use crate::calibrate::{CalibrationOptions, calibrate_graphs};
use crate::knn::{self, GraphRef, KnnOptions, Similarity};
use crate::metrics::{KnnMetric, mutual_knn_graphs};

use crate::cli::input::{self, Values};
use crate::cli::plot::{self, Heatmap};

const USAGE: &str = "\
repalign demo: colour names in perceptual colour space vs. three language models

USAGE:
  repalign demo [--plot PATH | --no-plot] [--json] [--permutations P] [--seed S]
                [--data DIR [--dtype f16|f32]] [--threads N] [--quiet]

Mutual kNN (k = 5, 10, 20, cosine) between CIELAB (lab) and the embeddings of
\"the color {name}\" by GloVe (glove), multilingual-e5-small (e5) and all-MiniLM-L6-v2
(minilm), between the models, and against a random control (random), on all 913 names
and the 230 single-word names, each with a permutation p-value.

OPTIONS:
  --plot PATH        heatmap of every pair of representations (k = 10, all names),
                     .svg or .png (default color-demo.svg)
  --no-plot          write no heatmap
  --json             print {\"rows\": [...]}: a, b, subset, n, k, score, null_mean,
                     null_std, z, p_value per comparison
  --permutations P   permutations per comparison (default 1000)
  --seed S           seed of the permutations (default 0)
  --data DIR         read the features from DIR instead of the embedded copy: names.json
                     and, per representation, NAME.DTYPE.npy (lab_kernel, glove, e5, minilm,
                     random) or the reference names (glove_thecolor, e5_thecolor,
                     minilm_thecolor, random_gauss384)
  --dtype f16|f32    which files of DIR (default: f16 when present, else f32)
  --threads N        worker threads, 0 = all cores (default); results never depend on it
  --quiet            no progress on stderr
";

/// A representation: its key in the output and the stems its files may have.
struct Representation {
    key: &'static str,
    stems: &'static [&'static str],
}

const REPRESENTATIONS: [Representation; 5] = [
    // Not `lab`: raw L*a*b* under cosine measures angles seen from black, not ΔE.
    Representation { key: "lab", stems: &["lab_kernel"] },
    Representation { key: "glove", stems: &["glove", "glove_thecolor"] },
    Representation { key: "e5", stems: &["e5", "e5_thecolor"] },
    Representation { key: "minilm", stems: &["minilm", "minilm_thecolor"] },
    Representation { key: "random", stems: &["random", "random_gauss384"] },
];

/// The comparisons, as indices into [`REPRESENTATIONS`]: Lab against each model, the models
/// against each other, then the negative controls.
const COMPARISONS: [(usize, usize); 8] = [(0, 1), (0, 2), (0, 3), (2, 3), (1, 3), (1, 2), (0, 4), (3, 4)];
const KS: [usize; 3] = [5, 10, 20];
const SUBSETS: [&str; 2] = ["all", "single_word"];
/// The k of the representation x representation heatmap.
const MATRIX_K: usize = 10;

/// The embedded copy of `data/color-demo/` (about 2.4 MB): `names.json` and the float16
/// features in the order of [`REPRESENTATIONS`].
fn shipped_files() -> (&'static [u8], [&'static [u8]; 5]) {
    macro_rules! shipped {
        ($file:literal) => {
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/color-demo/", $file)).as_slice()
        };
    }
    (
        shipped!("names.json"),
        [
            shipped!("lab_kernel.f16.npy"),
            shipped!("glove.f16.npy"),
            shipped!("e5.f16.npy"),
            shipped!("minilm.f16.npy"),
            shipped!("random.f16.npy"),
        ],
    )
}

/// Feature rows of one representation, as stored.
pub(crate) struct Features {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) values: Values,
}

impl Features {
    /// Reads a 2-D float32 or float16 `.npy` array (the CLI's reader).
    fn parse(bytes: &[u8], what: &str) -> Result<Self, String> {
        let f = input::read_npy_from(bytes, what)?;
        let [rows, cols] = f.shape[..] else {
            return Err(format!("{what}: expected a 2-D array (N x D), got shape {:?}", f.shape));
        };
        Ok(Features { rows, cols, values: f.values })
    }

    /// The rows `idx`, in that order.
    fn subset(&self, idx: &[usize]) -> Features {
        fn gather<T: Copy>(v: &[T], cols: usize, idx: &[usize]) -> Vec<T> {
            idx.iter().flat_map(|&i| &v[i * cols..(i + 1) * cols]).copied().collect()
        }
        let values = match &self.values {
            Values::F32(v) => Values::F32(gather(v, self.cols, idx)),
            Values::F16(v) => Values::F16(gather(v, self.cols, idx)),
            Values::Bf16(v) => Values::Bf16(gather(v, self.cols, idx)),
        };
        Features { rows: idx.len(), cols: self.cols, values }
    }

    /// Each row's `k` nearest other rows by cosine similarity, ranked as the reference ranks
    /// them: by the f64 inner product of f64-normalised rows, equal scores by lower index.
    ///
    /// The library's f32 engine finds `k + MARGIN` candidates; their f64 scores decide the
    /// order. That is exact whenever the k-th f64 score clears the last candidate's f32 score
    /// by more than f32's rounding bound (no row outside the list can then beat it); a row
    /// where it does not is ranked over all rows in f64. Needed because nearly equal rows
    /// make near-ties that f32 and f64 order differently: GloVe averages the same words in
    /// another order for "blue green" and "green blue".
    fn graph(&self, k: usize, threads: usize) -> Result<Graph, crate::Error> {
        let n = self.rows;
        let wide = (k + MARGIN).min(n.saturating_sub(1));
        let opts = KnnOptions { threads, ..KnnOptions::with_similarity(Similarity::Cosine) };
        let candidates = match &self.values {
            Values::F32(v) => knn::graph(Matrix::new(v, n, self.cols)?, wide, &opts)?,
            Values::F16(v) => knn::graph(Matrix::new(v, n, self.cols)?, wide, &opts)?,
            Values::Bf16(v) => knn::graph(Matrix::new(v, n, self.cols)?, wide, &opts)?,
        };
        let x = self.normalised_f64();
        let row = |i: usize| &x[i * self.cols..(i + 1) * self.cols];
        let score = |i: usize, j: u32| row(i).iter().zip(row(j as usize)).map(|(a, b)| a * b).sum::<f64>();
        // |f32 cosine - exact cosine| <= (D + 2) u for unit rows; twice that for safety.
        let bound = 2.0 * (self.cols as f64 + 2.0) * f64::from(f32::EPSILON);
        let mut indices = Vec::with_capacity(n * k);
        let mut scored: Vec<(f64, u32)> = Vec::with_capacity(n);
        let best_first = |a: &(f64, u32), b: &(f64, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        for i in 0..n {
            scored.clear();
            scored.extend(candidates.row(i).iter().map(|&j| (score(i, j), j)));
            scored.sort_by(best_first);
            let last = candidates.row_scores(i).last().copied().map_or(f64::NEG_INFINITY, f64::from);
            if wide < n - 1 && scored[k - 1].0 <= last + bound {
                scored.clear();
                scored.extend((0..n as u32).filter(|&j| j as usize != i).map(|j| (score(i, j), j)));
                scored.sort_by(best_first);
            }
            indices.extend(scored[..k].iter().map(|&(_, j)| j));
        }
        Ok(Graph { indices, rows: n, k })
    }

    /// The rows in f64, each divided by its f64 norm.
    fn normalised_f64(&self) -> Vec<f64> {
        let mut x: Vec<f64> = match &self.values {
            Values::F32(v) => v.iter().map(|&a| f64::from(a)).collect(),
            Values::F16(v) => v.iter().map(|&a| f64::from(a)).collect(),
            Values::Bf16(v) => v.iter().map(|&a| f64::from(a)).collect(),
        };
        for row in x.chunks_exact_mut(self.cols) {
            let norm = row.iter().map(|a| a * a).sum::<f64>().sqrt();
            row.iter_mut().for_each(|a| *a /= norm);
        }
        x
    }
}

/// Extra candidates the f32 engine finds for the f64 re-ranking.
const MARGIN: usize = 16;

/// A kNN graph: row i's `k` neighbours, best first.
struct Graph {
    indices: Vec<u32>,
    rows: usize,
    k: usize,
}

impl Graph {
    fn as_ref(&self) -> GraphRef<'_> {
        GraphRef::new(&self.indices, self.rows, self.k).expect("a graph of rows x k indices")
    }
}

/// The demo's inputs: row i of every feature matrix is `names[i]`.
pub struct DemoData {
    pub names: Vec<String>,
    /// Indices of the names that are a single word.
    pub single_word: Vec<usize>,
    /// In the order of [`REPRESENTATIONS`].
    pub(crate) features: Vec<Features>,
    /// Where the data came from, for the report.
    pub source: String,
}

impl DemoData {
    /// The embedded float16 features.
    pub fn embedded() -> Result<Self, String> {
        let (names, files) = shipped_files();
        let features = REPRESENTATIONS
            .iter()
            .zip(files)
            .map(|(r, bytes)| Features::parse(bytes, &format!("embedded {}", r.key)))
            .collect::<Result<_, _>>()?;
        Self::assemble(names, features, "embedded data/color-demo (float16)".into())
    }

    /// Reads `names.json` and one `.npy` file per representation from `dir`; `dtype` is
    /// `f16`, `f32` or `None` (f16 when present, else f32).
    pub fn from_dir(dir: &Path, dtype: Option<&str>) -> Result<Self, String> {
        let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
        let names = read(&dir.join("names.json"))?;
        let dtypes: &[&str] = match dtype {
            Some(d) => &[if d == "f32" { "f32" } else { "f16" }],
            None => &["f16", "f32"],
        };
        let mut features = Vec::new();
        let mut used = Vec::new();
        for r in &REPRESENTATIONS {
            let candidates: Vec<PathBuf> =
                dtypes.iter().flat_map(|d| r.stems.iter().map(move |s| dir.join(format!("{s}.{d}.npy")))).collect();
            let path = candidates.iter().find(|p| p.is_file()).ok_or_else(|| {
                let tried: Vec<_> = candidates.iter().map(|p| p.display().to_string()).collect();
                format!("no features for {} in {}: tried {}", r.key, dir.display(), tried.join(", "))
            })?;
            features.push(Features::parse(&read(path)?, &path.display().to_string())?);
            used.push(path.file_name().map_or(String::new(), |f| f.to_string_lossy().into_owned()));
        }
        Self::assemble(&names, features, format!("{} ({})", dir.display(), used.join(", ")))
    }

    fn assemble(names_json: &[u8], features: Vec<Features>, source: String) -> Result<Self, String> {
        let doc: serde_json::Value =
            serde_json::from_slice(names_json).map_err(|e| format!("names.json is not valid JSON: {e}"))?;
        let names: Vec<String> = doc["names"]
            .as_array()
            .and_then(|a| a.iter().map(|v| v.as_str().map(String::from)).collect())
            .ok_or("names.json: \"names\" must be a list of strings")?;
        let single_word: Vec<usize> = doc["single_word"]
            .as_array()
            .and_then(|a| a.iter().map(|v| v.as_u64().map(|i| i as usize)).collect())
            .ok_or("names.json: \"single_word\" must be a list of row indices")?;
        let n = names.len();
        if let Some(&bad) = single_word.iter().find(|&&i| i >= n) {
            return Err(format!("names.json: single_word index {bad} is out of range ({n} names)"));
        }
        for (r, f) in REPRESENTATIONS.iter().zip(&features) {
            if f.rows != n {
                return Err(format!("{}: {} rows, but names.json lists {n} names", r.key, f.rows));
            }
        }
        Ok(DemoData { names, single_word, features, source })
    }
}

/// One comparison's score against its permutation null.
#[derive(Debug, Clone)]
pub struct Row {
    pub a: &'static str,
    pub b: &'static str,
    pub subset: &'static str,
    pub n: usize,
    pub k: usize,
    pub score: f64,
    pub null_mean: f64,
    pub null_std: f64,
    pub z: f64,
    pub p_value: f64,
}

/// The demo's results: the rows (subset, then comparison, then k) and the
/// representation x representation mutual kNN at k = [`MATRIX_K`] on all names.
pub struct Results {
    pub rows: Vec<Row>,
    pub matrix: Vec<Vec<f64>>,
}

/// Computes every row; `progress` is told each step done out of the total.
pub fn compute(
    data: &DemoData,
    opts: &CalibrationOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Results, String> {
    let kmax = KS[KS.len() - 1];
    let total = SUBSETS.len() * (REPRESENTATIONS.len() + COMPARISONS.len() * KS.len());
    let mut done = 0;
    let mut rows = Vec::new();
    let mut matrix = Vec::new();
    for subset in SUBSETS {
        let idx: Vec<usize> = match subset {
            "all" => (0..data.names.len()).collect(),
            _ => data.single_word.clone(),
        };
        let mut graphs = Vec::new();
        for (r, f) in REPRESENTATIONS.iter().zip(&data.features) {
            let g = f.subset(&idx).graph(kmax, opts.threads).map_err(|e| format!("{} ({subset}): {e}", r.key))?;
            graphs.push(g);
            done += 1;
            progress(done, total);
        }
        for &(i, j) in &COMPARISONS {
            for k in KS {
                let c = calibrate_graphs(KnnMetric::Mutual, graphs[i].as_ref(), graphs[j].as_ref(), k, opts)
                    .map_err(|e| e.to_string())?;
                rows.push(Row {
                    a: REPRESENTATIONS[i].key,
                    b: REPRESENTATIONS[j].key,
                    subset,
                    n: idx.len(),
                    k,
                    score: c.raw,
                    null_mean: c.null_mean,
                    null_std: c.null_std,
                    z: c.z,
                    p_value: c.p_value,
                });
                done += 1;
                progress(done, total);
            }
        }
        if subset == "all" {
            matrix = graphs
                .iter()
                .map(|gi| graphs.iter().map(|gj| mutual_knn_graphs(gi.as_ref(), gj.as_ref(), MATRIX_K)).collect())
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(Results { rows, matrix })
}

struct Options {
    plot: Option<PathBuf>,
    json: bool,
    quiet: bool,
    data: Option<PathBuf>,
    dtype: Option<String>,
    calibration: CalibrationOptions,
}

fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut o = Options {
        plot: Some(PathBuf::from("color-demo.svg")),
        json: false,
        quiet: false,
        data: None,
        dtype: None,
        calibration: CalibrationOptions::default(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| it.next().cloned().ok_or_else(|| format!("demo: {flag} needs a value"));
        let number = |flag: &str, v: String| -> Result<u64, String> {
            v.parse().map_err(|_| format!("demo: {flag}: '{v}' is not a non-negative integer"))
        };
        match arg.as_str() {
            "--plot" => o.plot = Some(PathBuf::from(value("--plot")?)),
            "--no-plot" => o.plot = None,
            "--json" => o.json = true,
            "--quiet" => o.quiet = true,
            "--data" => o.data = Some(PathBuf::from(value("--data")?)),
            "--dtype" => match value("--dtype")?.as_str() {
                d @ ("f16" | "f32") => o.dtype = Some(d.into()),
                d => return Err(format!("demo: --dtype: unknown '{d}' (f16 or f32)")),
            },
            "--permutations" => {
                o.calibration.permutations = number("--permutations", value("--permutations")?)? as usize;
                if o.calibration.permutations == 0 {
                    return Err("demo: --permutations must be at least 1".into());
                }
            }
            "--seed" => o.calibration.seed = number("--seed", value("--seed")?)?,
            "--threads" => o.calibration.threads = number("--threads", value("--threads")?)? as usize,
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("demo: unknown argument '{other}' (see repalign demo --help)")),
        }
    }
    if let Some(path) = &o.plot {
        plot::check_path(path)?;
    }
    if o.dtype.is_some() && o.data.is_none() {
        return Err("demo: --dtype applies to --data DIR (the embedded data is float16)".into());
    }
    Ok(Some(o))
}

/// `repalign demo [options]`.
pub fn run(args: &[String]) -> Result<(), String> {
    let Some(o) = parse(args)? else {
        print!("{USAGE}");
        return Ok(());
    };
    let data = match &o.data {
        Some(dir) => DemoData::from_dir(dir, o.dtype.as_deref())?,
        None => DemoData::embedded()?,
    };
    let show = !o.quiet && std::io::stderr().is_terminal();
    let mut progress = |done: usize, total: usize| {
        if show {
            eprint!(
                "\rrepalign demo: {done}/{total} (kNN graphs, then {} permutations each)",
                o.calibration.permutations
            );
            if done == total {
                eprint!("\r\x1b[2K");
            }
        }
    };
    let results = compute(&data, &o.calibration, &mut progress)?;
    if let Some(path) = &o.plot {
        write_plot(path, &results.matrix, data.names.len())?;
    }
    if o.json {
        println!("{}", json(&data, &o, &results));
    } else {
        print!("{}", table(&data, &o, &results));
    }
    Ok(())
}

fn write_plot(path: &Path, matrix: &[Vec<f64>], names: usize) -> Result<(), String> {
    let labels: Vec<String> = REPRESENTATIONS.iter().map(|r| r.key.to_string()).collect();
    // Outline the most aligned pair of different representations.
    let mut best = None;
    for (i, row) in matrix.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            if i != j && best.is_none_or(|(bi, bj): (usize, usize)| v > matrix[bi][bj]) {
                best = Some((i, j));
            }
        }
    }
    let title = format!("Mutual kNN (k={MATRIX_K}) of {} colour names; outlined: most aligned pair", names);
    let map = Heatmap {
        scores: matrix,
        best,
        title: &title,
        x_label: "representation B",
        y_label: "representation A",
        row_labels: Some(&labels),
        col_labels: Some(&labels),
        annotate: true,
    };
    plot::write_heatmap_labeled(path, &map)
}

fn table(data: &DemoData, o: &Options, res: &Results) -> String {
    let mut s = format!(
        "Mutual kNN alignment of {} colour names (cosine; null: {} permutations of B's rows, seed {})\n\
         data: {}\n\n",
        data.names.len(),
        o.calibration.permutations,
        o.calibration.seed,
        data.source
    );
    s += &format!(
        "{:<7} {:<7} {:<11} {:>4} {:>3} {:>7} {:>9} {:>7} {:>7}\n",
        "a", "b", "subset", "n", "k", "score", "null mean", "z", "p"
    );
    let mut last = None;
    for r in &res.rows {
        if last.is_some_and(|(a, b, sub)| (a, b, sub) != (r.a, r.b, r.subset)) {
            s.push('\n');
        }
        last = Some((r.a, r.b, r.subset));
        s += &format!(
            "{:<7} {:<7} {:<11} {:>4} {:>3} {:>7.4} {:>9.4} {:>7.1} {:>7.4}\n",
            r.a, r.b, r.subset, r.n, r.k, r.score, r.null_mean, r.z, r.p_value
        );
    }
    s += &format!("\n{}\n", finding(res, o.calibration.permutations));
    if let Some(path) = &o.plot {
        s += &format!("Heatmap (every pair of representations, k = {MATRIX_K}, all names): {}\n", path.display());
    }
    s
}

/// The finding in one sentence, with the numbers of this run (k = 10).
fn finding(res: &Results, permutations: usize) -> String {
    let pick = |subset: &str, text: bool| -> Vec<&Row> {
        res.rows
            .iter()
            .filter(|r| r.k == 10 && r.subset == subset && r.a == "lab" && (r.b != "random") == text)
            .collect()
    };
    let range = |rows: &[&Row], f: fn(&Row) -> f64| {
        let lo = rows.iter().map(|r| f(r)).fold(f64::INFINITY, f64::min);
        let hi = rows.iter().map(|r| f(r)).fold(f64::NEG_INFINITY, f64::max);
        if (hi - lo).abs() < 5e-4 { format!("{lo:.3}") } else { format!("{lo:.3}-{hi:.3}") }
    };
    let (all, single) = (pick("all", true), pick("single_word", true));
    let controls: Vec<&Row> = res.rows.iter().filter(|r| r.b == "random").collect();
    let p_floor = 1.0 / (permutations as f64 + 1.0);
    let max_p = |rows: &[&Row]| rows.iter().map(|r| r.p_value).fold(0.0, f64::max);
    let p_text =
        |p: f64| if p <= p_floor * 1.000001 { format!("p = 1/{}", permutations + 1) } else { format!("p <= {p:.3}") };
    let single_text = if max_p(&single) <= 0.05 {
        format!(
            "still agrees above chance ({} vs {}, {})",
            range(&single, |r| r.score),
            range(&single, |r| r.null_mean),
            p_text(max_p(&single))
        )
    } else {
        format!(
            "is not clearly above chance ({} vs {}, p up to {:.3})",
            range(&single, |r| r.score),
            range(&single, |r| r.null_mean),
            max_p(&single)
        )
    };
    // Twelve control rows: one of them below 0.05 is expected by chance, so judge them by z.
    let max_z = controls.iter().map(|r| r.z.abs()).fold(0.0, f64::max);
    let min_p = controls.iter().map(|r| r.p_value).fold(1.0, f64::min);
    let control_text = if max_z < 3.0 {
        format!(
            "the random control is at chance (|z| <= {max_z:.1}, smallest p {:.3})",
            (min_p * 1000.0).floor() / 1000.0
        )
    } else {
        format!("the random control is NOT at chance (|z| up to {max_z:.1}): check the data")
    };
    format!(
        "Finding: perceptual colour space (Lab) and language-model embeddings of colour names share nearest \
         neighbours far more often than chance ({} vs {} at k = 10 on all {} names, {}), but on the full list much of \
         that agreement is shared spelling (\"light blue\" sits near \"blue\" in both); on the {} single-word names \
         Lab {}, and {}.",
        range(&all, |r| r.score),
        range(&all, |r| r.null_mean),
        all.first().map_or(0, |r| r.n),
        p_text(max_p(&all)),
        single.first().map_or(0, |r| r.n),
        single_text,
        control_text
    )
}

fn json(data: &DemoData, o: &Options, res: &Results) -> String {
    let rows: Vec<_> = res
        .rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "a": r.a, "b": r.b, "subset": r.subset, "n": r.n, "k": r.k, "score": r.score,
                "null_mean": r.null_mean, "null_std": r.null_std, "z": r.z, "p_value": r.p_value,
            })
        })
        .collect();
    let labels: Vec<_> = REPRESENTATIONS.iter().map(|r| r.key).collect();
    serde_json::json!({
        "rows": rows,
        "metric": "mutual_knn",
        "similarity": "cosine",
        "permutations": o.calibration.permutations,
        "seed": o.calibration.seed,
        "n_names": data.names.len(),
        "data": data.source,
        "matrix": { "labels": labels, "subset": "all", "k": MATRIX_K, "scores": res.matrix },
        "plot": o.plot.as_ref().map(|p| p.display().to_string()),
    })
    .to_string()
}
