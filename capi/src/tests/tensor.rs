//! `repalign_clamp_threshold`, `repalign_prepare` and `repalign_sweep` against direct
//! calls of the core, the tensor descriptor's checks, and their error paths.

use std::ptr;

use repalign_core::prepare::{self, Layers, Prepare};
use repalign_core::sweep;
use repalign_core::{AnyMatrix, Exec, Isa, Metric};

use super::last_error;
use super::metric::values;
use crate::metric::{RepalignMetric, RepalignMetricKind as Kind, repalign_metric_default, repalign_score};
use crate::panic::test_hook;
use crate::tensor::{
    REPALIGN_SWEEP_Q, RepalignPrepare, RepalignTensor3, repalign_clamp_threshold, repalign_prepare, repalign_sweep,
};
use crate::types::encode_isa;
use crate::{RepalignDtype, RepalignKnnOptions, RepalignMatrix, RepalignStatus};

fn tensor3(data: &[f32], samples: usize, layers: usize, dim: usize) -> RepalignTensor3 {
    RepalignTensor3 {
        data: data.as_ptr().cast(),
        dtype: RepalignDtype::F32 as u32,
        samples,
        layers,
        dim,
        len: data.len(),
    }
}

/// `repalign_clamp_threshold` with default (NULL) options.
fn threshold(x: &RepalignTensor3, q: f64, per_sample: u32) -> (RepalignStatus, f32) {
    threshold_opts(x, q, per_sample, None)
}

fn threshold_opts(
    x: &RepalignTensor3,
    q: f64,
    per_sample: u32,
    opts: Option<&RepalignKnnOptions>,
) -> (RepalignStatus, f32) {
    let mut out = f32::NAN;
    let opts = opts.map_or(ptr::null(), |o| o as *const _);
    // SAFETY: valid descriptor and out pointer; opts NULL or valid.
    let status = unsafe { repalign_clamp_threshold(x, q, per_sample, opts, &mut out) };
    (status, out)
}

/// `repalign_prepare` with default (NULL) options into a buffer of exactly the tensor's size.
fn prepared(x: &RepalignTensor3, mode: u32, q: f64) -> (RepalignStatus, Vec<f32>, f32) {
    prepared_opts(x, mode, q, None)
}

fn prepared_opts(
    x: &RepalignTensor3,
    mode: u32,
    q: f64,
    opts: Option<&RepalignKnnOptions>,
) -> (RepalignStatus, Vec<f32>, f32) {
    let len = x.samples.checked_mul(x.layers).and_then(|n| n.checked_mul(x.dim)).filter(|&n| n <= 1 << 16).unwrap_or(0);
    let (mut out, mut t) = (vec![f32::NAN; len], f32::NAN);
    let opts = opts.map_or(ptr::null(), |o| o as *const _);
    // SAFETY: valid descriptor and buffers of the lengths passed; opts NULL or valid.
    let status = unsafe { repalign_prepare(x, mode, q, opts, out.as_mut_ptr(), out.len(), &mut t) };
    (status, out, t)
}

/// Everything `repalign_sweep` writes.
#[derive(Debug, PartialEq)]
struct Sweep {
    status: RepalignStatus,
    scores: Vec<f64>,
    best: f64,
    best_i: usize,
    best_j: usize,
    has_best: bool,
}

/// `repalign_sweep` at the paper's q.
fn sweep_c(
    a: &RepalignTensor3,
    b: &RepalignTensor3,
    m: &RepalignMetric,
    mode: u32,
    opts: Option<&RepalignKnnOptions>,
) -> Sweep {
    sweep_q(a, b, m, (mode, REPALIGN_SWEEP_Q), opts)
}

