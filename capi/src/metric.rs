//! Every alignment metric of the core behind one C descriptor, [`RepalignMetric`]: the kNN
//! metrics (mutual, cycle, LCS, edit distance, Jaccard), CKA (biased and unbiased, linear or
//! RBF kernel), CKNNA, SVCCA, and the follow-up literature's RSA, Procrustes, CCA, PWCCA
//! and RV coefficient, scored from features (`repalign_score`) or, for the kNN
//! metrics, from precomputed neighbour lists (`repalign_knn_metric_graphs`).
//!
//! The descriptor is decoded into the core's [`Metric`] (the same value the layer sweep
//! takes), checking the integer fields the kind reads; the fields that depend on N or D
//! (`k`, `cca_dim`) are checked by the core against the inputs.

use std::ffi::{CStr, c_char};

use repalign_core::Metric;
use repalign_core::knn::GraphRef;
use repalign_core::knn::Similarity;
use repalign_core::metrics::{self, Corr, Kernel, KnnMetric, Rdm};

use crate::enums::{CEnum, c_enum};
use crate::ffi::{self, product};
use crate::panic;
use crate::status::{Failure, RepalignStatus};
use crate::types::{RepalignKnnOptions, RepalignMatrix, options};

/// The metrics, for `RepalignMetric.kind`, by the reference's names (`metrics.py` of *The
/// Platonic Representation Hypothesis*; `repalign_metric_kind_name` gives them).
// Boilerplate: a plain C enum, written out for cbindgen; `c_enum!` below decodes it.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepalignMetricKind {
    /// `mutual_knn`: mean over samples of |NN_A(i) ∩ NN_B(i)| / k, in [0, 1]. Reads `k`.
    MutualKnn = 0,
    /// `cycle_knn`: the fraction of samples i for which some j in NN_B(i) has i in NN_A(j),
    /// in [0, 1]; not symmetric in (A, B). Reads `k`.
    CycleKnn = 1,
    /// `lcs_knn`: mean length of the longest common subsequence of the ordered lists
    /// NN_A(i) and NN_B(i), in [0, k] (as in the reference, **not** divided by k). Reads `k`.
    LcsKnn = 2,
    /// `edit_distance_knn`: 1 - mean Levenshtein distance of the ordered lists / k, in
    /// [0, 1]. Reads `k`.
    EditDistanceKnn = 3,
    /// `jaccard_knn`: mean of |NN_A(i) ∩ NN_B(i)| / |NN_A(i) ∪ NN_B(i)|, in [0, 1]. Reads `k`.
    JaccardKnn = 4,
    /// `cka`: biased CKA, `HSIC(K, L) / (sqrt(HSIC(K, K) HSIC(L, L)) + 1e-6)`. Reads
    /// `kernel` and, for RBF, `sigma`.
    Cka = 5,
    /// `unbiased_cka`: CKA with the unbiased HSIC estimator (N >= 4); can be negative. Reads
    /// `kernel` and, for RBF, `sigma`.
    UnbiasedCka = 6,
    /// `cknna`: kernel alignment restricted to mutual `k` nearest neighbours (linear kernel,
    /// `k` from 2 to N). Reads `k` (the reference's `topk`) and `unbiased`.
    Cknna = 7,
    /// `svcca`: mean canonical correlation of the `cca_dim` leading singular directions of
    /// the column-standardised inputs, in [0, 1], computed exactly (the reference's value
    /// is randomised). Reads `cca_dim` (from 1 to min(N, D_A, D_B)).
    Svcca = 8,
    /// `rsa`: correlation of the two matrices of pairwise distances over all N(N-1)/2 pairs,
    /// in [-1, 1] (N >= 3). Reads `rdm` (Euclidean or cosine distances) and `corr` (Spearman,
    /// ties at their average rank, or Pearson).
    Rsa = 9,
    /// `procrustes`: `1 - sqrt(max(0, |Xc|² + |Yc|² - 2 ||Xcᵀ Yc||_*)) / (|Yc| + 1e-8)` for
    /// the column-centred inputs, at most 1; not symmetric in (A, B).
    Procrustes = 10,
    /// `cca`: mean of the min(D_A, D_B) canonical correlations (covariances with a 1e-6 ridge),
    /// in [0, 1].
    Cca = 11,
    /// `pwcca`: canonical correlations weighted by A's projections (Morcos et al. 2018), in
    /// [0, 1]; not symmetric in (A, B).
    Pwcca = 12,
    /// `rv_coefficient`: `<Gx, Gy> / (sqrt(<Gx, Gx> <Gy, Gy>) + 1e-8)` for the Gram
    /// matrices of the column-centred inputs (biased linear CKA with 1e-8), in [0, 1].
    RvCoefficient = 13,
}

