//! The metric descriptor ([`Metric`]: a metric by the reference's name, with its
//! parameters), the per-layer state it needs ([`LayerState`]), and the one dispatch from a
//! descriptor to a score ([`score`], [`pair`]). Every front end (C, CLI, Python) goes
//! through here: none of them holds metric logic.

use crate::error::{Error, Result};
use crate::exec::Exec;
use crate::isa::Isa;
use crate::knn::{self, KnnGraph, Similarity};
use crate::matrix::AnyMatrix;

use super::kernel::{Kernel, KernelMatrix, cka_kernels, cknna_kernels, kernel_matrix, rv_kernels};
use super::linear::{LinearBasis, cca_bases, procrustes_bases, pwcca_bases};
use super::neighbours::{KnnMetric, knn_metric_states};
use super::rsa::{Corr, Rdm, RsaVector, rsa_vectors};
use super::svcca::{SvccaBasis, svcca_bases};

/// A metric with its parameters: what is computed (an [`Exec`] says how).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// A kNN-graph metric with `k` neighbours (self excluded).
    Knn {
        /// Which one.
        metric: KnnMetric,
        /// Neighbours per row.
        k: usize,
        /// How rows are compared (the reference: inner product of the rows as given).
        similarity: Similarity,
    },
    /// CKA (`unbiased = false`, the reference's `cka`) or the unbiased estimator (`unbiased_cka`).
    Cka {
        /// Linear or RBF.
        kernel: Kernel,
        /// Unbiased HSIC.
        unbiased: bool,
    },
    /// CKNNA with `topk` neighbours (the reference's default is unbiased).
    Cknna {
        /// Neighbours per row, >= 2.
        topk: usize,
        /// Unbiased HSIC.
        unbiased: bool,
    },
    /// SVCCA with `cca_dim` directions.
    Svcca {
        /// Directions kept.
        cca_dim: usize,
    },
    /// RSA: the correlation of the two distance matrices over all pairs of samples
    /// (default: Euclidean distances, Spearman correlation).
    Rsa {
        /// How distances are measured.
        rdm: Rdm,
        /// How they are correlated.
        corr: Corr,
    },
    /// Orthogonal Procrustes similarity of A to B (normalised by B: not symmetric).
    Procrustes,
    /// Mean canonical correlation (1e-6 ridge on both covariances).
    Cca,
    /// Projection-weighted CCA of A to B (A's projections weigh: not symmetric).
    Pwcca,
    /// The RV coefficient: biased linear CKA with 1e-8 in place of 1e-6.
    RvCoefficient,
}

impl Metric {
    /// Every metric's name, as the reference's `compute_score` takes them.
    pub const NAMES: [&'static str; 14] = [
        "mutual_knn",
        "cycle_knn",
        "lcs_knn",
        "edit_distance_knn",
        "jaccard_knn",
        "cka",
        "unbiased_cka",
        "cknna",
        "svcca",
        "rsa",
        "procrustes",
        "cca",
        "pwcca",
        "rv_coefficient",
    ];

    /// The metric as the reference's `compute_score` calls it by name: kNN metrics on inner
    /// products with `k` neighbours, cknna with `topk = k` (unbiased), cka and unbiased_cka
    /// with the linear kernel, svcca with cca_dim 10; rsa with Euclidean distances and
    /// Spearman correlation. `None` for an unknown name.
    pub fn from_name(name: &str, k: usize) -> Option<Metric> {
        Some(match name {
            "cka" => Metric::Cka { kernel: Kernel::Linear, unbiased: false },
            "unbiased_cka" => Metric::Cka { kernel: Kernel::Linear, unbiased: true },
            "cknna" => Metric::Cknna { topk: k, unbiased: true },
            "svcca" => Metric::Svcca { cca_dim: 10 },
            "rsa" => Metric::Rsa { rdm: Rdm::Euclidean, corr: Corr::Spearman },
            "procrustes" => Metric::Procrustes,
            "cca" => Metric::Cca,
            "pwcca" => Metric::Pwcca,
            "rv_coefficient" => Metric::RvCoefficient,
            other => Metric::Knn { metric: KnnMetric::from_name(other)?, k, similarity: Similarity::InnerProduct },
        })
    }

