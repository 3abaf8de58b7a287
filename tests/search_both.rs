//! `knn::search_both` against two `knn::search` calls, bit for bit (indices, score bits,
//! ties), on every available backend (native and emulated), thread counts, dtypes and
//! similarities, over awkward shapes; and one float64 oracle spot check.

mod common;

use common::{Rng, oracle_row, oracle_scores};
use repalign::knn::{self, KnnGraph, Similarity};
use repalign::{AnyMatrix, Error, Exec, Isa, Matrix, bf16, f16};

const SIMILARITIES: [Similarity; 2] = [Similarity::InnerProduct, Similarity::Cosine];

fn exec(isa: Isa, threads: usize) -> Exec<'static> {
    Exec::new().with_threads(threads).with_isa(Some(isa))
}

fn assert_same(got: &KnnGraph, want: &KnnGraph, what: &str) {
    assert_eq!((got.rows(), got.k(), got.isa()), (want.rows(), want.k(), want.isa()), "{what}: shape");
    assert_eq!(got.indices(), want.indices(), "{what}: indices");
    let bits = |g: &KnnGraph| g.scores().iter().map(|s| s.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(got), bits(want), "{what}: score bits");
}

/// `search_both(a, b)` equals `(search(a, b), search(b, a))` on every backend, 1-3 threads
/// and both similarities; `k` from 1 to the smaller side.
fn check_both<'a>(a: AnyMatrix<'a>, b: AnyMatrix<'a>, ks: &[usize], what: &str) {
    for isa in common::isas() {
        for threads in [1, 2, 3] {
            let ex = exec(isa, threads);
            for similarity in SIMILARITIES {
                for &k in ks {
                    let what = format!("{what} k={k} isa={isa} threads={threads} {similarity:?}");
                    let (ab, ba) = knn::search_both(a, b, k, similarity, &ex).unwrap();
                    assert_same(&ab, &knn::search(a, b, k, similarity, &ex).unwrap(), &format!("{what} a->b"));
                    assert_same(&ba, &knn::search(b, a, k, similarity, &ex).unwrap(), &format!("{what} b->a"));
                }
            }
        }
    }
}

/// Every dtype of the same values (f16/bf16 round them; both searches see the same input).
fn each_dtype(a: &[f32], b: &[f32], m: usize, n: usize, d: usize, ks: &[usize], what: &str) {
    check_both(Matrix::new(a, m, d).unwrap().into(), Matrix::new(b, n, d).unwrap().into(), ks, &format!("{what} f32"));
    let (ah, bh): (Vec<f16>, Vec<f16>) =
        (a.iter().map(|&x| f16::from_f32(x)).collect(), b.iter().map(|&x| f16::from_f32(x)).collect());
    check_both(
        Matrix::new(&ah, m, d).unwrap().into(),
        Matrix::new(&bh, n, d).unwrap().into(),
        ks,
        &format!("{what} f16"),
    );
    let (ab, bb): (Vec<bf16>, Vec<bf16>) =
        (a.iter().map(|&x| bf16::from_f32(x)).collect(), b.iter().map(|&x| bf16::from_f32(x)).collect());
    check_both(
        Matrix::new(&ab, m, d).unwrap().into(),
        Matrix::new(&bb, n, d).unwrap().into(),
        ks,
        &format!("{what} bf16"),
    );
}

fn ks(m: usize, n: usize) -> Vec<usize> {
    let max = m.min(n);
    let mut ks: Vec<usize> = [1, 2, 3, 7, max].into_iter().filter(|&k| k <= max).collect();
    ks.dedup();
    ks
}

#[test]
fn awkward_shapes_match_two_searches() {
    let mut rng = Rng(41);
    // (rows of a, rows of b, D): single rows, k = rows, tiny D, D off the lane counts, more
    // rows than a candidate block (256) and than one stripe of private heaps (256).
    let shapes = [
        (1, 1, 1),
        (1, 5, 3),
        (5, 1, 2),
        (2, 2, 7),
        (3, 9, 17),
        (13, 6, 33),
        (40, 300, 5),
        (290, 70, 129),
        (70, 520, 9),
    ];
    for &(m, n, d) in &shapes {
        let (a, b) = (rng.gauss(m * d), rng.gauss(n * d));
        each_dtype(&a, &b, m, n, d, &ks(m, n), &format!("gauss m={m} n={n} d={d}"));
    }
}