c_enum! {
    RepalignMetricKind {
        MutualKnn, CycleKnn, LcsKnn, EditDistanceKnn, JaccardKnn, Cka, UnbiasedCka, Cknna, Svcca, Rsa,
        Procrustes, Cca, Pwcca, RvCoefficient,
    }
}

/// RSA's distances, for `RepalignMetric.rdm`.
// Boilerplate: a plain C enum, written out for cbindgen; `c_enum!` below decodes it.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepalignRdm {
    /// `|x - y|`.
    Euclidean = 0,
    /// `1 - <x, y> / (|x| |y|)`; a row of norm 0 is `REPALIGN_STATUS_ZERO_NORM`.
    Cosine = 1,
}

c_enum! { RepalignRdm { Euclidean, Cosine } }

/// RSA's correlation, for `RepalignMetric.corr`.
// Boilerplate: a plain C enum, written out for cbindgen; `c_enum!` below decodes it.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepalignCorr {
    /// Pearson correlation of the ranks, ties sharing their average rank.
    Spearman = 0,
    /// Pearson correlation of the distances.
    Pearson = 1,
}

c_enum! { RepalignCorr { Spearman, Pearson } }

/// Kernels of CKA, for `RepalignMetric.kernel`.
// Boilerplate: a plain C enum, written out for cbindgen; `c_enum!` below decodes it.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepalignKernel {
    /// `K = X Xᵀ` (the reference's `'ip'`).
    Linear = 0,
    /// `K_ij = exp(-|x_i - x_j|² / (2 sigma²))` (the reference's `'rbf'`).
    Rbf = 1,
}

c_enum! { RepalignKernel { Linear, Rbf } }

/// A metric and its parameters. Obtain one from `repalign_metric_default(kind)` (the
/// reference's defaults) and change fields. Each kind reads only the fields its
/// `RepalignMetricKind` documentation names; the others are ignored.
///
/// Checked when used: `kind` and `kernel` must be values of their enums
/// (`REPALIGN_STATUS_INVALID_ENUM`); `sigma` must be finite and > 0 and `unbiased` 0 or 1
/// (`REPALIGN_STATUS_INVALID_PARAMETER`); `k` must be from 1 to N - 1 for the kNN metrics
/// and from 2 to N for CKNNA (`REPALIGN_STATUS_INVALID_K`); `cca_dim` from 1 to the rank of
/// the standardised inputs, at most min(N, D) (`REPALIGN_STATUS_INVALID_PARAMETER`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RepalignMetric {
    /// A `RepalignMetricKind` value.
    pub kind: u32,
    /// Neighbours per sample of the kNN metrics (self excluded) and CKNNA's `topk`.
    /// Default 10.
    pub k: usize,
    /// A `RepalignKernel` value, for CKA and unbiased CKA. Default `REPALIGN_KERNEL_LINEAR`.
    pub kernel: u32,
    /// RBF bandwidth, finite and > 0. Default 1.0.
    pub sigma: f64,
    /// CKNNA's estimator: 1 unbiased (the default, as the reference), 0 biased.
    pub unbiased: u32,
    /// SVCCA's number of directions. Default 10.
    pub cca_dim: usize,
    /// A `RepalignRdm` value, for RSA. Default `REPALIGN_RDM_EUCLIDEAN` (0).
    pub rdm: u32,
    /// A `RepalignCorr` value, for RSA. Default `REPALIGN_CORR_SPEARMAN` (0).
    pub corr: u32,
}

impl RepalignMetricKind {
    /// The core's kNN metric; `None` for the kernel metrics and SVCCA.
    fn knn(self) -> Option<KnnMetric> {
        Some(match self {
            RepalignMetricKind::MutualKnn => KnnMetric::Mutual,
            RepalignMetricKind::CycleKnn => KnnMetric::Cycle,
            RepalignMetricKind::LcsKnn => KnnMetric::Lcs,
            RepalignMetricKind::EditDistanceKnn => KnnMetric::EditDistance,
            RepalignMetricKind::JaccardKnn => KnnMetric::Jaccard,
            RepalignMetricKind::Cka
            | RepalignMetricKind::UnbiasedCka
            | RepalignMetricKind::Cknna
            | RepalignMetricKind::Svcca
            | RepalignMetricKind::Rsa
            | RepalignMetricKind::Procrustes
            | RepalignMetricKind::Cca
            | RepalignMetricKind::Pwcca
            | RepalignMetricKind::RvCoefficient => return None,
        })
    }