fn sweep_q(
    a: &RepalignTensor3,
    b: &RepalignTensor3,
    m: &RepalignMetric,
    (mode, q): (u32, f64),
    opts: Option<&RepalignKnnOptions>,
) -> Sweep {
    let mut r = Sweep {
        status: RepalignStatus::Unknown,
        scores: vec![f64::NAN; a.layers * b.layers],
        best: f64::NAN,
        best_i: usize::MAX,
        best_j: usize::MAX,
        has_best: true,
    };
    let opts = opts.map_or(ptr::null(), |o| o as *const _);
    // SAFETY: valid descriptors, metric and outputs of the lengths passed.
    r.status = unsafe {
        repalign_sweep(
            a,
            b,
            m,
            mode,
            q,
            opts,
            r.scores.as_mut_ptr(),
            r.scores.len(),
            &mut r.best,
            &mut r.best_i,
            &mut r.best_j,
            &mut r.has_best,
        )
    };
    r
}

const S: usize = 8;

#[test]
fn thresholds_match_the_core() {
    let v = values(S * 3 * 4, 11);
    let x = tensor3(&v, S, 3, 4);
    let layers = Layers::new(&v, S, 3, 4).unwrap();
    for q in [0.95, 0.5, 0.01, 1.0] {
        let exact = prepare::threshold_exact(&layers, q, &Exec::default()).unwrap();
        assert_eq!(threshold(&x, q, 0), (RepalignStatus::Ok, exact), "{q}");
        assert_eq!(threshold(&x, q, 1), (RepalignStatus::Ok, prepare::threshold_per_sample(&layers, q).unwrap()));
    }
    assert_eq!(threshold(&x, 1.0, 0).1, f32::INFINITY);
    for q in [0.0, -0.5, 1.5, f64::NAN] {
        assert_eq!(threshold(&x, q, 0).0, RepalignStatus::InvalidParameter, "{q}");
        assert!(last_error().contains("q must be in (0, 1]"), "{}", last_error());
        assert_eq!(threshold(&x, q, 1).0, RepalignStatus::InvalidParameter, "{q}");
    }
    assert_eq!(threshold(&x, 0.9, 2).0, RepalignStatus::InvalidParameter);
    assert!(last_error().contains("`per_sample` is 2"), "{}", last_error());
    // SAFETY: NULL where the API must reject it.
    unsafe {
        assert_eq!(repalign_clamp_threshold(&x, 0.9, 0, ptr::null(), ptr::null_mut()), RepalignStatus::NullPointer);
        let mut out = 0.0;
        assert_eq!(repalign_clamp_threshold(ptr::null(), 0.9, 0, ptr::null(), &mut out), RepalignStatus::NullPointer);
        assert!(last_error().contains("`x`"), "{}", last_error());
    }
}

#[test]
fn prepare_matches_the_core() {
    let v: Vec<f32> = values(S * 2 * 5, 12).iter().map(|x| (x * 16.0).round() / 4.0).collect();
    let x = tensor3(&v, S, 2, 5);
    let layers = Layers::new(&v, S, 2, 5).unwrap();
    let bits: Vec<u16> = v.iter().map(|&x| repalign_core::bf16::from_f32(x).to_bits()).collect();
    let xb = RepalignTensor3 { data: bits.as_ptr().cast(), dtype: RepalignDtype::Bf16 as u32, ..x };
    for (mode, core) in [
        (RepalignPrepare::None, Prepare::None),
        (RepalignPrepare::Normalize, Prepare::Normalize),
        (RepalignPrepare::Paper, Prepare::Paper),
        (RepalignPrepare::PaperPerSample, Prepare::PaperPerSample),
    ] {
        let (values, t) = prepare::prepare(&layers, core, 0.8, &Exec::default()).unwrap();
        let got = prepared(&x, mode as u32, 0.8);
        assert_eq!(got, (RepalignStatus::Ok, values, t), "{mode:?}");
        // bf16 holds these values exactly: the same result.
        assert_eq!(prepared(&xb, mode as u32, 0.8), got, "{mode:?} bf16");
    }
    assert_eq!(prepared(&x, RepalignPrepare::None as u32, 0.8).1, v);
    // q is read by the clamping modes only.
    assert_eq!(prepared(&x, RepalignPrepare::Normalize as u32, 0.0).0, RepalignStatus::Ok);
    assert_eq!(prepared(&x, RepalignPrepare::Paper as u32, 0.0).0, RepalignStatus::InvalidParameter);
    assert_eq!(prepared(&x, RepalignPrepare::PaperPerSample as u32, 2.0).0, RepalignStatus::InvalidParameter);
    assert_eq!(prepared(&x, 4, 0.9).0, RepalignStatus::InvalidEnum);
    assert!(last_error().contains("`mode` is 4, not a RepalignPrepare value (0 to 3)"), "{}", last_error());

    let mut out = vec![0.0f32; v.len()];
    // SAFETY: `out` holds the lengths passed; NULL where allowed or rejected.
    unsafe {
        let status = repalign_prepare(&x, 2, 0.9, ptr::null(), out.as_mut_ptr(), v.len(), ptr::null_mut());
        assert_eq!(status, RepalignStatus::Ok, "threshold is nullable");
        let status = repalign_prepare(&x, 2, 0.9, ptr::null(), out.as_mut_ptr(), v.len() - 1, ptr::null_mut());
        assert_eq!(status, RepalignStatus::OutputTooShort);
        assert!(last_error().contains(&format!("{} are needed", v.len())), "{}", last_error());
        let status = repalign_prepare(&x, 2, 0.9, ptr::null(), ptr::null_mut(), v.len(), ptr::null_mut());
        assert_eq!(status, RepalignStatus::NullPointer);
        assert!(last_error().contains("`out`"), "{}", last_error());
    }
}