    /// The same metric with kNN graphs on `similarity` (the other metrics have none).
    pub fn with_similarity(self, similarity: Similarity) -> Metric {
        match self {
            Metric::Knn { metric, k, .. } => Metric::Knn { metric, k, similarity },
            other => other,
        }
    }

    /// The reference's name (`"mutual_knn"`, `"cka"`, `"unbiased_cka"`, ...).
    pub fn name(&self) -> &'static str {
        match *self {
            Metric::Knn { metric, .. } => metric.name(),
            Metric::Cka { unbiased: false, .. } => "cka",
            Metric::Cka { unbiased: true, .. } => "unbiased_cka",
            Metric::Cknna { .. } => "cknna",
            Metric::Svcca { .. } => "svcca",
            Metric::Rsa { .. } => "rsa",
            Metric::Procrustes => "procrustes",
            Metric::Cca => "cca",
            Metric::Pwcca => "pwcca",
            Metric::RvCoefficient => "rv_coefficient",
        }
    }

    /// The largest value the metric can take: k for lcs_knn (not divided by k), else 1.
    pub fn max(&self) -> f64 {
        match *self {
            Metric::Knn { metric: KnnMetric::Lcs, k, .. } => k as f64,
            _ => 1.0,
        }
    }

    /// The neighbour count and its valid range for N samples, for the metrics that have one:
    /// `1..=N-1` for the kNN metrics (a row is not its own neighbour), `2..=N` for CKNNA.
    pub fn k_range(&self, n: usize) -> Option<(usize, core::ops::RangeInclusive<usize>)> {
        match *self {
            Metric::Knn { k, .. } => Some((k, 1..=n.saturating_sub(1))),
            Metric::Cknna { topk, .. } => Some((topk, 2..=n)),
            _ => None,
        }
    }

    /// [`Error::InvalidK`] when the neighbour count is outside [`Metric::k_range`] for N
    /// samples; checked before any per-layer work, so a bad k costs nothing.
    pub fn check(&self, n: usize) -> Result<()> {
        match self.k_range(n) {
            Some((k, range)) if !range.contains(&k) => Err(Error::InvalidK { k, max: *range.end() }),
            _ => Ok(()),
        }
    }
}

/// A metric's parameters as a front end receives them (command-line flags, Python keyword
/// arguments): `None` takes the metric's default. [`MetricParams::metric`] is the one place
/// that turns a name and parameters into a [`Metric`], and refuses a parameter the metric
/// would ignore, so that no front end silently drops one.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MetricParams<'a> {
    /// Neighbours per row (kNN metrics, cknna; default 10).
    pub k: Option<usize>,
    /// `"linear"` (or the reference's `"ip"`) or `"rbf"` (cka, unbiased_cka; default linear).
    pub kernel: Option<&'a str>,
    /// RBF bandwidth (default 1; with `kernel = "rbf"` only).
    pub sigma: Option<f64>,
    /// Unbiased HSIC (cka: false, unbiased_cka and cknna: true by default).
    pub unbiased: Option<bool>,
    /// SVCCA directions kept (default 10).
    pub cca_dim: Option<usize>,
    /// Rank kNN graphs by cosine similarity (kNN metrics; default false: inner product).
    pub cosine: Option<bool>,
    /// RSA's distances: `"euclidean"` (default) or `"cosine"` (rsa only).
    pub rdm: Option<&'a str>,
    /// RSA's correlation: `"spearman"` (default) or `"pearson"` (rsa only).
    pub corr: Option<&'a str>,
}

