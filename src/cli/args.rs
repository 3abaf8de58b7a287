//! The command line: the usage text, and options parsed against the commands they apply to.

use std::prelude::rust_2024::*;
use std::{format, vec};

use crate::Isa;

pub(crate) const USAGE: &str = "\
repalign: exact kNN graphs and representation alignment (mutual kNN and the other metrics of
The Platonic Representation Hypothesis) for features in .npy and .safetensors files

USAGE:
  repalign score A B [--metric NAME] [--k K] [--normalize] [metric options] [--permutations P]
                 [--json]
      Alignment of two representations of the same N samples (row i of A and row i of B
      describe sample i): 2-D inputs, N x D_A and N x D_B.
  repalign sweep A B [--metric NAME] [--k K] [--prepare MODE] [--permutations P]
                 [--json | --csv] [--plot HEATMAP.svg|.png]
      Every layer pair of two models (N x L x D inputs; a 2-D input is one layer): the
      L_A x L_B scores and the best pair (the first maximum in row-major order; none when
      no pair scores above 0). --plot draws the matrix, best pair marked.
  repalign zoo MODEL MODEL... [--group-b MODEL...] [--metric NAME] [--k K] [--prepare MODE]
               [--permutations P] [--cache DIR] [--performance PERF.csv] [--json | --csv]
               [--plot MATRIX.svg|.png] [--map MAP.svg|.png] [--scatter PERF.svg|.png]
      Many models (each N x L x D or N x D, all of the same N samples; MODEL is a file,
      named by its stem, or NAME=FILE): each model's layers are computed once, then every
      pair of models (or, with --group-b, every model before it against every model after
      it) gets its layer sweep. Prints the model x model matrix of best scores; with
      --permutations each pair's best is calibrated, with Benjamini-Hochberg q-values and
      Holm-adjusted p-values across the pairs. --cache DIR keeps each layer's state (kNN
      graph, kernel, basis) on disk, keyed by its content: a later run computes only new
      layers; a damaged entry is detected and recomputed. --performance reads 'model,score'
      rows and relates each model's mean alignment to its score (Spearman rho, permutation
      p-value); --scatter draws that. --plot draws the matrix (significant cells marked
      when calibrated), --map the models in 2-D (classical MDS of -ln(alignment)).
  repalign knn X --k K [--cosine] [--out GRAPH.npy] [--json | --csv]
      The N x K graph: row i lists the K most similar other rows, best first (higher
      similarity, then lower index). --out writes it as int32 .npy; without --out it is
      printed (a table, CSV or JSON).
  repalign prepare X [--prepare MODE] [--q Q] [--threads N] --out Y.npy [--json]
      Writes the prepared float32 features (same shape): clamp and normalise once, sweep
      many times.
  repalign info [--isa NAME] [--threads N] [--json]
      Version, instruction sets available and the one in use, worker threads.
  repalign isa
      The instruction sets available here, one per line, the default first.
  repalign demo [options]
      The bundled colour study, offline (repalign demo --help).

INPUTS (A, B, X):
  FILE.npy                    float32 or float16, C order
  FILE.safetensors            its only tensor: F32, F16 or BF16
  FILE.safetensors:NAME       the tensor NAME
  FILE.safetensors:PRE{}SUF   one N x D tensor per layer, {} standing for the layer index
                              (0, 1, ...): e.g. 'acts.safetensors:layers.{}.out' stacks
                              layers.0.out, layers.1.out, ... in index order to N x L x D;
                              layers keep the file's indices (tables, plots, JSON)
  --tensor NAME|PRE{}SUF      the same for every .safetensors input named without ':'
  Values must be finite (a NaN or infinity is reported with its file, row and column).
  A pipe (e.g. /dev/stdin) is read whole first.