#[test]
fn prepare_and_threshold_honour_opts() {
    let v = values(S * 3 * 4, 16);
    let x = tensor3(&v, S, 3, 4);
    let opts = |threads, isa: Option<Isa>| RepalignKnnOptions {
        threads,
        isa: isa.map_or(0, |i| encode_isa(i) as u32),
        ..Default::default()
    };
    // Threads only change speed: 1 and 3 workers (and a forced, available ISA, and the
    // unused similarity) give the NULL options' bits.
    let variants = [
        opts(1, None),
        opts(3, None),
        opts(3, Some(Isa::Scalar)),
        RepalignKnnOptions { similarity: 1, ..opts(2, None) },
    ];
    for mode in 0..4 {
        let reference = prepared(&x, mode, 0.9);
        assert_eq!(reference.0, RepalignStatus::Ok, "mode {mode}: {}", last_error());
        for o in &variants {
            assert_eq!(prepared_opts(&x, mode, 0.9, Some(o)), reference, "mode {mode} {o:?}");
        }
    }
    for per_sample in [0, 1] {
        let reference = threshold(&x, 0.7, per_sample);
        assert_eq!(reference.0, RepalignStatus::Ok);
        for o in &variants {
            assert_eq!(threshold_opts(&x, 0.7, per_sample, Some(o)), reference, "{per_sample} {o:?}");
        }
    }
    // The integers are checked, the similarity too although unused.
    for bad in [
        RepalignKnnOptions { isa: 99, ..Default::default() },
        RepalignKnnOptions { similarity: 2, ..Default::default() },
    ] {
        assert_eq!(prepared_opts(&x, 2, 0.9, Some(&bad)).0, RepalignStatus::InvalidEnum, "{bad:?}");
        assert_eq!(threshold_opts(&x, 0.9, 0, Some(&bad)).0, RepalignStatus::InvalidEnum, "{bad:?}");
    }
    // A forced ISA this CPU lacks (NEON on x86-64, x86-64-v3 on AArch64) is an error, for
    // every mode and both thresholds, not a silent fallback.
    let missing = Isa::ALL.into_iter().find(|i| !i.is_available()).expect("no CPU has every ISA");
    let unavailable = opts(1, Some(missing));
    for mode in 0..4 {
        assert_eq!(prepared_opts(&x, mode, 0.9, Some(&unavailable)).0, RepalignStatus::IsaUnavailable, "mode {mode}");
        assert!(last_error().contains(missing.name()), "{}", last_error());
    }
    for per_sample in [0, 1] {
        assert_eq!(threshold_opts(&x, 0.9, per_sample, Some(&unavailable)).0, RepalignStatus::IsaUnavailable);
    }
}