/// A metric parameter, named as [`MetricParams`] names it (front ends spell it their way:
/// `--cca-dim`, `cca_dim=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// `k`.
    K,
    /// `kernel`.
    Kernel,
    /// `sigma`.
    Sigma,
    /// `unbiased`.
    Unbiased,
    /// `cca_dim`.
    CcaDim,
    /// `cosine`.
    Cosine,
    /// `rdm`.
    Rdm,
    /// `corr`.
    Corr,
}

impl Param {
    /// The field's name in [`MetricParams`].
    pub const fn name(self) -> &'static str {
        match self {
            Param::K => "k",
            Param::Kernel => "kernel",
            Param::Sigma => "sigma",
            Param::Unbiased => "unbiased",
            Param::CcaDim => "cca_dim",
            Param::Cosine => "cosine",
            Param::Rdm => "rdm",
            Param::Corr => "corr",
        }
    }

    /// The metrics it applies to, in words.
    pub const fn applies_to(self) -> &'static str {
        match self {
            Param::K => "the kNN metrics and cknna",
            Param::Kernel => "cka and unbiased_cka",
            Param::Sigma => "kernel rbf (cka, unbiased_cka) only",
            Param::Unbiased => "cka, unbiased_cka and cknna",
            Param::CcaDim => "svcca",
            Param::Cosine => "the kNN metrics (mutual_knn, cycle_knn, ...)",
            Param::Rdm | Param::Corr => "rsa",
        }
    }
}

/// Why a metric name and parameters do not make a [`Metric`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamError<'a> {
    /// No metric has this name (valid: [`Metric::NAMES`]).
    UnknownMetric(&'a str),
    /// No kernel has this name (valid: linear, ip, rbf).
    UnknownKernel(&'a str),
    /// No RSA distance has this name (valid: euclidean, cosine).
    UnknownRdm(&'a str),
    /// No RSA correlation has this name (valid: spearman, pearson).
    UnknownCorr(&'a str),
    /// The parameter was given but `metric` does not use it.
    DoesNotApply {
        /// Which.
        param: Param,
        /// The metric's name.
        metric: &'static str,
    },
    /// Fewer neighbours than the metric needs whatever N is (`min`: 1, or 2 for cknna).
    KTooSmall {
        /// As given.
        k: usize,
        /// The smallest valid k.
        min: usize,
    },
}

impl core::fmt::Display for ParamError<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            ParamError::UnknownMetric(name) => {
                write!(f, "unknown metric '{name}' (valid: ")?;
                for (i, n) in Metric::NAMES.iter().enumerate() {
                    write!(f, "{}{n}", if i > 0 { ", " } else { "" })?;
                }
                write!(f, ")")
            }
            ParamError::UnknownKernel(name) => write!(f, "unknown kernel '{name}' (linear, ip or rbf)"),
            ParamError::UnknownRdm(name) => write!(f, "unknown rdm '{name}' (euclidean or cosine)"),
            ParamError::UnknownCorr(name) => write!(f, "unknown corr '{name}' (spearman or pearson)"),
            ParamError::DoesNotApply { param, metric } => {
                write!(f, "{} applies to {}, not to {metric}", param.name(), param.applies_to())
            }
            ParamError::KTooSmall { k, min } => write!(f, "k = {k} is too small: it must be at least {min}"),
        }
    }
}