#[test]
fn ties_follow_the_contract_in_both_directions() {
    let mut rng = Rng(42);
    // Small integers: many equal scores, and duplicate rows on both sides.
    for &(m, n, d) in &[(9, 12, 3), (31, 17, 2), (60, 75, 4)] {
        let (mut a, mut b) = (rng.ints(m * d, 1), rng.ints(n * d, 1));
        // Every row nonzero (cosine), and some rows copied across and within sides.
        for row in a.chunks_exact_mut(d).chain(b.chunks_exact_mut(d)) {
            row[0] = if row[0] == 0.0 { 1.0 } else { row[0] };
        }
        let first: Vec<f32> = a[..d].to_vec();
        b[..d].copy_from_slice(&first);
        b[2 * d..3 * d].copy_from_slice(&first);
        a[d..2 * d].copy_from_slice(&first);
        each_dtype(&a, &b, m, n, d, &ks(m, n), &format!("ints m={m} n={n} d={d}"));
    }
    // All rows equal: every score ties, so lists are 0, 1, 2, ... on both sides.
    let (m, n, d) = (7, 11, 5);
    let (a, b) = (vec![0.5f32; m * d], vec![0.5f32; n * d]);
    each_dtype(&a, &b, m, n, d, &ks(m, n), "all equal");
    let x = Matrix::new(&a, m, d).unwrap();
    let y = Matrix::new(&b, n, d).unwrap();
    let (ab, ba) = knn::search_both(x, y, 4, Similarity::InnerProduct, &Exec::new()).unwrap();
    assert!((0..m).all(|i| ab.row(i) == [0, 1, 2, 3]) && (0..n).all(|j| ba.row(j) == [0, 1, 2, 3]));
}

#[test]
fn matches_a_float64_oracle_on_integer_data() {
    let mut rng = Rng(43);
    let (m, n, d, k) = (37, 53, 19, 6);
    let (a, b) = (rng.ints(m * d, 3), rng.ints(n * d, 3));
    let (x, y) = (Matrix::new(&a, m, d).unwrap(), Matrix::new(&b, n, d).unwrap());
    let (ab, ba) = knn::search_both(x, y, k, Similarity::InnerProduct, &Exec::new()).unwrap();
    for (g, q, db) in [(&ab, &x, &y), (&ba, &y, &x)] {
        for i in 0..q.rows() {
            let want = oracle_row(&oracle_scores(q, db, i, false), k, None);
            assert_eq!(g.row(i), want.iter().map(|w| w.0).collect::<Vec<_>>(), "row {i} indices");
            assert_eq!(g.row_scores(i), want.iter().map(|w| w.1 as f32).collect::<Vec<_>>(), "row {i} scores");
        }
    }
}

#[test]
fn errors_are_those_of_the_failing_search() {
    let ex = Exec::new();
    let (a, b) = (vec![1.0f32; 3 * 4], vec![1.0f32; 5 * 4]);
    let (x, y) = (Matrix::new(&a, 3, 4).unwrap(), Matrix::new(&b, 5, 4).unwrap());
    let ip = Similarity::InnerProduct;
    // k above b's rows: search(a, b)'s error; above a's rows only: search(b, a)'s.
    assert_eq!(knn::search_both(x, y, 6, ip, &ex).unwrap_err(), knn::search(x, y, 6, ip, &ex).unwrap_err());
    assert_eq!(knn::search_both(x, y, 4, ip, &ex).unwrap_err(), knn::search(y, x, 4, ip, &ex).unwrap_err());
    assert_eq!(knn::search_both(x, y, 0, ip, &ex).unwrap_err(), knn::search(x, y, 0, ip, &ex).unwrap_err());
    let z = Matrix::new(&b[..15], 5, 3).unwrap();
    assert!(matches!(knn::search_both(x, z, 1, ip, &ex), Err(Error::DimensionMismatch { a: 4, b: 3 })));
    let h: Vec<f16> = b.iter().map(|&v| f16::from_f32(v)).collect();
    let yh = Matrix::new(&h, 5, 4).unwrap();
    assert!(matches!(knn::search_both(x, yh, 1, ip, &ex), Err(Error::DtypeMismatch)));
    let mut bad = b.clone();
    bad[7] = f32::NAN;
    let yn = Matrix::new(&bad, 5, 4).unwrap();
    assert_eq!(knn::search_both(x, yn, 1, ip, &ex).unwrap_err(), knn::search(x, yn, 1, ip, &ex).unwrap_err());
}