    /// The reference's name, static and NUL-terminated.
    fn name(self) -> &'static CStr {
        match self {
            RepalignMetricKind::MutualKnn => c"mutual_knn",
            RepalignMetricKind::CycleKnn => c"cycle_knn",
            RepalignMetricKind::LcsKnn => c"lcs_knn",
            RepalignMetricKind::EditDistanceKnn => c"edit_distance_knn",
            RepalignMetricKind::JaccardKnn => c"jaccard_knn",
            RepalignMetricKind::Cka => c"cka",
            RepalignMetricKind::UnbiasedCka => c"unbiased_cka",
            RepalignMetricKind::Cknna => c"cknna",
            RepalignMetricKind::Svcca => c"svcca",
            RepalignMetricKind::Rsa => c"rsa",
            RepalignMetricKind::Procrustes => c"procrustes",
            RepalignMetricKind::Cca => c"cca",
            RepalignMetricKind::Pwcca => c"pwcca",
            RepalignMetricKind::RvCoefficient => c"rv_coefficient",
        }
    }
}

/// A 0/1 flag of the C API.
pub(crate) fn decode_flag(value: u32, what: &str) -> Result<bool, Failure> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(Failure::new(RepalignStatus::InvalidParameter, format!("`{what}` is {value}: it must be 0 or 1"))),
    }
}

impl RepalignMetric {
    /// The reference's defaults for `kind` (which is stored as given, checked when used).
    pub(crate) fn default_for(kind: u32) -> Self {
        Self {
            kind,
            k: 10,
            kernel: RepalignKernel::Linear as u32,
            sigma: 1.0,
            unbiased: 1,
            cca_dim: 10,
            rdm: RepalignRdm::Euclidean as u32,
            corr: RepalignCorr::Spearman as u32,
        }
    }

    /// The core's metric, after checking the fields `kind` reads.
    pub(crate) fn decode(&self) -> Result<Metric, Failure> {
        let kind = RepalignMetricKind::decode(self.kind, "metric->kind")?;
        if let Some(metric) = kind.knn() {
            return Ok(Metric::Knn { metric, k: self.k, similarity: Similarity::InnerProduct });
        }
        Ok(match kind {
            RepalignMetricKind::Cka | RepalignMetricKind::UnbiasedCka => {
                Metric::Cka { kernel: self.decode_kernel()?, unbiased: kind == RepalignMetricKind::UnbiasedCka }
            }
            RepalignMetricKind::Cknna => {
                Metric::Cknna { topk: self.k, unbiased: decode_flag(self.unbiased, "metric->unbiased")? }
            }
            RepalignMetricKind::Rsa => Metric::Rsa {
                rdm: match RepalignRdm::decode(self.rdm, "metric->rdm")? {
                    RepalignRdm::Euclidean => Rdm::Euclidean,
                    RepalignRdm::Cosine => Rdm::Cosine,
                },
                corr: match RepalignCorr::decode(self.corr, "metric->corr")? {
                    RepalignCorr::Spearman => Corr::Spearman,
                    RepalignCorr::Pearson => Corr::Pearson,
                },
            },
            RepalignMetricKind::Procrustes => Metric::Procrustes,
            RepalignMetricKind::Cca => Metric::Cca,
            RepalignMetricKind::Pwcca => Metric::Pwcca,
            RepalignMetricKind::RvCoefficient => Metric::RvCoefficient,
            _ => Metric::Svcca { cca_dim: self.cca_dim },
        })
    }

    fn decode_kernel(&self) -> Result<Kernel, Failure> {
        match RepalignKernel::decode(self.kernel, "metric->kernel")? {
            RepalignKernel::Linear => Ok(Kernel::Linear),
            RepalignKernel::Rbf if self.sigma > 0.0 && self.sigma.is_finite() => Ok(Kernel::Rbf { sigma: self.sigma }),
            RepalignKernel::Rbf => Err(Failure::new(
                RepalignStatus::InvalidParameter,
                format!("`metric->sigma` is {}: the RBF bandwidth must be finite and > 0", self.sigma),
            )),
        }
    }
}