METRICS (--metric, the reference's names; default mutual_knn):
  mutual_knn cycle_knn lcs_knn edit_distance_knn jaccard_knn   kNN graphs, --k (default 10)
  cka unbiased_cka      --kernel ip|rbf (default ip), --sigma S (rbf, S > 0, default 1)
  cknna                 --k (topk >= 2, default 10), unbiased unless --biased
  svcca                 --cca-dim (1 <= cca_dim <= min(N - 1, D_A, D_B), default 10), exact
  rsa                   --rdm euclidean|cosine (default euclidean), --corr spearman|pearson
                        (default spearman): correlation of the N(N-1)/2 pairwise distances
  procrustes cca pwcca rv_coefficient   (procrustes and pwcca are not symmetric: A to B)
  --unbiased / --biased override a metric's default (cka biased, cknna unbiased).

OPTIONS:
  --k K             neighbours per row: 1 <= K <= N-1 (cknna: 2 <= K <= N)
  --cosine          knn, score: rank by cosine similarity instead of the raw inner product
  --normalize       score: L2-normalise rows first (v / max(|v|, 1e-12)), as the paper does
  --prepare MODE    sweep (default none), prepare (default paper): none, normalize,
                    paper (clamp |x| at its exact Q-quantile over the whole tensor, then
                    normalise), paper-per-sample (the reference script's per-sample clamp),
                    clamp, clamp-per-sample (the clamps alone, as prepare_features)
  --q Q             the clamp quantile, 0 < Q <= 1 (default 0.95; clamping modes only)
  --permutations P  score, sweep: calibrate against P random permutations of B's rows (the
                    sweep's null is the null of its maximum); --seed S (default 0),
                    --alpha A (0 < A < 1, default 0.05) for the threshold tau
  --threads N       worker threads, 0 = all cores (default); results never depend on it
  --isa NAME        force an instruction set (repalign isa); results never depend on it
  --out PATH        knn, prepare: the output .npy file
  --plot PATH       sweep: write the heatmap of the scores; zoo: the model x model heatmap
                    of best scores, significant (q < alpha) cells marked (.svg or .png)
  --map PATH        zoo: the models in 2-D, classical MDS of d = -ln(best / max) (.svg, .png)
  --cache DIR       zoo: keep and reuse each layer's state (kNN graph, kernel, basis) in DIR
  --performance F   zoo: a CSV of 'model,score' rows (a header line is skipped; models not
                    listed are left out): each model's mean alignment against its score
  --scatter PATH    zoo: with --performance, that relation drawn (.svg or .png)
  --json            print one JSON object (keys below)
  --csv             print the matrix as CSV, one line per row, no header: sweep's L_A x L_B
                    scores (rows: layers of A), knn's N x K graph (without --out); zoo's
                    matrix of best scores with a header line and each row's model first
  --quiet           no progress bar (it is drawn on stderr only when stderr is a terminal);
                    warnings still go to stderr as 'repalign: warning: ...'
  -h, --help        this text;  -V, --version  the version

JSON KEYS (--json; stable, more may be added):
  score    metric, k (kNN metrics, cknna), kernel, sigma (rbf), unbiased (cka, cknna),
           cca_dim (svcca), rdm and corr (rsa), score, n, d_a, d_b, normalize, isa, seconds, warnings
           [, calibration]
  sweep    metric and its parameters as for score, prepare, n, layers_a, layers_b,
           layer_ids_a, layer_ids_b (the file's layer indices; 0, 1, ... without a pattern),
           scores (L_A lists of L_B numbers), best, best_index (positions [i, j], or null when
           no pair scores above 0), best_layers (the same as layer ids), isa, seconds,
           warnings [, calibration]
  zoo      metric and its parameters, prepare, n, models (name, source, n, layers,
           layer_ids, dim, dtype), pairs (a, b, scores, best, best_index, best_layers;
           calibrated: p_value, q_value, holm, z, null_mean, tau, calibrated), rows and cols
           (model names of the matrix), matrix (best scores; null on the diagonal), isa,
           seconds, warnings [, calibration: permutations, seed, alpha] [, performance:
           models (name, mean_alignment, score), spearman_rho, p_value, permutations, exact]
           [, map: models (name, x, y), eigenvalues, negative, negative_share]
           [, cache: dir, hits, computed, rejected, unwritten]
  warnings (score, sweep, zoo): a list of sentences, empty when none: a layer where more than
           10% of rows tie at the k-th neighbour (lists decided by index order, not data)
  calibration (with --permutations): permutations, seed, alpha, raw, null_mean, null_median,
           null_std, z, p_value, tau, calibrated (for a sweep: of its maximum)
  knn      n, d, k, similarity (inner_product|cosine), isa, seconds, then out (with --out)
           or indices and similarities (N lists of K, best first)
  prepare  prepare, q, threshold (null: no clamping), shape, out, seconds
  info     version, arch, isa (in use), isas_available (the default first), threads
  Non-finite numbers are null; seconds is compute time, file reading excluded.

An option that would do nothing is refused, saying what it applies to (e.g. --sigma with
--kernel rbf, --q with --prepare paper, --seed and --alpha with --permutations).

EXIT STATUS: 0 success, 1 bad input data or a failed computation, 2 bad command line (an
unknown or missing option value, a value outside its range whatever the data).
";

/// A command-line failure: usage errors exit with 2, data errors with 1.
pub(crate) enum Fail {
    Usage(String),
    Data(String),
}

impl From<String> for Fail {
    fn from(e: String) -> Self {
        Fail::Data(e)
    }
}

impl From<crate::Error> for Fail {
    fn from(e: crate::Error) -> Self {
        Fail::Data(e.to_string())
    }
}

/// Everything any command takes; each command checks which options apply.
#[derive(Default)]
pub(crate) struct Args {
    pub(crate) positional: Vec<String>,
    pub(crate) k: Option<usize>,
    pub(crate) metric: Option<String>,
    pub(crate) out: Option<String>,
    pub(crate) plot: Option<String>,
    pub(crate) tensor: Option<String>,
    pub(crate) cosine: bool,
    pub(crate) normalize: bool,
    pub(crate) json: bool,
    pub(crate) csv: bool,
    pub(crate) quiet: bool,
    pub(crate) help: bool,
    pub(crate) threads: usize,
    pub(crate) isa: Option<Isa>,
    pub(crate) kernel: Option<String>,
    pub(crate) rdm: Option<String>,
    pub(crate) corr: Option<String>,
    pub(crate) sigma: Option<f64>,
    pub(crate) unbiased: Option<bool>,
    pub(crate) cca_dim: Option<usize>,
    pub(crate) prepare: Option<String>,
    pub(crate) q: Option<f64>,
    pub(crate) permutations: Option<usize>,
    pub(crate) seed: Option<u64>,
    pub(crate) alpha: Option<f64>,
    /// zoo: the position in `positional` of the first model of group B.
    pub(crate) group_b: Option<usize>,
    /// zoo: the layer-state cache directory.
    pub(crate) cache: Option<String>,
    /// zoo: a `model,score` CSV of each model's task performance.
    pub(crate) performance: Option<String>,
    /// zoo: the 2-D map of the models.
    pub(crate) map: Option<String>,
    /// zoo: alignment against performance.
    pub(crate) scatter: Option<String>,
}

const METRIC_OPTIONS: [&str; 8] =
    ["--metric", "--kernel", "--sigma", "--unbiased", "--biased", "--cca-dim", "--rdm", "--corr"];
const CALIBRATION: [&str; 3] = ["--permutations", "--seed", "--alpha"];

/// The options of `command` (besides --help), or `None` for an unknown command.
fn options_of(command: &str) -> Option<Vec<&'static str>> {
    let common = ["--threads", "--isa", "--json", "--quiet", "--tensor"];
    let mut v: Vec<&str> = match command {
        "knn" => vec!["--k", "--cosine", "--out", "--csv"],
        "score" => [&["--k", "--cosine", "--normalize"][..], &METRIC_OPTIONS, &CALIBRATION].concat(),
        "sweep" => [&["--k", "--prepare", "--q", "--csv", "--plot"][..], &METRIC_OPTIONS, &CALIBRATION].concat(),
        "zoo" => [
            &[
                "--k",
                "--prepare",
                "--q",
                "--csv",
                "--group-b",
                "--cache",
                "--performance",
                "--plot",
                "--map",
                "--scatter",
            ][..],
            &METRIC_OPTIONS,
            &CALIBRATION,
        ]
        .concat(),
        // Preparation runs on --threads workers; it has no SIMD kernel to force: no --isa.
        "prepare" => return Some(vec!["--prepare", "--q", "--threads", "--out", "--json", "--quiet", "--tensor"]),
        "info" => return Some(vec!["--threads", "--isa", "--json"]),
        _ => return None,
    };
    v.extend(common);
    Some(v)
}

/// Parses the arguments after `command`.
pub(crate) fn parse(command: &str, argv: impl Iterator<Item = String>) -> Result<Args, Fail> {
    let allowed = options_of(command).ok_or_else(|| Fail::Usage(format!("unknown command '{command}'")))?;
    let mut a = Args::default();
    let mut argv = argv.peekable();
    while let Some(arg) = argv.next() {
        if arg == "-h" || arg == "--help" {
            a.help = true;
            continue;
        }
        if !arg.starts_with("--") || arg == "--" {
            a.positional.push(arg);
            continue;
        }
        // `--flag=value` is `--flag value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        let flag = flag.as_str();
        if !allowed.contains(&flag) {
            let known = options_of("score").into_iter().chain(options_of("sweep")).chain(options_of("knn"));
            let known = known.chain(options_of("prepare")).flatten().any(|o| o == flag);
            let list = allowed.join(", ");
            if command == "sweep" && flag == "--normalize" {
                return Err(Fail::Usage(
                    "sweep prepares its inputs with --prepare MODE: use --prepare normalize".into(),
                ));
            }
            return Err(Fail::Usage(if known {
                format!("option {flag} does not apply to {command} (its options: {list})")
            } else {
                format!("unknown option '{flag}' (options of {command}: {list})")
            }));
        }
        // A value that starts with `--` is the next option: this one's value is missing.
        let mut value = || match inline.clone().or_else(|| argv.next_if(|v| !v.starts_with("--"))) {
            Some(v) => Ok(v),
            None => Err(Fail::Usage(match argv.peek() {
                Some(next) => format!("{flag} needs a value (got the option '{next}')"),
                None => format!("{flag} needs a value"),
            })),
        };
        let number = |v: String| -> Result<usize, Fail> {
            v.parse().map_err(|_| Fail::Usage(format!("{flag}: '{v}' is not a non-negative integer")))
        };
        let float = |v: String| -> Result<f64, Fail> {
            v.parse().map_err(|_| Fail::Usage(format!("{flag}: '{v}' is not a number")))
        };
        match flag {
            "--k" => a.k = Some(number(value()?)?),
            "--threads" => a.threads = number(value()?)?,
            "--metric" => a.metric = Some(value()?),
            "--out" => a.out = Some(value()?),
            "--plot" => a.plot = Some(value()?),
            "--cache" => a.cache = Some(value()?),
            "--performance" => a.performance = Some(value()?),
            "--map" => a.map = Some(value()?),
            "--scatter" => a.scatter = Some(value()?),
            "--tensor" => a.tensor = Some(value()?),
            "--isa" => {
                let name = value()?;
                let isa = Isa::from_name(&name).ok_or_else(|| {
                    let names: Vec<_> = Isa::ALL.iter().map(|i| i.name()).collect();
                    Fail::Usage(format!("--isa: unknown '{name}' (one of: {})", names.join(", ")))
                })?;
                if !isa.is_available() {
                    let names: Vec<_> = Isa::available().map(Isa::name).collect();
                    return Err(Fail::Usage(format!(
                        "--isa {name}: not available on this CPU or build (available: {})",
                        names.join(", ")
                    )));
                }
                a.isa = Some(isa);
            }
            "--kernel" => a.kernel = Some(value()?),
            "--rdm" => a.rdm = Some(value()?),
            "--corr" => a.corr = Some(value()?),
            "--sigma" => a.sigma = Some(float(value()?)?),
            "--q" => a.q = Some(float(value()?)?),
            "--cca-dim" => a.cca_dim = Some(number(value()?)?),
            "--prepare" => a.prepare = Some(value()?),
            "--permutations" => a.permutations = Some(number(value()?)?),
            "--seed" => {
                let v = value()?;
                let seed =
                    v.parse().map_err(|_| Fail::Usage(format!("--seed: '{v}' is not a non-negative integer")))?;
                a.seed = Some(seed);
            }
            "--alpha" => a.alpha = Some(float(value()?)?),
            switch => {
                if inline.is_some() {
                    return Err(Fail::Usage(format!("{switch} takes no value")));
                }
                match switch {
                    "--unbiased" => a.unbiased = Some(true),
                    "--biased" => a.unbiased = Some(false),
                    "--cosine" => a.cosine = true,
                    "--normalize" => a.normalize = true,
                    "--json" => a.json = true,
                    "--csv" => a.csv = true,
                    "--quiet" => a.quiet = true,
                    "--group-b" if a.group_b.is_some() => {
                        return Err(Fail::Usage("--group-b: given twice (it separates two groups)".into()));
                    }
                    "--group-b" => a.group_b = Some(a.positional.len()),
                    _ => unreachable!("every allowed option is handled"),
                }
            }
        }
    }
    if a.json && a.csv {
        return Err(Fail::Usage("--json and --csv exclude each other".into()));
    }
    check_values(&a)?;
    // Checked before any work, not after a long computation.
    if let Some(out) = a.out.as_deref().filter(|p| !p.ends_with(".npy")) {
        return Err(Fail::Usage(format!("--out {out}: outputs are .npy files (the name must end in .npy)")));
    }
    let is_plot = |p: &str| [".svg", ".png"].iter().any(|e| p.to_ascii_lowercase().ends_with(e));
    if let Some(plot) = a.plot.as_deref().filter(|p| !is_plot(p)) {
        return Err(Fail::Usage(format!("--plot {plot}: the heatmap is written as .svg or .png")));
    }
    for (flag, path) in [("--map", &a.map), ("--scatter", &a.scatter)] {
        if let Some(p) = path.as_deref().filter(|p| !is_plot(p)) {
            return Err(Fail::Usage(format!("{flag} {p}: the figure is written as .svg or .png")));
        }
    }
    Ok(a)
}

/// The option values that are wrong whatever the data (the data-dependent bounds, such as
/// k <= N - 1, are checked once the inputs are read), and the options that would do nothing.
fn check_values(a: &Args) -> Result<(), Fail> {
    let usage = |msg: String| Err(Fail::Usage(msg));
    if a.k == Some(0) {
        return usage("--k 0: neighbours per row must be at least 1 (1 <= K <= N - 1; cknna: 2 <= K <= N)".into());
    }
    if let Some(q) = a.q.filter(|q| !(*q > 0.0 && *q <= 1.0)) {
        return usage(format!("--q {q}: the clamp quantile must be in (0, 1]"));
    }
    // The core's rule: 2 sigma^2 must be a positive normal number.
    if let Some(sigma) = a.sigma.filter(|s| !(*s > 0.0 && (2.0 * s * s).is_normal())) {
        return usage(format!("--sigma {sigma}: the rbf bandwidth must be > 0 (with 2 sigma^2 finite and normal)"));
    }
    if let Some(alpha) = a.alpha.filter(|x| !(*x > 0.0 && *x < 1.0)) {
        return usage(format!("--alpha {alpha}: the significance level must be in (0, 1)"));
    }
    if a.permutations == Some(0) {
        return usage("--permutations 0: calibration needs at least 1 permutation".into());
    }
    if a.cca_dim == Some(0) {
        return usage("--cca-dim 0: svcca keeps at least 1 direction (1 <= cca_dim <= min(N - 1, D_A, D_B))".into());
    }
    let calibration_only = [(a.seed.is_some(), "--seed"), (a.alpha.is_some(), "--alpha")];
    if let Some((_, flag)) = calibration_only.iter().find(|f| f.0 && a.permutations.is_none()) {
        return usage(format!("{flag} applies to the calibration: give --permutations P with it"));
    }
    if a.cosine && a.normalize {
        return usage(
            "--cosine and --normalize: the inner products of normalised rows are already cosines; give one".into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::prelude::rust_2024::*;
    // Not core's `panic!`, which the library's `no_std` root also brings into scope.
    use std::{panic, vec};

    use super::*;

    fn parse_args(command: &str, args: &[&str]) -> Result<Args, Fail> {
        parse(command, args.iter().map(|s| s.to_string()))
    }

    /// The message of a usage error (exit status 2); panics on success or a data error.
    fn usage(command: &str, args: &[&str]) -> String {
        match parse_args(command, args) {
            Err(Fail::Usage(msg)) => msg,
            Err(Fail::Data(msg)) => panic!("{command} {args:?}: a data error: {msg}"),
            Ok(_) => panic!("{command} {args:?} parsed"),
        }
    }

    #[test]
    fn flag_equals_value_is_flag_then_value() {
        let Ok(a) = parse_args(
            "sweep",
            &["a.npy", "--k=3", "--metric", "cka", "b.npy", "--seed=7", "--q", "0.5", "--permutations=5"],
        ) else {
            panic!("sweep arguments rejected");
        };
        assert_eq!(a.positional, vec!["a.npy", "b.npy"]);
        assert_eq!((a.k, a.metric.as_deref(), a.seed, a.q), (Some(3), Some("cka"), Some(7), Some(0.5)));
        let Ok(a) = parse_args("score", &["--unbiased", "--biased", "x", "y"]) else { panic!("score rejected") };
        assert_eq!(a.unbiased, Some(false), "the last of --unbiased / --biased wins");
    }

    #[test]
    fn bad_command_lines_are_usage_errors() {
        assert!(usage("frobnicate", &[]).contains("unknown command 'frobnicate'"));
        assert!(usage("score", &["--frobnicate"]).contains("unknown option '--frobnicate'"));
        assert!(usage("knn", &["--metric", "cka"]).contains("does not apply to knn"));
        assert!(usage("sweep", &["--normalize"]).contains("--prepare normalize"));
        assert!(usage("score", &["--json=yes"]).contains("--json takes no value"));
        assert!(usage("score", &["--k"]).contains("--k needs a value"));
        assert!(usage("score", &["--k", "--quiet"]).contains("--k needs a value (got the option '--quiet')"));
        assert!(usage("score", &["--k", "0"]).contains("at least 1"));
        assert!(usage("sweep", &["--q", "0"]).contains("(0, 1]"));
        assert!(usage("score", &["--sigma", "-1"]).contains("> 0"));
        assert!(usage("score", &["--permutations", "3", "--alpha", "1"]).contains("(0, 1)"));
        assert!(usage("score", &["--seed", "3"]).contains("--permutations"));
        assert!(usage("score", &["--cosine", "--normalize"]).contains("give one"));
        assert!(usage("score", &["--k", "-1"]).contains("not a non-negative integer"));
        assert!(usage("score", &["--sigma", "wide"]).contains("not a number"));
        assert!(usage("info", &["--isa", "sse9"]).contains("unknown 'sse9'"));
        assert!(usage("sweep", &["--json", "--csv"]).contains("exclude each other"));
        assert!(usage("knn", &["--out", "g.csv"]).contains("must end in .npy"));
        assert!(usage("sweep", &["--plot", "p.pdf"]).contains(".svg or .png"));
    }

    #[test]
    fn every_option_the_parser_accepts_is_in_the_usage_text() {
        for command in ["knn", "score", "sweep", "prepare", "info"] {
            for option in options_of(command).unwrap() {
                assert!(USAGE.contains(option), "{command} accepts {option}, which --help does not show");
            }
        }
    }
}