impl MetricParams<'_> {
    /// The metric `name` (as [`Metric::from_name`]) with these parameters. Refuses an unknown
    /// name, kernel, rdm or corr, a parameter the metric would ignore, and a k too small for any N
    /// (k too large for the data is [`Metric::check`]'s, once N is known).
    pub fn metric<'n>(&self, name: &'n str) -> core::result::Result<Metric, ParamError<'n>>
    where
        Self: 'n,
    {
        let base = Metric::from_name(name, self.k.unwrap_or(10)).ok_or(ParamError::UnknownMetric(name))?;
        let (knn, cka, cknna, svcca) = (
            matches!(base, Metric::Knn { .. }),
            matches!(base, Metric::Cka { .. }),
            matches!(base, Metric::Cknna { .. }),
            matches!(base, Metric::Svcca { .. }),
        );
        let kernel = match self.kernel {
            None | Some("linear") | Some("ip") => Kernel::Linear,
            Some("rbf") => Kernel::Rbf { sigma: self.sigma.unwrap_or(1.0) },
            Some(other) => return Err(ParamError::UnknownKernel(other)),
        };
        let rsa = matches!(base, Metric::Rsa { .. });
        let rdm = match self.rdm {
            None => Rdm::Euclidean,
            Some(name) => Rdm::from_name(name).ok_or(ParamError::UnknownRdm(name))?,
        };
        let corr = match self.corr {
            None => Corr::Spearman,
            Some(name) => Corr::from_name(name).ok_or(ParamError::UnknownCorr(name))?,
        };
        let unused = [
            (self.k.is_some() && !(knn || cknna), Param::K),
            (self.kernel.is_some() && !cka, Param::Kernel),
            (self.sigma.is_some() && !matches!(kernel, Kernel::Rbf { .. }), Param::Sigma),
            (self.unbiased.is_some() && !(cka || cknna), Param::Unbiased),
            (self.cca_dim.is_some() && !svcca, Param::CcaDim),
            (self.cosine.is_some() && !knn, Param::Cosine),
            (self.rdm.is_some() && !rsa, Param::Rdm),
            (self.corr.is_some() && !rsa, Param::Corr),
        ];
        if let Some(&(_, param)) = unused.iter().find(|u| u.0) {
            return Err(ParamError::DoesNotApply { param, metric: base.name() });
        }
        let metric = match base {
            Metric::Cka { unbiased, .. } => Metric::Cka { kernel, unbiased: self.unbiased.unwrap_or(unbiased) },
            Metric::Cknna { topk, unbiased } => Metric::Cknna { topk, unbiased: self.unbiased.unwrap_or(unbiased) },
            Metric::Svcca { cca_dim } => Metric::Svcca { cca_dim: self.cca_dim.unwrap_or(cca_dim) },
            Metric::Rsa { .. } => Metric::Rsa { rdm, corr },
            knn @ Metric::Knn { .. } => knn.with_similarity(if self.cosine == Some(true) {
                Similarity::Cosine
            } else {
                Similarity::InnerProduct
            }),
            other => other,
        };
        match metric.k_range(usize::MAX) {
            Some((k, range)) if k < *range.start() => Err(ParamError::KTooSmall { k, min: *range.start() }),
            _ => Ok(metric),
        }
    }
}

/// What one layer contributes to every comparison it takes part in, computed once: a kNN
/// graph, a kernel matrix, an SVCCA or linear basis or an RSA vector, with the metric it
/// was made for.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerState {
    pub(super) metric: Metric,
    pub(super) state: State,
    /// For a kNN graph: rows whose k-th neighbour ties with the next candidate.
    pub(super) tied: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum State {
    Graph(KnnGraph),
    Kernel(KernelMatrix),
    Basis(SvccaBasis),
    Linear(LinearBasis),
    Rsa(RsaVector),
}