/// The reference's defaults for the metric `kind` (a `RepalignMetricKind` value): `k` 10,
/// linear kernel, `sigma` 1.0, CKNNA unbiased, `cca_dim` 10, RSA on Euclidean distances
/// with Spearman correlation. Never fails: `kind` is stored
/// as given and an invalid one is reported by the function the descriptor is passed to.
#[unsafe(no_mangle)]
pub extern "C" fn repalign_metric_default(kind: u32) -> RepalignMetric {
    panic::value(RepalignMetric::default_for(kind), || RepalignMetric::default_for(kind))
}

/// The reference's static name of a metric kind (`"mutual_knn"`, `"cycle_knn"`,
/// `"lcs_knn"`, `"edit_distance_knn"`, `"jaccard_knn"`, `"cka"`, `"unbiased_cka"`,
/// `"cknna"`, `"svcca"`, `"rsa"`, `"procrustes"`, `"cca"`, `"pwcca"`, `"rv_coefficient"`),
/// or NULL when `kind` is not a `RepalignMetricKind` value.
#[unsafe(no_mangle)]
pub extern "C" fn repalign_metric_kind_name(kind: u32) -> *const c_char {
    panic::value(std::ptr::null(), || {
        RepalignMetricKind::from_u32(kind).map_or(std::ptr::null(), |k| k.name().as_ptr())
    })
}

/// Any metric of two representations of the same samples (same `rows`; `cols` and dtype
/// may differ), from features. `out` receives the score (ranges under
/// `RepalignMetricKind`).
///
/// - `metric`: see `RepalignMetric` for the fields each kind reads and how they are checked.
/// - `opts`: nullable (defaults). `similarity` applies to the kNN metrics only (the kernel
///   metrics use the linear or RBF kernel of the rows as given; SVCCA standardises
///   columns). `threads` applies to every metric but SVCCA (single-threaded). `isa` forces
///   the kNN engine's instruction set; the kernel metrics and SVCCA run on the best one
///   (same bits), but a forced ISA this CPU lacks is `REPALIGN_STATUS_ISA_UNAVAILABLE` for
///   every metric.
///
/// Errors besides those of the inputs: `REPALIGN_STATUS_ROW_COUNT_MISMATCH`,
/// `REPALIGN_STATUS_INVALID_K`, `REPALIGN_STATUS_TOO_FEW_SAMPLES` (unbiased CKA and unbiased
/// CKNNA need N >= 4, SVCCA N >= 2), `REPALIGN_STATUS_INVALID_PARAMETER`,
/// `REPALIGN_STATUS_INVALID_ENUM`.
///
/// # Safety
/// `a`, `b` valid descriptors (see `RepalignMatrix`); `metric` valid; `opts` NULL or valid;
/// `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn repalign_score(
    a: *const RepalignMatrix,
    b: *const RepalignMatrix,
    metric: *const RepalignMetric,
    opts: *const RepalignKnnOptions,
    out: *mut f64,
) -> RepalignStatus {
    panic::status(|| {
        // SAFETY: the caller's contract for every pointer.
        let (a, b, metric, opts, out) = unsafe {
            (
                ffi::matrix(a, "a")?,
                ffi::matrix(b, "b")?,
                ffi::reference(metric, "metric")?.decode()?,
                options(opts)?,
                ffi::out_ref(out, "out")?,
            )
        };
        *out = metrics::score(a, b, &metric.with_similarity(opts.similarity), &opts.exec)?;
        Ok(())
    })
}

