//! Properties every metric must have, on random (tie-free) data: symmetry where the
//! metric is symmetric, invariance to one row permutation applied to both inputs, CKA's
//! invariance to orthogonal transforms and isotropic scaling, and self-alignment.

mod common;

use common::Rng;
use repalign::knn::Similarity;
use repalign::metrics::{self, Kernel, KnnMetric};
use repalign::{AnyMatrix, Exec, Matrix, Metric};

const IP: Similarity = Similarity::InnerProduct;
const EXEC: Exec<'static> = Exec::new();

fn gauss(rng: &mut Rng, n: usize, d: usize) -> Vec<f32> {
    rng.gauss(n * d)
}

/// A metric of (A, B), named.
type NamedMetric = (&'static str, Box<dyn Fn(AnyMatrix<'_>, AnyMatrix<'_>) -> f64>);

/// Every symmetric metric, as a closure of (A, B).
fn symmetric_metrics() -> Vec<NamedMetric> {
    let mut v: Vec<NamedMetric> = Vec::new();
    for m in [KnnMetric::Mutual, KnnMetric::Lcs, KnnMetric::EditDistance, KnnMetric::Jaccard] {
        v.push((
            m.name(),
            Box::new(move |a, b| {
                metrics::score(a, b, &Metric::Knn { metric: m, k: 7, similarity: IP }, &EXEC).unwrap()
            }),
        ));
    }
    v.push((
        "cka",
        Box::new(|a, b| metrics::score(a, b, &Metric::Cka { kernel: Kernel::Linear, unbiased: false }, &EXEC).unwrap()),
    ));
    v.push((
        "unbiased_cka",
        Box::new(|a, b| metrics::score(a, b, &Metric::Cka { kernel: Kernel::Linear, unbiased: true }, &EXEC).unwrap()),
    ));
    v.push((
        "cka_rbf",
        Box::new(|a, b| {
            metrics::score(a, b, &Metric::Cka { kernel: Kernel::Rbf { sigma: 4.0 }, unbiased: false }, &EXEC).unwrap()
        }),
    ));
    v.push((
        "cknna_biased",
        Box::new(|a, b| metrics::score(a, b, &Metric::Cknna { topk: 7, unbiased: false }, &EXEC).unwrap()),
    ));
    v.push(("svcca", Box::new(|a, b| metrics::score(a, b, &Metric::Svcca { cca_dim: 5 }, &EXEC).unwrap())));
    v
}

#[test]
fn symmetric_metrics_are_symmetric() {
    let mut rng = Rng(11);
    let (n, da, db) = (90, 24, 17);
    let a = gauss(&mut rng, n, da);
    let b: Vec<f32> = (0..n * db).map(|i| a[(i / db) * da + i % db] + 0.7 * rng.normal() as f32).collect();
    let (ma, mb) = (Matrix::new(&a, n, da).unwrap(), Matrix::new(&b, n, db).unwrap());
    for (name, f) in symmetric_metrics() {
        let (ab, ba) = (f(ma.into(), mb.into()), f(mb.into(), ma.into()));
        assert!((ab - ba).abs() <= 1e-9 * ab.abs().max(1.0), "{name}: {ab} vs {ba}");
    }
}

#[test]
fn one_permutation_of_both_inputs_changes_nothing() {
    let mut rng = Rng(12);
    let (n, da, db) = (80, 20, 30);
    let a = gauss(&mut rng, n, da);
    let b = gauss(&mut rng, n, db);
    // A Fisher-Yates permutation of the rows.
    let mut perm: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        perm.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let permute =
        |x: &[f32], d: usize| -> Vec<f32> { perm.iter().flat_map(|&p| x[p * d..(p + 1) * d].to_vec()).collect() };
    let (pa, pb) = (permute(&a, da), permute(&b, db));
    let (ma, mb) = (Matrix::new(&a, n, da).unwrap(), Matrix::new(&b, n, db).unwrap());
    let (qa, qb) = (Matrix::new(&pa, n, da).unwrap(), Matrix::new(&pb, n, db).unwrap());
    for m in KnnMetric::ALL {
        let (x, y) = (
            metrics::score(ma, mb, &Metric::Knn { metric: m, k: 6, similarity: IP }, &EXEC).unwrap(),
            metrics::score(qa, qb, &Metric::Knn { metric: m, k: 6, similarity: IP }, &EXEC).unwrap(),
        );
        assert_eq!(x, y, "{}", m.name());
    }
    for (name, f) in symmetric_metrics() {
        let (x, y) = (f(ma.into(), mb.into()), f(qa.into(), qb.into()));
        assert!((x - y).abs() <= 1e-9 * x.abs().max(1.0), "{name}: {x} vs {y}");
    }
    for unbiased in [false, true] {
        let (x, y) = (
            metrics::score(ma, mb, &Metric::Cknna { topk: 6, unbiased }, &EXEC).unwrap(),
            metrics::score(qa, qb, &Metric::Cknna { topk: 6, unbiased }, &EXEC).unwrap(),
        );
        assert!((x - y).abs() <= 1e-9, "cknna unbiased={unbiased}: {x} vs {y}");
    }
}

#[test]
fn cka_is_invariant_to_rotations_and_isotropic_scaling() {
    let mut rng = Rng(13);
    let (n, d) = (60, 16);
    let a = gauss(&mut rng, n, d);
    let b = gauss(&mut rng, n, 12);
    // Q = product of two Householder reflections (orthogonal, not a permutation).
    let reflect = |x: &[f32], v: &[f64]| -> Vec<f32> {
        let vv: f64 = v.iter().map(|t| t * t).sum();
        x.chunks_exact(d)
            .flat_map(|row| {
                let dot: f64 = row.iter().zip(v).map(|(r, t)| f64::from(*r) * t).sum();
                row.iter().zip(v).map(move |(r, t)| (f64::from(*r) - 2.0 * dot / vv * t) as f32).collect::<Vec<_>>()
            })
            .collect()
    };
    let v1: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
    let v2: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
    let rotated = reflect(&reflect(&a, &v1), &v2);
    let scaled: Vec<f32> = a.iter().map(|x| x * 3.5).collect();
    let mb = Matrix::new(&b, n, 12).unwrap();
    for unbiased in [false, true] {
        let base = metrics::score(
            Matrix::new(&a, n, d).unwrap(),
            mb,
            &Metric::Cka { kernel: Kernel::Linear, unbiased },
            &EXEC,
        )
        .unwrap();
        for (what, x) in [("rotated", &rotated), ("scaled", &scaled)] {
            let got = metrics::score(
                Matrix::new(x, n, d).unwrap(),
                mb,
                &Metric::Cka { kernel: Kernel::Linear, unbiased },
                &EXEC,
            )
            .unwrap();
            assert!((got - base).abs() < 1e-5, "{what} unbiased={unbiased}: {got} vs {base}");
        }
    }
}

#[test]
fn a_representation_aligns_perfectly_with_itself() {
    let mut rng = Rng(14);
    let (n, d, k) = (70, 19, 8);
    let a = gauss(&mut rng, n, d);
    let m = Matrix::new(&a, n, d).unwrap();
    assert_eq!(
        metrics::score(m, m, &Metric::Knn { metric: KnnMetric::Mutual, k, similarity: IP }, &EXEC).unwrap(),
        1.0
    );
    assert_eq!(metrics::score(m, m, &Metric::Knn { metric: KnnMetric::Cycle, k, similarity: IP }, &EXEC).unwrap(), 1.0);
    assert_eq!(
        metrics::score(m, m, &Metric::Knn { metric: KnnMetric::Lcs, k, similarity: IP }, &EXEC).unwrap(),
        k as f64
    );
    assert_eq!(
        metrics::score(m, m, &Metric::Knn { metric: KnnMetric::EditDistance, k, similarity: IP }, &EXEC).unwrap(),
        1.0
    );
    assert_eq!(
        metrics::score(m, m, &Metric::Knn { metric: KnnMetric::Jaccard, k, similarity: IP }, &EXEC).unwrap(),
        1.0
    );
    assert!(
        (metrics::score(m, m, &Metric::Cka { kernel: Kernel::Linear, unbiased: false }, &EXEC).unwrap() - 1.0).abs()
            < 1e-6
    );
    assert!((metrics::score(m, m, &Metric::Svcca { cca_dim: 5 }, &EXEC).unwrap() - 1.0).abs() < 1e-9);
    // Unrelated representations sit near chance: k / (N - 1) for mutual kNN.
    let b = gauss(&mut rng, n, d);
    let chance = k as f64 / (n - 1) as f64;
    let s = metrics::score(
        m,
        Matrix::new(&b, n, d).unwrap(),
        &Metric::Knn { metric: KnnMetric::Mutual, k, similarity: IP },
        &EXEC,
    )
    .unwrap();
    assert!(s < 3.0 * chance, "{s} vs chance {chance}");
}

/// Buffers sized by the input that no allocator can give (N x N f64 kernels at N = 200,000:
/// 320 GB each; N x k neighbour lists at k = N - 1; 1e6 x 1e6 kernels) are
/// `OutOfMemory` errors before any work, never an abort of the process.
#[test]
fn input_sized_buffers_too_large_to_allocate_are_errors() {
    use repalign::ErrorKind::OutOfMemory;
    let exec = Exec::new().with_threads(2);
    let n = 200_000;
    let x: Vec<f32> = (0..n).map(|i| (i % 97) as f32 / 97.0 + 0.5).collect();
    let m = Matrix::new(&x, n, 1).unwrap();
    for metric in [
        Metric::Cka { kernel: Kernel::Linear, unbiased: false },
        Metric::Cka { kernel: Kernel::Rbf { sigma: 1.0 }, unbiased: true },
        Metric::Cknna { topk: 10, unbiased: true },
    ] {
        let err = metrics::score(m, m, &metric, &exec).unwrap_err();
        assert_eq!(err.kind(), OutOfMemory, "{metric:?}: {err}");
        assert!(err.to_string().contains("N x N f64 kernel"), "{err}");
    }
    let err = repalign::knn::graph(m, n - 1, Similarity::InnerProduct, &exec).unwrap_err();
    assert_eq!(err.kind(), OutOfMemory, "{err}");
    assert!(err.to_string().contains("N x k"), "{err}");
    let err = repalign::knn::gram(m, &exec).unwrap_err();
    assert_eq!(err.kind(), OutOfMemory, "{err}");
    // CKA on a 1e6 x 1 matrix: an 8 TB kernel.
    let big: Vec<f32> = vec![1.0; 1_000_000];
    let m = Matrix::new(&big, big.len(), 1).unwrap();
    let metric = Metric::Cka { kernel: Kernel::Linear, unbiased: true };
    assert_eq!(metrics::score(m, m, &metric, &exec).unwrap_err().kind(), OutOfMemory);
}