impl LayerState {
    /// The state of layer `x` for `metric`. A kNN graph is computed with one neighbour more
    /// than k when N allows (k + 1 <= N - 1), to count [`LayerState::tied_rows`]; only the
    /// first k are kept, so the graph is the one [`knn::graph`] gives for k.
    pub fn new<'a>(x: impl Into<AnyMatrix<'a>>, metric: &Metric, exec: &Exec<'_>) -> Result<Self> {
        let x = x.into();
        let mut tied = None;
        let state = match *metric {
            Metric::Knn { k, similarity, .. } => {
                // k = 0 or k > N - 1 is left to the engine's own error.
                let wide = k >= 1 && k < x.rows().saturating_sub(1);
                let mut g = knn::graph(x, if wide { k + 1 } else { k }, similarity, exec)?;
                tied = Some(tied_rows(&g, k));
                g.truncate(k);
                State::Graph(g)
            }
            Metric::Cka { kernel, unbiased } => State::Kernel(kernel_matrix(x, kernel, exec)?.keep_own_hsic(unbiased)),
            Metric::Cknna { .. } => State::Kernel(kernel_matrix(x, Kernel::Linear, exec)?),
            Metric::Svcca { cca_dim } => State::Basis(SvccaBasis::new(x, cca_dim, exec)?),
            Metric::Rsa { rdm, corr } => State::Rsa(RsaVector::new(x, rdm, corr, exec)?),
            Metric::Procrustes => State::Linear(LinearBasis::procrustes(x, exec)?),
            Metric::Cca | Metric::Pwcca => State::Linear(LinearBasis::whitened(x, exec)?),
            Metric::RvCoefficient => State::Kernel(kernel_matrix(x, Kernel::Linear, exec)?.keep_own_hsic(false)),
        };
        Ok(Self { metric: *metric, state, tied })
    }

    /// For a kNN graph, the rows whose neighbour list is decided by index order rather than
    /// by the data: the k-th neighbour's similarity equals the (k + 1)-th's (when k = N - 1,
    /// where every other row is a neighbour: all k similarities are equal). The order
    /// contract breaks such ties by lower index, so identical, all-zero or underflowing rows
    /// all get the same lists and any two such graphs agree perfectly. `None` for a kernel
    /// or basis.
    pub fn tied_rows(&self) -> Option<usize> {
        self.tied
    }

    /// The metric this state serves.
    pub fn metric(&self) -> &Metric {
        &self.metric
    }

    /// Number of samples.
    pub fn samples(&self) -> usize {
        match &self.state {
            State::Graph(g) => g.rows(),
            State::Kernel(k) => k.n(),
            State::Basis(b) => b.n(),
            State::Linear(b) => b.n(),
            State::Rsa(v) => v.n(),
        }
    }

    /// The SIMD backend that computed the state (the kNN engine or the Gram kernel); `None`
    /// for an SVCCA or linear basis, which are f64 code outside repalign's dispatch (faer's
    /// own SIMD with the `linalg` feature, scalar loops without), and for an RSA vector of a
    /// small input, computed directly in f64 ([`super::rsa::DIRECT`]).
    pub fn isa(&self) -> Option<Isa> {
        match &self.state {
            State::Graph(g) => g.isa(),
            State::Kernel(k) => Some(k.isa()),
            State::Rsa(v) => v.isa(),
            State::Basis(_) | State::Linear(_) => None,
        }
    }

    /// The kNN graph, for the kNN metrics.
    pub fn graph(&self) -> Option<&KnnGraph> {
        match &self.state {
            State::Graph(g) => Some(g),
            _ => None,
        }
    }

    /// The state of the same layer with its samples reordered by `perm` (sample i becomes
    /// `perm[i]`), as if computed from permuted rows: a kernel or basis is reordered, a
    /// graph's rows are reordered and relabelled, an RSA vector's pairs re-indexed (not
    /// re-ranked). `perm` must be a permutation of 0..N. A kernel's (or RSA vector's,
    /// linear basis's) second copy the allocator refuses is [`Error::OutOfMemory`].
    pub fn permuted(&self, perm: &[u32]) -> Result<LayerState> {
        let state = match &self.state {
            State::Graph(g) => State::Graph(g.permuted(perm)),
            State::Kernel(k) => State::Kernel(k.permuted(perm)?),
            State::Basis(b) => State::Basis(b.permuted(perm)),
            State::Linear(b) => State::Linear(b.permuted(perm)?),
            State::Rsa(v) => State::Rsa(v.permuted(perm)?),
        };
        Ok(LayerState { metric: self.metric, state, tied: self.tied })
    }
}