/// A kNN metric (`kind` from `REPALIGN_METRIC_KIND_MUTUAL_KNN` to
/// `REPALIGN_METRIC_KIND_JACCARD_KNN`) from precomputed neighbour lists, as
/// `repalign_mutual_knn_graphs`: `a` holds `rows * a_width` indices, `b` holds
/// `rows * b_width`, row-major, best first; the first `k` of each row are used (`k` from 1
/// to the smaller width). `out` receives the score.
///
/// Errors: `REPALIGN_STATUS_INVALID_ENUM` for a `kind` that is not a kNN metric (the kernel
/// metrics and SVCCA need features), `REPALIGN_STATUS_INVALID_GRAPH` for an index `>= rows`
/// or repeated within a row, `REPALIGN_STATUS_INVALID_K`, `REPALIGN_STATUS_SHAPE_OVERFLOW`.
///
/// # Safety
/// `a` and `b` valid for reading their `rows * width` elements; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn repalign_knn_metric_graphs(
    kind: u32,
    a: *const u32,
    a_width: usize,
    b: *const u32,
    b_width: usize,
    rows: usize,
    k: usize,
    out: *mut f64,
) -> RepalignStatus {
    panic::status(|| {
        let kind = RepalignMetricKind::decode(kind, "kind")?;
        let metric = kind.knn().ok_or_else(|| {
            let name = kind.name().to_str().unwrap_or("?");
            Failure::new(
                RepalignStatus::InvalidEnum,
                format!("`kind` is {} ({name}), not a kNN metric: it needs features (repalign_score)", kind as u32),
            )
        })?;
        let (a_len, b_len) = (product(rows, a_width, "rows * a_width")?, product(rows, b_width, "rows * b_width")?);
        // SAFETY: the caller's contract for every pointer.
        let (a, b, out) =
            unsafe { (ffi::slice(a, a_len, "a")?, ffi::slice(b, b_len, "b")?, ffi::out_ref(out, "out")?) };
        *out =
            metrics::knn_metric_graphs(metric, GraphRef::new(a, rows, a_width)?, GraphRef::new(b, rows, b_width)?, k)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_named_as_the_core() {
        for &kind in RepalignMetricKind::ALL {
            let name = kind.name().to_str().unwrap();
            if let Some(knn) = kind.knn() {
                assert_eq!(knn.name(), name);
            }
            // The defaults decode to the metric the reference's `compute_score` runs by name.
            let decoded = RepalignMetric::default_for(kind as u32).decode().unwrap();
            assert_eq!(Some(decoded), Metric::from_name(name, 10), "{name}");
        }
        assert_eq!(RepalignMetricKind::from_u32(14), None);
    }

    #[test]
    fn decode_checks_the_fields_each_kind_reads() {
        let cka = RepalignMetric::default_for(RepalignMetricKind::Cka as u32);
        let rbf = RepalignMetric { kernel: RepalignKernel::Rbf as u32, sigma: 0.5, ..cka };
        assert_eq!(rbf.decode().unwrap(), Metric::Cka { kernel: Kernel::Rbf { sigma: 0.5 }, unbiased: false });
        for sigma in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let bad = RepalignMetric { sigma, ..rbf };
            assert_eq!(bad.decode().unwrap_err().status, RepalignStatus::InvalidParameter, "{sigma}");
        }
        // sigma is read only by the RBF kernel; the kernel only by CKA.
        assert!(RepalignMetric { sigma: f64::NAN, ..cka }.decode().is_ok());
        assert_eq!(RepalignMetric { kernel: 2, ..cka }.decode().unwrap_err().status, RepalignStatus::InvalidEnum);
        let mutual = RepalignMetric { kernel: 2, unbiased: 7, ..RepalignMetric::default_for(0) };
        assert_eq!(
            mutual.decode().unwrap(),
            Metric::Knn { metric: KnnMetric::Mutual, k: 10, similarity: Similarity::InnerProduct }
        );
        let cknna =
            RepalignMetric { unbiased: 0, k: 3, ..RepalignMetric::default_for(RepalignMetricKind::Cknna as u32) };
        assert_eq!(cknna.decode().unwrap(), Metric::Cknna { topk: 3, unbiased: false });
        let bad = RepalignMetric { unbiased: 2, ..cknna };
        assert_eq!(bad.decode().unwrap_err().status, RepalignStatus::InvalidParameter);
        let bad = RepalignMetric::default_for(14);
        assert_eq!(bad.decode().unwrap_err().status, RepalignStatus::InvalidEnum);
        let rsa = RepalignMetric { rdm: 1, corr: 1, ..RepalignMetric::default_for(RepalignMetricKind::Rsa as u32) };
        assert_eq!(rsa.decode().unwrap(), Metric::Rsa { rdm: Rdm::Cosine, corr: Corr::Pearson });
        for bad in [RepalignMetric { rdm: 2, ..rsa }, RepalignMetric { corr: 2, ..rsa }] {
            assert_eq!(bad.decode().unwrap_err().status, RepalignStatus::InvalidEnum);
        }
        // rdm and corr are read by RSA only.
        let cca = RepalignMetric { rdm: 7, corr: 7, ..RepalignMetric::default_for(RepalignMetricKind::Cca as u32) };
        assert_eq!(cca.decode().unwrap(), Metric::Cca);
    }
}