#[test]
fn tensor_descriptor_is_checked() {
    let v = values(S * 2 * 3, 13);
    let x = tensor3(&v, S, 2, 3);
    let cases = [
        (RepalignTensor3 { dtype: 3, ..x }, RepalignStatus::InvalidDtype, "`x->dtype` is 3"),
        (RepalignTensor3 { samples: 0, ..x }, RepalignStatus::EmptyMatrix, "0 samples"),
        (RepalignTensor3 { layers: 0, ..x }, RepalignStatus::EmptyMatrix, "0 layers"),
        (RepalignTensor3 { dim: 0, ..x }, RepalignStatus::ZeroDimension, "dim = 0"),
        (RepalignTensor3 { samples: usize::MAX / 2, layers: 3, ..x }, RepalignStatus::ShapeOverflow, "overflows"),
        (RepalignTensor3 { layers: usize::MAX, dim: usize::MAX, ..x }, RepalignStatus::ShapeOverflow, "overflows"),
        (RepalignTensor3 { len: v.len() - 1, ..x }, RepalignStatus::BufferTooShort, "needs 48"),
        (RepalignTensor3 { len: usize::MAX, ..x }, RepalignStatus::ShapeOverflow, "address space"),
        (RepalignTensor3 { data: ptr::null(), ..x }, RepalignStatus::NullPointer, "`x->data`"),
        (
            RepalignTensor3 { data: v.as_ptr().cast::<u8>().wrapping_add(2).cast(), ..x },
            RepalignStatus::Misaligned,
            "x->data",
        ),
    ];
    for (t, status, detail) in cases {
        assert_eq!(threshold(&t, 0.9, 0).0, status, "{t:?}");
        assert!(last_error().contains(detail), "{t:?}: {}", last_error());
        assert_eq!(prepared(&t, 0, 0.9).0, status, "{t:?}");
    }
    // A zero-size tensor may have NULL data: it is empty, not a NULL pointer.
    let empty = RepalignTensor3 { data: ptr::null(), samples: 0, len: 0, ..x };
    assert_eq!(threshold(&empty, 0.9, 0).0, RepalignStatus::EmptyMatrix);
    // A longer buffer than needed is fine.
    assert_eq!(threshold(&RepalignTensor3 { samples: S - 1, ..x }, 0.9, 1).0, RepalignStatus::Ok);
}

#[test]
fn non_finite_values_name_sample_layer_and_feature() {
    let mut v = values(S * 3 * 4, 14);
    v[(5 * 3 + 2) * 4 + 1] = f32::INFINITY; // sample 5, layer 2, feature 1
    let x = tensor3(&v, S, 3, 4);
    let expected = "non-finite value (NaN or infinity) in `x` at sample 5, layer 2, feature 1";
    for per_sample in [0, 1] {
        assert_eq!(threshold(&x, 0.9, per_sample).0, RepalignStatus::NonFinite);
        assert_eq!(last_error(), expected);
    }
    for mode in 0..4 {
        assert_eq!(prepared(&x, mode, 0.9).0, RepalignStatus::NonFinite, "mode {mode}");
        assert_eq!(last_error(), expected);
    }
    let good = values(S * 2 * 4, 15);
    let a = tensor3(&good, S, 2, 4);
    let m = RepalignMetric { k: 3, ..repalign_metric_default(Kind::MutualKnn as u32) };
    for mode in 0..4 {
        assert_eq!(sweep_c(&a, &x, &m, mode, None).status, RepalignStatus::NonFinite, "mode {mode}");
        assert_eq!(last_error(), expected.replace("`x`", "`b`"));
    }
}