/// Rows of `g` (k or k + 1 neighbours per row) whose k-th neighbour is an arbitrary pick
/// among equals: see [`LayerState::tied_rows`].
fn tied_rows(g: &KnnGraph, k: usize) -> usize {
    (0..g.rows())
        .filter(|&i| {
            let s = g.row_scores(i);
            if g.k() > k { s[k - 1] == s[k] } else { k >= 2 && s[0] == s[k - 1] }
        })
        .count()
}

/// The metric of two layers from their states (made for the same metric and samples), `a`
/// as A: procrustes, pwcca (and unbiased cknna) are not symmetric.
pub fn pair(a: &LayerState, b: &LayerState) -> Result<f64> {
    if a.metric != b.metric {
        return Err(Error::InvalidParameter { what: "layer states were computed for different metrics" });
    }
    match (&a.state, &b.state, a.metric) {
        (State::Graph(ga), State::Graph(gb), Metric::Knn { metric, k, .. }) => {
            knn_metric_states(metric, ga.as_ref(), gb.as_ref(), k, ga.isa())
        }
        (State::Kernel(ka), State::Kernel(kb), Metric::Cka { unbiased, .. }) => cka_kernels(ka, kb, unbiased),
        (State::Kernel(ka), State::Kernel(kb), Metric::Cknna { topk, unbiased }) => {
            cknna_kernels(ka, kb, topk, unbiased)
        }
        (State::Basis(ba), State::Basis(bb), Metric::Svcca { .. }) => svcca_bases(ba, bb),
        (State::Kernel(ka), State::Kernel(kb), Metric::RvCoefficient) => rv_kernels(ka, kb),
        (State::Rsa(va), State::Rsa(vb), Metric::Rsa { .. }) => rsa_vectors(va, vb),
        (State::Linear(ba), State::Linear(bb), Metric::Procrustes) => procrustes_bases(ba, bb),
        (State::Linear(ba), State::Linear(bb), Metric::Cca) => cca_bases(ba, bb),
        (State::Linear(ba), State::Linear(bb), Metric::Pwcca) => pwcca_bases(ba, bb),
        _ => unreachable!("a state is made for its metric"),
    }
}

