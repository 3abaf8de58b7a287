//! `repalign_metric_default`, `repalign_metric_kind_name`, `repalign_score` and
//! `repalign_knn_metric_graphs` against direct calls of the core, and their error paths.

use std::ptr;

use repalign_core::knn::{self, GraphRef, Similarity};
use repalign_core::metrics::{self, Corr, Kernel, KnnMetric, Rdm};
use repalign_core::{Exec, Matrix, Metric};

use super::{desc, last_error};
use crate::ffi::c_str;
use crate::metric::{
    RepalignCorr, RepalignKernel, RepalignMetric, RepalignMetricKind as Kind, RepalignRdm, repalign_knn_metric_graphs,
    repalign_metric_default, repalign_metric_kind_name, repalign_score,
};
use crate::panic::test_hook;
use crate::{RepalignKnnOptions, RepalignMatrix, RepalignStatus};

/// Deterministic values in [-1, 1) without structure (splitmix64); distinct per `seed`.
pub(super) fn values(len: usize, seed: u64) -> Vec<f32> {
    (0..len as u64)
        .map(|i| {
            let mut z = (seed << 32 | i).wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

const N: usize = 9;
const DA: usize = 5;
const DB: usize = 4;

/// The kNN metric kinds and the core's metric each stands for.
const KNN_KINDS: [(Kind, KnnMetric); 5] = [
    (Kind::MutualKnn, KnnMetric::Mutual),
    (Kind::CycleKnn, KnnMetric::Cycle),
    (Kind::LcsKnn, KnnMetric::Lcs),
    (Kind::EditDistanceKnn, KnnMetric::EditDistance),
    (Kind::JaccardKnn, KnnMetric::Jaccard),
];

fn metric(kind: Kind) -> RepalignMetric {
    RepalignMetric { k: 3, cca_dim: 3, ..repalign_metric_default(kind as u32) }
}

/// `repalign_score` with fresh output.
fn score(
    a: &RepalignMatrix,
    b: &RepalignMatrix,
    m: &RepalignMetric,
    opts: Option<&RepalignKnnOptions>,
) -> (RepalignStatus, f64) {
    let mut out = f64::NAN;
    let opts = opts.map_or(ptr::null(), |o| o as *const _);
    // SAFETY: valid descriptors, metric and out pointer; opts NULL or valid.
    let status = unsafe { repalign_score(a, b, m, opts, &mut out) };
    (status, out)
}

#[test]
fn defaults_and_names() {
    for kind in 0..14u32 {
        let m = repalign_metric_default(kind);
        assert_eq!(m, RepalignMetric { kind, k: 10, kernel: 0, sigma: 1.0, unbiased: 1, cca_dim: 10, rdm: 0, corr: 0 });
    }
    // An invalid kind is stored as given and reported when used.
    assert_eq!(repalign_metric_default(99).kind, 99);
    let names: Vec<_> = (0..14).map(|k| c_str(repalign_metric_kind_name(k)).unwrap()).collect();
    assert_eq!(
        names,
        [
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
            "rv_coefficient"
        ]
    );
    assert!(repalign_metric_kind_name(14).is_null());
    assert!(repalign_metric_kind_name(u32::MAX).is_null());
}

#[test]
fn every_metric_matches_the_core() {
    let (va, vb) = (values(N * DA, 1), values(N * DB, 2));
    let (a, b) = (desc(&va, N, DA), desc(&vb, N, DB));
    let (ma, mb) = (Matrix::new(&va, N, DA).unwrap(), Matrix::new(&vb, N, DB).unwrap());
    let cosine = RepalignKnnOptions { similarity: 1, threads: 2, isa: 0 };
    let two_threads = Exec::new().with_threads(2);
    let core = |m: Metric, exec: &Exec<'_>| metrics::score(ma, mb, &m, exec);
    for (kind, knn) in KNN_KINDS {
        let m = Metric::Knn { metric: knn, k: 3, similarity: Similarity::InnerProduct };
        let (status, got) = score(&a, &b, &metric(kind), None);
        assert_eq!(status, RepalignStatus::Ok, "{kind:?}: {}", last_error());
        assert_eq!(got, core(m, &Exec::default()).unwrap(), "{kind:?}");
        let (status, got) = score(&a, &b, &metric(kind), Some(&cosine));
        assert_eq!(status, RepalignStatus::Ok);
        assert_eq!(got, core(m.with_similarity(Similarity::Cosine), &two_threads).unwrap(), "{kind:?} cosine");
    }
    let rbf = |kind| RepalignMetric { kernel: RepalignKernel::Rbf as u32, sigma: 0.7, ..metric(kind) };
    let cka = |kernel, unbiased| core(Metric::Cka { kernel, unbiased }, &Exec::default());
    let cknna = |unbiased| core(Metric::Cknna { topk: 3, unbiased }, &Exec::default());
    let kernels = [
        (metric(Kind::Cka), cka(Kernel::Linear, false)),
        (metric(Kind::UnbiasedCka), cka(Kernel::Linear, true)),
        (rbf(Kind::Cka), cka(Kernel::Rbf { sigma: 0.7 }, false)),
        (rbf(Kind::UnbiasedCka), cka(Kernel::Rbf { sigma: 0.7 }, true)),
        (metric(Kind::Cknna), cknna(true)),
        (RepalignMetric { unbiased: 0, ..metric(Kind::Cknna) }, cknna(false)),
        (metric(Kind::Svcca), core(Metric::Svcca { cca_dim: 3 }, &Exec::default())),
        (metric(Kind::Rsa), core(Metric::Rsa { rdm: Rdm::Euclidean, corr: Corr::Spearman }, &Exec::default())),
        (
            RepalignMetric { rdm: RepalignRdm::Cosine as u32, corr: RepalignCorr::Pearson as u32, ..metric(Kind::Rsa) },
            core(Metric::Rsa { rdm: Rdm::Cosine, corr: Corr::Pearson }, &Exec::default()),
        ),
        (metric(Kind::Procrustes), core(Metric::Procrustes, &Exec::default())),
        (metric(Kind::Cca), core(Metric::Cca, &Exec::default())),
        (metric(Kind::Pwcca), core(Metric::Pwcca, &Exec::default())),
        (metric(Kind::RvCoefficient), core(Metric::RvCoefficient, &Exec::default())),
    ];
    for (m, expected) in kernels {
        let (status, got) = score(&a, &b, &m, Some(&cosine));
        assert_eq!(status, RepalignStatus::Ok, "{m:?}: {}", last_error());
        assert_eq!(got, expected.unwrap(), "{m:?}");
    }
    // Identical inputs: every normalised metric is 1 (LCS is k).
    for kind in [Kind::MutualKnn, Kind::Cka, Kind::Svcca, Kind::Rsa, Kind::Procrustes, Kind::RvCoefficient] {
        let (status, got) = score(&a, &a, &metric(kind), None);
        assert_eq!(status, RepalignStatus::Ok);
        assert!((got - 1.0).abs() < 1e-5, "{kind:?}: {got}");
    }
    assert_eq!(score(&a, &a, &metric(Kind::LcsKnn), None).1, 3.0);
}

#[test]
fn half_precision_features_score_like_f32() {
    let v: Vec<f32> = values(N * DA, 3).iter().map(|x| (x * 8.0).round() / 8.0).collect();
    let bits: Vec<u16> = v.iter().map(|&x| repalign_core::f16::from_f32(x).to_bits()).collect();
    let (f32m, f16m) = (desc(&v, N, DA), RepalignMatrix { data: bits.as_ptr().cast(), dtype: 1, ..desc(&v, N, DA) });
    let vb = values(N * DB, 4);
    let b = desc(&vb, N, DB);
    for kind in [Kind::JaccardKnn, Kind::UnbiasedCka, Kind::Cknna, Kind::Svcca] {
        assert_eq!(score(&f16m, &b, &metric(kind), None), score(&f32m, &b, &metric(kind), None), "{kind:?}");
    }
}

#[test]
fn descriptor_fields_are_checked() {
    let (va, vb) = (values(N * DA, 1), values(N * DB, 2));
    let (a, b) = (desc(&va, N, DA), desc(&vb, N, DB));
    let cases: [(RepalignMetric, RepalignStatus, &str); 14] = [
        (RepalignMetric { kind: 14, ..metric(Kind::Cka) }, RepalignStatus::InvalidEnum, "metric->kind"),
        (RepalignMetric { kernel: 2, ..metric(Kind::Cka) }, RepalignStatus::InvalidEnum, "metric->kernel"),
        (RepalignMetric { kernel: 1, sigma: 0.0, ..metric(Kind::Cka) }, RepalignStatus::InvalidParameter, "sigma"),
        (
            RepalignMetric { kernel: 1, sigma: -2.0, ..metric(Kind::UnbiasedCka) },
            RepalignStatus::InvalidParameter,
            "sigma",
        ),
        (RepalignMetric { kernel: 1, sigma: f64::NAN, ..metric(Kind::Cka) }, RepalignStatus::InvalidParameter, "sigma"),
        (
            RepalignMetric { kernel: 1, sigma: f64::INFINITY, ..metric(Kind::Cka) },
            RepalignStatus::InvalidParameter,
            "sigma",
        ),
        (RepalignMetric { k: 0, ..metric(Kind::MutualKnn) }, RepalignStatus::InvalidK, "k = 0"),
        (RepalignMetric { k: N, ..metric(Kind::CycleKnn) }, RepalignStatus::InvalidK, "k = 9"),
        (RepalignMetric { k: 1, ..metric(Kind::Cknna) }, RepalignStatus::InvalidK, "k = 1"),
        (RepalignMetric { k: N + 1, ..metric(Kind::Cknna) }, RepalignStatus::InvalidK, "k = 10"),
        (RepalignMetric { unbiased: 2, ..metric(Kind::Cknna) }, RepalignStatus::InvalidParameter, "metric->unbiased"),
        (RepalignMetric { cca_dim: 0, ..metric(Kind::Svcca) }, RepalignStatus::InvalidParameter, "cca_dim"),
        // min(N, D_B) = 4.
        (RepalignMetric { cca_dim: DB + 1, ..metric(Kind::Svcca) }, RepalignStatus::InvalidParameter, "cca_dim"),
        (RepalignMetric { cca_dim: usize::MAX, ..metric(Kind::Svcca) }, RepalignStatus::InvalidParameter, "cca_dim"),
    ];
    for (m, status, detail) in cases {
        assert_eq!(score(&a, &b, &m, None).0, status, "{m:?}");
        assert!(last_error().contains(detail), "{m:?}: {}", last_error());
    }
    // Fields a kind does not read are ignored.
    let mutual = RepalignMetric { kernel: 77, sigma: -1.0, unbiased: 5, cca_dim: 0, ..metric(Kind::MutualKnn) };
    assert_eq!(score(&a, &b, &mutual, None).0, RepalignStatus::Ok);
    // The largest valid k and cca_dim.
    assert_eq!(score(&a, &b, &RepalignMetric { k: N - 1, ..metric(Kind::LcsKnn) }, None).0, RepalignStatus::Ok);
    assert_eq!(score(&a, &b, &RepalignMetric { k: N, ..metric(Kind::Cknna) }, None).0, RepalignStatus::Ok);
    assert_eq!(score(&a, &b, &RepalignMetric { cca_dim: DB, ..metric(Kind::Svcca) }, None).0, RepalignStatus::Ok);
}

#[test]
fn input_errors() {
    let (va, vb) = (values(N * DA, 1), values(N * DB, 2));
    let (a, b) = (desc(&va, N, DA), desc(&vb, N, DB));
    let m = metric(Kind::Cka);
    let mut out = 0.0;
    let check_null = |status, name: &str| {
        assert_eq!(status, RepalignStatus::NullPointer, "{name}");
        assert!(last_error().contains(name), "{}", last_error());
    };
    // SAFETY: NULL where the API must reject it; other pointers valid.
    unsafe {
        check_null(repalign_score(ptr::null(), &b, &m, ptr::null(), &mut out), "`a`");
        check_null(repalign_score(&a, ptr::null(), &m, ptr::null(), &mut out), "`b`");
        check_null(repalign_score(&a, &b, ptr::null(), ptr::null(), &mut out), "`metric`");
        check_null(repalign_score(&a, &b, &m, ptr::null(), ptr::null_mut()), "`out`");
    }
    let short = desc(&vb[..8 * DB], 8, DB);
    for kind in [Kind::MutualKnn, Kind::Cka, Kind::Cknna, Kind::Svcca] {
        assert_eq!(score(&a, &short, &metric(kind), None).0, RepalignStatus::RowCountMismatch, "{kind:?}");
    }
    // Unbiased estimators need N >= 4, SVCCA N >= 2.
    let (three, two) = (desc(&va[..3 * DA], 3, DA), desc(&va[..2 * DA], 2, DA));
    assert_eq!(score(&three, &three, &metric(Kind::UnbiasedCka), None).0, RepalignStatus::TooFewSamples);
    assert!(last_error().contains("at least 4"), "{}", last_error());
    assert_eq!(score(&three, &three, &metric(Kind::Cka), None).0, RepalignStatus::Ok);
    let cknna = RepalignMetric { k: 2, ..metric(Kind::Cknna) };
    assert_eq!(score(&three, &three, &cknna, None).0, RepalignStatus::TooFewSamples);
    assert_eq!(score(&three, &three, &RepalignMetric { unbiased: 0, ..cknna }, None).0, RepalignStatus::Ok);
    let one = desc(&va[..DA], 1, DA);
    assert_eq!(
        score(&one, &one, &RepalignMetric { cca_dim: 1, ..metric(Kind::Svcca) }, None).0,
        RepalignStatus::TooFewSamples
    );
    assert_eq!(score(&two, &two, &RepalignMetric { cca_dim: 1, ..metric(Kind::Svcca) }, None).0, RepalignStatus::Ok);
    // A NaN is found by every metric.
    let mut nan = va.clone();
    nan[4 * DA + 2] = f32::NAN;
    for kind in [Kind::EditDistanceKnn, Kind::UnbiasedCka, Kind::Cknna, Kind::Svcca] {
        assert_eq!(score(&desc(&nan, N, DA), &b, &metric(kind), None).0, RepalignStatus::NonFinite, "{kind:?}");
        assert!(last_error().contains("row 4"), "{}", last_error());
    }
    let bad_dtype = RepalignMatrix { dtype: 5, ..a };
    assert_eq!(score(&bad_dtype, &b, &metric(Kind::Cka), None).0, RepalignStatus::InvalidDtype);
    let bad_opts = RepalignKnnOptions { similarity: 2, ..Default::default() };
    assert_eq!(score(&a, &b, &metric(Kind::Svcca), Some(&bad_opts)).0, RepalignStatus::InvalidEnum);
    // A forced ISA this CPU lacks is an error for every metric, not a silent fallback.
    if let Some(missing) = repalign_core::Isa::ALL.into_iter().find(|i| !i.is_available()) {
        let opts = RepalignKnnOptions { isa: crate::types::encode_isa(missing) as u32, ..Default::default() };
        for kind in [Kind::MutualKnn, Kind::Cka, Kind::Cknna, Kind::Svcca] {
            assert_eq!(score(&a, &b, &metric(kind), Some(&opts)).0, RepalignStatus::IsaUnavailable, "{kind:?}");
        }
    }
}

#[test]
fn knn_metrics_from_graphs() {
    let (va, vb) = (values(N * DA, 5), values(N * DB, 6));
    let (ma, mb) = (Matrix::new(&va, N, DA).unwrap(), Matrix::new(&vb, N, DB).unwrap());
    let graph = |m, k| knn::graph(m, k, Similarity::InnerProduct, &Exec::default()).unwrap();
    let (ga, gb) = (graph(ma, 4), graph(mb, 5));
    let (gi, hi) = (ga.indices(), gb.indices());
    let mut out = f64::NAN;
    for (kind, knn) in KNN_KINDS {
        // SAFETY: graphs of N * 4 and N * 5 indices; valid out pointer.
        let status = unsafe { repalign_knn_metric_graphs(kind as u32, gi.as_ptr(), 4, hi.as_ptr(), 5, N, 3, &mut out) };
        assert_eq!(status, RepalignStatus::Ok, "{}", last_error());
        let expected =
            metrics::knn_metric_graphs(knn, GraphRef::new(gi, N, 4).unwrap(), GraphRef::new(hi, N, 5).unwrap(), 3);
        assert_eq!(out, expected.unwrap(), "{kind:?}");
        // The same as from features at the same k.
        let (a, b) = (desc(&va, N, DA), desc(&vb, N, DB));
        assert_eq!(score(&a, &b, &metric(kind), None), (RepalignStatus::Ok, out), "{kind:?}");
    }
    // SAFETY: valid graphs and out pointer, or NULL / bad sizes where the API must reject them.
    unsafe {
        let status = repalign_knn_metric_graphs(Kind::Cka as u32, gi.as_ptr(), 4, hi.as_ptr(), 5, N, 3, &mut out);
        assert_eq!(status, RepalignStatus::InvalidEnum);
        assert!(last_error().contains("(cka), not a kNN metric"), "{}", last_error());
        let status = repalign_knn_metric_graphs(42, gi.as_ptr(), 4, hi.as_ptr(), 5, N, 3, &mut out);
        assert_eq!(status, RepalignStatus::InvalidEnum);
        let status = repalign_knn_metric_graphs(1, gi.as_ptr(), 4, hi.as_ptr(), 5, N, 5, &mut out);
        assert_eq!(status, RepalignStatus::InvalidK);
        let status = repalign_knn_metric_graphs(1, gi.as_ptr(), 4, hi.as_ptr(), 5, N, 0, &mut out);
        assert_eq!(status, RepalignStatus::InvalidK);
        let broken = [N as u32; N * 4];
        let status = repalign_knn_metric_graphs(2, broken.as_ptr(), 4, hi.as_ptr(), 5, N, 3, &mut out);
        assert_eq!(status, RepalignStatus::InvalidGraph);
        let status = repalign_knn_metric_graphs(3, gi.as_ptr(), usize::MAX, hi.as_ptr(), 5, N, 3, &mut out);
        assert_eq!(status, RepalignStatus::ShapeOverflow);
        let status = repalign_knn_metric_graphs(4, ptr::null(), 4, hi.as_ptr(), 5, N, 3, &mut out);
        assert_eq!(status, RepalignStatus::NullPointer);
        let status = repalign_knn_metric_graphs(4, gi.as_ptr(), 4, hi.as_ptr(), 5, N, 3, ptr::null_mut());
        assert_eq!(status, RepalignStatus::NullPointer);
    }
}

#[test]
fn panics_do_not_cross_the_boundary() {
    let v = values(N * DA, 1);
    let (a, m) = (desc(&v, N, DA), metric(Kind::Cka));
    // Armed last: any guarded call (even repalign_metric_default) takes the panic.
    test_hook::arm();
    assert_eq!(score(&a, &a, &m, None).0, RepalignStatus::Panic);
    test_hook::arm();
    assert!(repalign_metric_kind_name(0).is_null());
    test_hook::arm();
    assert_eq!(repalign_metric_default(7), repalign_metric_default(7));
    assert_eq!(score(&a, &a, &metric(Kind::Cka), None).0, RepalignStatus::Ok);
}