/// The core's sweep of two f32 tensors prepared with `mode` at q = 0.95.
fn core_sweep(
    a: (&[f32], usize, usize),
    b: (&[f32], usize, usize),
    (mode, q): (Prepare, f64),
    metric: Metric,
) -> sweep::SweepResult {
    let exec = Exec::default();
    let prep = |(v, l, d): (&[f32], usize, usize)| {
        prepare::prepare(&Layers::new(v, S, l, d).unwrap(), mode, q, &exec).unwrap().0
    };
    let (pa, pb) = (prep(a), prep(b));
    let (la, lb) = (Layers::new(&pa, S, a.1, a.2).unwrap(), Layers::new(&pb, S, b.1, b.2).unwrap());
    let va: Vec<AnyMatrix> = (0..a.1).map(|l| la.layer(l).into()).collect();
    let vb: Vec<AnyMatrix> = (0..b.1).map(|l| lb.layer(l).into()).collect();
    sweep::sweep(&va, &vb, &metric, &exec).unwrap()
}

/// Layer `l` of an f32 tensor as a strided matrix descriptor.
fn layer(t: &RepalignTensor3, l: usize) -> RepalignMatrix {
    let offset = l * t.dim;
    RepalignMatrix {
        data: t.data.cast::<f32>().wrapping_add(offset).cast(),
        dtype: t.dtype,
        rows: t.samples,
        cols: t.dim,
        row_stride: t.layers * t.dim,
        len: t.len - offset,
    }
}

#[test]
fn sweep_matches_the_core_and_per_pair_scores() {
    let (va, vb) = (values(S * 2 * 5, 21), values(S * 3 * 4, 22));
    let (a, b) = (tensor3(&va, S, 2, 5), tensor3(&vb, S, 3, 4));
    let metrics = [
        RepalignMetric { k: 3, ..repalign_metric_default(Kind::MutualKnn as u32) },
        RepalignMetric { k: 2, ..repalign_metric_default(Kind::LcsKnn as u32) },
        repalign_metric_default(Kind::Cka as u32),
        repalign_metric_default(Kind::UnbiasedCka as u32),
        RepalignMetric { k: 4, ..repalign_metric_default(Kind::Cknna as u32) },
        RepalignMetric { cca_dim: 3, ..repalign_metric_default(Kind::Svcca as u32) },
    ];
    for m in metrics {
        for (mode, core_mode, q) in [
            (RepalignPrepare::None, Prepare::None, REPALIGN_SWEEP_Q),
            (RepalignPrepare::Paper, Prepare::Paper, REPALIGN_SWEEP_Q),
            (RepalignPrepare::Paper, Prepare::Paper, 0.6),
            (RepalignPrepare::PaperPerSample, Prepare::PaperPerSample, 0.8),
        ] {
            let got = sweep_q(&a, &b, &m, (mode as u32, q), None);
            assert_eq!(got.status, RepalignStatus::Ok, "{m:?}: {}", last_error());
            let core = core_sweep((&va, 2, 5), (&vb, 3, 4), (core_mode, q), m.decode().unwrap());
            assert_eq!(got.scores, core.scores, "{m:?} {mode:?} {q}");
            assert_eq!((got.best, got.has_best), (core.best, core.best_index.is_some()));
            assert_eq!((got.best_i, got.best_j), core.best_index.unwrap_or((0, 0)));
            if mode == RepalignPrepare::None {
                // Each score is repalign_score of the two layers, viewed with a stride.
                for (i, j) in (0..2).flat_map(|i| (0..3).map(move |j| (i, j))) {
                    let mut s = f64::NAN;
                    // SAFETY: strided views inside the tensors; valid metric and out pointer.
                    let st = unsafe { repalign_score(&layer(&a, i), &layer(&b, j), &m, ptr::null(), &mut s) };
                    assert_eq!((st, s), (RepalignStatus::Ok, got.scores[i * 3 + j]), "{m:?} ({i}, {j})");
                }
            }
        }
    }
}

