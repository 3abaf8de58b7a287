//! `repalign_calibrate_score` and `repalign_calibrate_sweep` against the core's calibration.

use std::ptr;

use repalign_core::calibrate::{CalibrationOptions, calibrate};
use repalign_core::knn::Similarity;
use repalign_core::metrics::KnnMetric;
use repalign_core::prepare::{self, Layers, Prepare};
use repalign_core::{AnyMatrix, Exec, Matrix, Metric};

use super::desc;
use super::metric::values;
use crate::RepalignStatus;
use crate::calibrate::{
    RepalignCalibration, RepalignCalibrationOptions, repalign_calibrate_score, repalign_calibrate_sweep,
    repalign_calibration_options_default,
};
use crate::metric::{RepalignMetricKind, repalign_metric_default};
use crate::tensor::{REPALIGN_SWEEP_Q, RepalignPrepare, RepalignTensor3};
use crate::types::RepalignDtype;

#[test]
fn score_calibration_equals_the_core() {
    let (n, d) = (60, 7);
    let (a, b) = (values(n * d, 1), values(n * d, 2));
    let (da, db) = (desc(&a, n, d), desc(&b, n, d));
    let metric = repalign_metric_default(RepalignMetricKind::MutualKnn as u32);
    let cal = RepalignCalibrationOptions { permutations: 50, seed: 3, alpha: 0.1 };
    let mut out = RepalignCalibration::default();
    // SAFETY: valid descriptors of live buffers, valid outputs.
    let st = unsafe { repalign_calibrate_score(&da, &db, &metric, ptr::null(), &cal, &mut out) };
    assert_eq!(st, RepalignStatus::Ok);
    let (ma, mb) = (Matrix::new(&a, n, d).unwrap(), Matrix::new(&b, n, d).unwrap());
    let opts = CalibrationOptions { permutations: 50, seed: 3, alpha: 0.1 };
    let m = Metric::Knn { metric: KnnMetric::Mutual, k: 10, similarity: Similarity::InnerProduct };
    let (_, want) = calibrate(&[ma.into()], &[mb.into()], &m, &opts, &Exec::default()).unwrap();
    assert_eq!(out, RepalignCalibration::from(&want));
    assert_eq!(out.permutations, 50);

    // NULL options mean the defaults; 0 permutations and NULL outputs are errors.
    let d = repalign_calibration_options_default();
    assert_eq!((d.permutations, d.seed, d.alpha), (1000, 0, 0.05));
    let zero = RepalignCalibrationOptions { permutations: 0, ..cal };
    // SAFETY: as above; a NULL `out` is checked.
    unsafe {
        assert_eq!(
            repalign_calibrate_score(&da, &db, &metric, ptr::null(), &zero, &mut out),
            RepalignStatus::InvalidParameter
        );
        assert_eq!(
            repalign_calibrate_score(&da, &db, &metric, ptr::null(), &cal, ptr::null_mut()),
            RepalignStatus::NullPointer
        );
    }
}

#[test]
fn sweep_calibration_equals_the_core() {
    let (n, la, lb, d) = (40, 2, 3, 5);
    let (a, b) = (values(n * la * d, 4), values(n * lb * d, 5));
    let tensor = |v: &[f32], l: usize| RepalignTensor3 {
        data: v.as_ptr().cast(),
        dtype: RepalignDtype::F32 as u32,
        samples: n,
        layers: l,
        dim: d,
        len: v.len(),
    };
    let metric = repalign_metric_default(RepalignMetricKind::Cka as u32);
    let cal = RepalignCalibrationOptions { permutations: 20, seed: 9, alpha: 0.05 };
    let mut out = RepalignCalibration::default();
    // SAFETY: valid descriptors of live buffers, valid outputs.
    let st = unsafe {
        repalign_calibrate_sweep(
            &tensor(&a, la),
            &tensor(&b, lb),
            &metric,
            RepalignPrepare::Paper as u32,
            REPALIGN_SWEEP_Q,
            ptr::null(),
            &cal,
            &mut out,
        )
    };
    assert_eq!(st, RepalignStatus::Ok);
    let exec = Exec::default();
    let (pa, _) = prepare::prepare(&Layers::new(&a, n, la, d).unwrap(), Prepare::Paper, 0.95, &exec).unwrap();
    let (pb, _) = prepare::prepare(&Layers::new(&b, n, lb, d).unwrap(), Prepare::Paper, 0.95, &exec).unwrap();
    let (ya, yb) = (Layers::new(&pa, n, la, d).unwrap(), Layers::new(&pb, n, lb, d).unwrap());
    let va: Vec<AnyMatrix<'_>> = (0..la).map(|l| ya.layer(l).into()).collect();
    let vb: Vec<AnyMatrix<'_>> = (0..lb).map(|l| yb.layer(l).into()).collect();
    let opts = CalibrationOptions { permutations: 20, seed: 9, alpha: 0.05 };
    let m = Metric::Cka { kernel: repalign_core::metrics::Kernel::Linear, unbiased: false };
    let (_, want) = calibrate(&va, &vb, &m, &opts, &exec).unwrap();
    assert_eq!(out, RepalignCalibration::from(&want));
    // SAFETY: as above.
    let st = unsafe {
        repalign_calibrate_sweep(&tensor(&a, la), &tensor(&b, lb), &metric, 9, 0.95, ptr::null(), &cal, &mut out)
    };
    assert_eq!(st, RepalignStatus::InvalidEnum);
    // q is checked as in repalign_sweep; another q prepares (and so calibrates) differently.
    let sweep_q = |q: f64, out: &mut RepalignCalibration| {
        // SAFETY: as above.
        unsafe { repalign_calibrate_sweep(&tensor(&a, la), &tensor(&b, lb), &metric, 2, q, ptr::null(), &cal, out) }
    };
    assert_eq!(sweep_q(0.0, &mut out), RepalignStatus::InvalidParameter);
    assert_eq!(sweep_q(f64::NAN, &mut out), RepalignStatus::InvalidParameter);
    let mut at_half = RepalignCalibration::default();
    assert_eq!(sweep_q(0.5, &mut at_half), RepalignStatus::Ok);
    let (ph, _) = prepare::prepare(&Layers::new(&a, n, la, d).unwrap(), Prepare::Paper, 0.5, &exec).unwrap();
    let (qh, _) = prepare::prepare(&Layers::new(&b, n, lb, d).unwrap(), Prepare::Paper, 0.5, &exec).unwrap();
    let (ya, yb) = (Layers::new(&ph, n, la, d).unwrap(), Layers::new(&qh, n, lb, d).unwrap());
    let va: Vec<AnyMatrix<'_>> = (0..la).map(|l| ya.layer(l).into()).collect();
    let vb: Vec<AnyMatrix<'_>> = (0..lb).map(|l| yb.layer(l).into()).collect();
    let (_, want) = calibrate(&va, &vb, &m, &opts, &exec).unwrap();
    assert_eq!(at_half, RepalignCalibration::from(&want));
}