/// `metric` of two representations of the same samples (same N; D and dtype may differ).
pub fn score<'a, 'b>(
    a: impl Into<AnyMatrix<'a>>,
    b: impl Into<AnyMatrix<'b>>,
    metric: &Metric,
    exec: &Exec<'_>,
) -> Result<f64> {
    let (a, b) = (a.into(), b.into());
    if a.rows() != b.rows() {
        return Err(Error::RowCountMismatch { a: a.rows(), b: b.rows() });
    }
    exec.resolve_isa()?;
    pair(&LayerState::new(a, metric, exec)?, &LayerState::new(b, metric, exec)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn names_round_trip_and_ranges() {
        for name in Metric::NAMES {
            assert_eq!(Metric::from_name(name, 7).unwrap().name(), name);
        }
        assert_eq!(Metric::from_name("nope", 3), None);
        let lcs = Metric::from_name("lcs_knn", 7).unwrap();
        assert_eq!(lcs.max(), 7.0);
        assert_eq!(lcs.check(8), Ok(()));
        assert_eq!(lcs.check(7), Err(Error::InvalidK { k: 7, max: 6 }));
        let cknna = Metric::from_name("cknna", 1).unwrap();
        assert_eq!(cknna.check(10), Err(Error::InvalidK { k: 1, max: 10 }));
        assert_eq!(Metric::from_name("svcca", 0).unwrap().check(1), Ok(()));
    }

    #[test]
    fn params_take_defaults_and_refuse_what_a_metric_ignores() {
        let none = MetricParams::default();
        for name in Metric::NAMES {
            assert_eq!(none.metric(name), Ok(Metric::from_name(name, 10).unwrap()), "{name}");
        }
        let p = MetricParams { k: Some(3), cosine: Some(true), ..none };
        let m = p.metric("jaccard_knn").unwrap();
        assert_eq!(m, Metric::Knn { metric: KnnMetric::Jaccard, k: 3, similarity: Similarity::Cosine });
        let rbf = MetricParams { kernel: Some("rbf"), sigma: Some(2.0), unbiased: Some(false), ..none };
        assert_eq!(rbf.metric("unbiased_cka"), Ok(Metric::Cka { kernel: Kernel::Rbf { sigma: 2.0 }, unbiased: false }));
        let ip = MetricParams { kernel: Some("ip"), ..none };
        assert_eq!(ip.metric("cka"), Ok(Metric::Cka { kernel: Kernel::Linear, unbiased: false }));
        assert_eq!(MetricParams { cca_dim: Some(4), ..none }.metric("svcca"), Ok(Metric::Svcca { cca_dim: 4 }));
        let biased = MetricParams { k: Some(5), unbiased: Some(false), ..none };
        assert_eq!(biased.metric("cknna"), Ok(Metric::Cknna { topk: 5, unbiased: false }));
        // Refusals, each naming the parameter and the metric.
        let refused = [
            (MetricParams { k: Some(3), ..none }, "cka", Param::K),
            (MetricParams { kernel: Some("rbf"), ..none }, "cknna", Param::Kernel),
            (MetricParams { sigma: Some(1.0), ..none }, "cka", Param::Sigma),
            (MetricParams { unbiased: Some(true), ..none }, "mutual_knn", Param::Unbiased),
            (MetricParams { cca_dim: Some(3), ..none }, "cka", Param::CcaDim),
            (MetricParams { cosine: Some(false), ..none }, "svcca", Param::Cosine),
            (MetricParams { rdm: Some("cosine"), ..none }, "cka", Param::Rdm),
            (MetricParams { corr: Some("pearson"), ..none }, "procrustes", Param::Corr),
            (MetricParams { k: Some(3), ..none }, "rsa", Param::K),
        ];
        for (p, name, param) in refused {
            let e = p.metric(name).unwrap_err();
            assert_eq!(e, ParamError::DoesNotApply { param, metric: name }, "{name}");
            assert!(e.to_string().starts_with(param.name()) && e.to_string().ends_with(name), "{e}");
        }
        let rsa = MetricParams { rdm: Some("cosine"), corr: Some("pearson"), ..none };
        assert_eq!(rsa.metric("rsa"), Ok(Metric::Rsa { rdm: Rdm::Cosine, corr: Corr::Pearson }));
        assert_eq!(MetricParams { rdm: Some("l1"), ..none }.metric("rsa"), Err(ParamError::UnknownRdm("l1")));
        assert_eq!(
            MetricParams { corr: Some("kendall"), ..none }.metric("rsa"),
            Err(ParamError::UnknownCorr("kendall"))
        );
        for name in ["procrustes", "cca", "pwcca", "rv_coefficient", "rsa"] {
            let m = none.metric(name).unwrap();
            assert_eq!((m.max(), m.k_range(10), m.check(2)), (1.0, None, Ok(())), "{name}");
        }
        assert_eq!(none.metric("nope"), Err(ParamError::UnknownMetric("nope")));
        assert!(none.metric("nope").unwrap_err().to_string().contains("mutual_knn, cycle_knn"));
        assert_eq!(MetricParams { kernel: Some("poly"), ..none }.metric("cka"), Err(ParamError::UnknownKernel("poly")));
        assert_eq!(
            MetricParams { k: Some(0), ..none }.metric("mutual_knn"),
            Err(ParamError::KTooSmall { k: 0, min: 1 })
        );
        assert_eq!(MetricParams { k: Some(1), ..none }.metric("cknna"), Err(ParamError::KTooSmall { k: 1, min: 2 }));
    }
}