#[test]
fn sweep_best_is_the_first_strict_maximum_or_none() {
    let v = values(S * 2 * 4, 23);
    // b's layers: a's layer 1, then a's layer 1 again, then layer 0: two equal maxima.
    let mut w = vec![0.0f32; S * 3 * 4];
    for s in 0..S {
        for (j, l) in [1, 1, 0].into_iter().enumerate() {
            w[(s * 3 + j) * 4..][..4].copy_from_slice(&v[(s * 2 + l) * 4..][..4]);
        }
    }
    let (a, b) = (tensor3(&v, S, 2, 4), tensor3(&w, S, 3, 4));
    let m = RepalignMetric { k: 2, ..repalign_metric_default(Kind::MutualKnn as u32) };
    let r = sweep_c(&a, &b, &m, RepalignPrepare::Normalize as u32, None);
    assert_eq!(r.status, RepalignStatus::Ok, "{}", last_error());
    assert_eq!((r.scores[2], r.scores[3], r.scores[4]), (1.0, 1.0, 1.0));
    assert_eq!((r.best, r.best_i, r.best_j, r.has_best), (1.0, 0, 2, true));

    // Nearest neighbours never agree: (0, 1), (2, 3) in a; (0, 2), (1, 3) in b. Every score is 0.
    let a4 = [1.0f32, 0.1, 1.0, 0.2, 0.1, 1.0, 0.2, 1.0];
    let b4 = [1.0f32, 0.1, 0.1, 1.0, 1.0, 0.2, 0.2, 1.0];
    let (a, b) = (tensor3(&a4, 4, 1, 2), tensor3(&b4, 4, 1, 2));
    let m = RepalignMetric { k: 1, ..m };
    let r = sweep_c(&a, &b, &m, RepalignPrepare::None as u32, None);
    assert_eq!(
        r,
        Sweep { status: RepalignStatus::Ok, scores: vec![0.0], best: 0.0, best_i: 0, best_j: 0, has_best: false }
    );
}

#[test]
fn sweep_errors() {
    let (va, vb) = (values(S * 2 * 5, 24), values(S * 3 * 4, 25));
    let (a, b) = (tensor3(&va, S, 2, 5), tensor3(&vb, S, 3, 4));
    let m = RepalignMetric { k: 3, ..repalign_metric_default(Kind::JaccardKnn as u32) };
    let fewer = tensor3(&vb[..(S - 1) * 12], S - 1, 3, 4);
    assert_eq!(sweep_c(&a, &fewer, &m, 0, None).status, RepalignStatus::RowCountMismatch);
    assert_eq!(sweep_c(&a, &b, &m, 4, None).status, RepalignStatus::InvalidEnum);
    assert!(last_error().contains("`prepare_mode` is 4"), "{}", last_error());
    // q is checked for every mode, also those that do not clamp.
    for (mode, q) in [(0, 0.0), (1, -1.0), (2, 1.5), (3, f64::NAN), (2, f64::INFINITY)] {
        assert_eq!(sweep_q(&a, &b, &m, (mode, q), None).status, RepalignStatus::InvalidParameter, "{mode} {q}");
        assert!(last_error().contains("`q` is ") && last_error().contains("(0, 1]"), "{}", last_error());
    }
    assert_eq!(sweep_q(&a, &b, &m, (2, 1.0), None).status, RepalignStatus::Ok, "q = 1 clamps nothing");
    assert_eq!(sweep_c(&a, &b, &RepalignMetric { kind: 14, ..m }, 0, None).status, RepalignStatus::InvalidEnum);
    assert_eq!(sweep_c(&a, &b, &RepalignMetric { k: S, ..m }, 0, None).status, RepalignStatus::InvalidK);
    let rbf = RepalignMetric { kernel: 1, sigma: 0.0, ..repalign_metric_default(Kind::Cka as u32) };
    assert_eq!(sweep_c(&a, &b, &rbf, 2, None).status, RepalignStatus::InvalidParameter);
    let svcca = RepalignMetric { cca_dim: 5, ..repalign_metric_default(Kind::Svcca as u32) };
    assert_eq!(sweep_c(&a, &b, &svcca, 1, None).status, RepalignStatus::InvalidParameter);
    let bad_opts = RepalignKnnOptions { isa: 99, ..Default::default() };
    assert_eq!(sweep_c(&a, &b, &m, 0, Some(&bad_opts)).status, RepalignStatus::InvalidEnum);
    let small = tensor3(&va[..3 * 10], 3, 2, 5);
    let unbiased = repalign_metric_default(Kind::UnbiasedCka as u32);
    assert_eq!(sweep_c(&small, &small, &unbiased, 0, None).status, RepalignStatus::TooFewSamples);

    let (mut scores, mut best, mut bi, mut bj, mut has) = ([0.0f64; 6], 0.0, 0usize, 0usize, false);
    // SAFETY: outputs hold the lengths passed; NULL where the API must reject it.
    unsafe {
        let status = sweep_raw((&a, &b, &m), (scores.as_mut_ptr(), 5), (&mut best, &mut bi, &mut bj, &mut has));
        assert_eq!(status, RepalignStatus::OutputTooShort);
        assert!(last_error().contains("6 are needed"), "{}", last_error());
        let status = sweep_raw((&a, &b, &m), (scores.as_mut_ptr(), 6), (&mut best, &mut bi, &mut bj, &mut has));
        assert_eq!(status, RepalignStatus::Ok);
        let check_null = |status, name: &str| {
            assert_eq!(status, RepalignStatus::NullPointer, "{name}");
            assert!(last_error().contains(name), "{}", last_error());
        };
        let s = scores.as_mut_ptr();
        check_null(sweep_raw((ptr::null(), &b, &m), (s, 6), (&mut best, &mut bi, &mut bj, &mut has)), "`a`");
        check_null(sweep_raw((&a, ptr::null(), &m), (s, 6), (&mut best, &mut bi, &mut bj, &mut has)), "`b`");
        check_null(sweep_raw((&a, &b, ptr::null()), (s, 6), (&mut best, &mut bi, &mut bj, &mut has)), "`metric`");
        check_null(sweep_raw((&a, &b, &m), (ptr::null_mut(), 6), (&mut best, &mut bi, &mut bj, &mut has)), "`scores`");
        check_null(sweep_raw((&a, &b, &m), (s, 6), (ptr::null_mut(), &mut bi, &mut bj, &mut has)), "`best`");
        check_null(sweep_raw((&a, &b, &m), (s, 6), (&mut best, ptr::null_mut(), &mut bj, &mut has)), "`best_i`");
        check_null(sweep_raw((&a, &b, &m), (s, 6), (&mut best, &mut bi, ptr::null_mut(), &mut has)), "`best_j`");
        check_null(sweep_raw((&a, &b, &m), (s, 6), (&mut best, &mut bi, &mut bj, ptr::null_mut())), "`has_best`");
    }
}

/// `repalign_sweep` without preparation, at the paper's q, with default options.
///
/// # Safety
/// As `repalign_sweep`.
unsafe fn sweep_raw(
    (a, b, m): (*const RepalignTensor3, *const RepalignTensor3, *const RepalignMetric),
    (scores, len): (*mut f64, usize),
    (best, i, j, has): (*mut f64, *mut usize, *mut usize, *mut bool),
) -> RepalignStatus {
    let none = RepalignPrepare::None as u32;
    // SAFETY: forwarded contract.
    unsafe { repalign_sweep(a, b, m, none, REPALIGN_SWEEP_Q, ptr::null(), scores, len, best, i, j, has) }
}

#[test]
fn panics_do_not_cross_the_boundary() {
    let v = values(S * 2 * 3, 26);
    let x = tensor3(&v, S, 2, 3);
    test_hook::arm();
    assert_eq!(threshold(&x, 0.9, 0).0, RepalignStatus::Panic);
    test_hook::arm();
    assert_eq!(prepared(&x, 2, 0.9).0, RepalignStatus::Panic);
    let m = repalign_metric_default(Kind::Cka as u32);
    test_hook::arm();
    assert_eq!(sweep_c(&x, &x, &m, 0, None).status, RepalignStatus::Panic);
    assert!(last_error().contains("injected test panic"), "{}", last_error());
    assert_eq!(sweep_c(&x, &x, &m, 0, None).status, RepalignStatus::Ok);
}
