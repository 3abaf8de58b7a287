//! The kNN engine against a float64 brute-force oracle, on every available backend
//! (native and emulated), awkward shapes, every k on small N, ties and thread counts.

mod common;

use common::{Rng, oracle_row, oracle_scores};
use repalign::knn::{self, GraphRef, KnnGraph, Similarity};
use repalign::metrics::KnnMetric;
use repalign::{AnyMatrix, Element, Error, Exec, Isa, Matrix, Metric, bf16, f16, metrics};

const IP: Similarity = Similarity::InnerProduct;
const COS: Similarity = Similarity::Cosine;
const EXEC: Exec<'static> = Exec::new();

/// `isa` forced, on `threads` workers.
fn exec(isa: Isa, threads: usize) -> Exec<'static> {
    Exec::new().with_threads(threads).with_isa(Some(isa))
}

/// Checks `g` equals the oracle exactly: same indices in the same order, same scores.
/// Valid for integer data, whose f32 inner products are exact.
fn assert_exact<T: Element>(g: &KnnGraph, q: &Matrix<'_, T>, d: &Matrix<'_, T>, exclude_self: bool, what: &str)
where
    for<'a> Matrix<'a, T>: Into<AnyMatrix<'a>>,
{
    for i in 0..q.rows() {
        let want = oracle_row(&oracle_scores(q, d, i, false), g.k(), exclude_self.then_some(i));
        let want_idx: Vec<u32> = want.iter().map(|w| w.0).collect();
        let want_s: Vec<f32> = want.iter().map(|w| w.1 as f32).collect();
        assert_eq!(g.row(i), &want_idx[..], "{what}: row {i} indices");
        assert_eq!(g.row_scores(i), &want_s[..], "{what}: row {i} scores");
    }
}

#[test]
fn integer_data_matches_oracle_exactly_on_every_isa() {
    let mut rng = Rng(1);
    let shapes = [(2, 1), (3, 5), (7, 3), (13, 17), (37, 64), (50, 255), (97, 257), (130, 33), (257, 1000), (40, 2049)];
    for &(n, d) in &shapes {
        let data = rng.ints(n * d, 3);
        let x = Matrix::new(&data, n, d).unwrap();
        for k in [1, 2, 5, 10, n - 1] {
            if k == 0 || k > n - 1 {
                continue;
            }
            for isa in common::isas() {
                let g = knn::graph(x, k, IP, &exec(isa, 1)).unwrap();
                assert_eq!(g.isa(), Some(isa));
                assert_exact(&g, &x, &x, true, &format!("n={n} d={d} k={k} isa={isa}"));
            }
        }
    }
}

#[test]
fn every_k_on_small_n_and_every_isa() {
    let mut rng = Rng(2);
    for n in 2..=13 {
        for d in [1, 2, 7, 19] {
            let data = rng.ints(n * d, 2);
            let x = Matrix::new(&data, n, d).unwrap();
            for k in 1..n {
                for isa in common::isas() {
                    let g = knn::graph(x, k, IP, &exec(isa, 0)).unwrap();
                    assert_exact(&g, &x, &x, true, &format!("n={n} d={d} k={k} isa={isa}"));
                }
            }
        }
    }
}

#[test]
fn duplicate_rows_follow_the_tie_rule() {
    // Rows 1, 4 and 6 are identical and row 3 is their negation: every row sees exact ties.
    let base = [1.0f32, 2.0, -1.0, 0.5];
    let mut data = Vec::new();
    for r in 0..8 {
        let row: Vec<f32> = match r {
            1 | 4 | 6 => base.to_vec(),
            3 => base.iter().map(|x| -x).collect(),
            _ => (0..4).map(|c| ((r * 3 + c) % 5) as f32 - 2.0).collect(),
        };
        data.extend(row);
    }
    let x = Matrix::new(&data, 8, 4).unwrap();
    for isa in common::isas() {
        let g = knn::graph(x, 7, IP, &exec(isa, 2)).unwrap();
        assert_exact(&g, &x, &x, true, &format!("dups isa={isa}"));
        // Row 1's two best are its duplicates, lower index first.
        assert_eq!(&g.row(1)[..2], &[4, 6]);
        assert_eq!(&g.row(4)[..2], &[1, 6]);
    }
}

#[test]
fn half_types_match_oracle_and_their_f32_widening() {
    let mut rng = Rng(3);
    for &(n, d) in &[(5, 3), (33, 31), (120, 300)] {
        let data = rng.ints(n * d, 4);
        let h: Vec<f16> = data.iter().map(|&x| f16::from_f32(x)).collect();
        let b: Vec<bf16> = data.iter().map(|&x| bf16::from_f32(x)).collect();
        let (xf, xh, xb) =
            (Matrix::new(&data, n, d).unwrap(), Matrix::new(&h, n, d).unwrap(), Matrix::new(&b, n, d).unwrap());
        let k = 4.min(n - 1);
        for isa in common::isas() {
            let o = exec(isa, 1);
            let gf = knn::graph(xf, k, IP, &o).unwrap();
            let gh = knn::graph(xh, k, IP, &o).unwrap();
            let gb = knn::graph(xb, k, IP, &o).unwrap();
            assert_exact(&gh, &xh, &xh, true, "f16");
            assert_exact(&gb, &xb, &xb, true, "bf16");
            assert_eq!((gh.indices(), gh.scores()), (gf.indices(), gf.scores()));
            assert_eq!((gb.indices(), gb.scores()), (gf.indices(), gf.scores()));
        }
    }
    // Non-integer f16 data: widening is exact, so f16 and its f32 copy give the same bits.
    let g: Vec<f16> = rng.gauss(64 * 45).into_iter().map(f16::from_f32).collect();
    let w: Vec<f32> = g.iter().map(|x| x.to_f32()).collect();
    let a = knn::graph(Matrix::new(&g, 64, 45).unwrap(), 9, COS, &EXEC).unwrap();
    let b = knn::graph(Matrix::new(&w, 64, 45).unwrap(), 9, COS, &EXEC).unwrap();
    assert_eq!(a, b);
}

#[test]
fn gaussian_cosine_is_close_to_oracle_and_identical_across_isas_and_threads() {
    let mut rng = Rng(4);
    for &(n, d) in &[(9, 5), (101, 77), (300, 129), (64, 1031)] {
        let data = rng.gauss(n * d);
        let x = Matrix::new(&data, n, d).unwrap();
        let k = 10.min(n - 1);
        let reference = knn::graph(x, k, COS, &exec(Isa::Scalar, 1)).unwrap();
        for i in 0..n {
            let s = oracle_scores(&x, &x, i, true);
            let want = oracle_row(&s, k, Some(i));
            let kth = want[k - 1].1;
            for (pos, (&j, &score)) in reference.row(i).iter().zip(reference.row_scores(i)).enumerate() {
                assert!((f64::from(score) - s[j as usize]).abs() < 1e-5, "score of ({i},{j})");
                assert!(s[j as usize] >= kth - 1e-5, "row {i} pos {pos}: {j} is not among the top {k}");
            }
            assert!(reference.row_scores(i).windows(2).all(|w| w[0] >= w[1]));
        }
        for isa in common::isas() {
            for threads in [1, 2, 3, 0] {
                let g = knn::graph(x, k, COS, &exec(isa, threads)).unwrap();
                assert_eq!(
                    (g.indices(), g.scores()),
                    (reference.indices(), reference.scores()),
                    "isa={isa} threads={threads}"
                );
            }
        }
    }
}

#[test]
fn strided_views_equal_dense_ones() {
    let mut rng = Rng(5);
    let (n, d, stride) = (23, 19, 32);
    let padded = rng.gauss(n * stride);
    let dense: Vec<f32> = (0..n).flat_map(|i| padded[i * stride..i * stride + d].to_vec()).collect();
    let a = knn::graph(Matrix::with_stride(&padded, n, d, stride).unwrap(), 5, IP, &EXEC).unwrap();
    let b = knn::graph(Matrix::new(&dense, n, d).unwrap(), 5, IP, &EXEC).unwrap();
    assert_eq!(a, b);
}

#[test]
fn search_matches_oracle_and_shards_merge_to_one_pass() {
    let mut rng = Rng(6);
    let (m, n, d) = (41, 300, 37);
    let qd = rng.ints(m * d, 3);
    let dd = rng.ints(n * d, 3);
    let q = Matrix::new(&qd, m, d).unwrap();
    let db = Matrix::new(&dd, n, d).unwrap();
    for isa in common::isas() {
        let o = exec(isa, 2);
        let full = knn::search(q, db, 12, IP, &o).unwrap();
        assert_exact(&full, &q, &db, false, &format!("search isa={isa}"));
        // k = N is allowed without self-exclusion.
        let all = knn::search(q, db, n, IP, &o).unwrap();
        assert_exact(&all, &q, &db, false, "search k=N");
        // Three uneven shards, searched separately with global indices, then merged.
        let cuts = [0, 7, 190, n];
        let parts: Vec<KnnGraph> = cuts
            .windows(2)
            .map(|w| {
                let shard = Matrix::new(&dd[w[0] * d..w[1] * d], w[1] - w[0], d).unwrap();
                let mut g = knn::search(q, shard, 12.min(w[1] - w[0]), IP, &o).unwrap();
                g.offset_indices(w[0] as u32).unwrap();
                g
            })
            .collect();
        let refs: Vec<GraphRef<'_>> = parts.iter().map(|g| g.as_ref()).collect();
        let merged = knn::merge(&refs, 12).unwrap();
        assert_eq!((merged.indices(), merged.scores()), (full.indices(), full.scores()));
    }
}

#[test]
fn mutual_knn_features_equal_graphs_and_oracle() {
    let mut rng = Rng(7);
    let (n, da, db) = (150, 40, 23);
    let a = rng.gauss(n * da);
    // B is a noisy linear image of A: well above chance, below 1.
    let w = rng.gauss(da * db);
    let b: Vec<f32> = (0..n)
        .flat_map(|i| {
            let (a, w) = (&a, &w);
            (0..db).map(move |j| (0..da).map(|t| a[i * da + t] * w[t * db + j]).sum::<f32>())
        })
        .zip(rng.gauss(n * db))
        .map(|(x, e)| x + 3.0 * e)
        .collect();
    let (ma, mb) = (Matrix::new(&a, n, da).unwrap(), Matrix::new(&b, n, db).unwrap());
    for k in [1, 5, 10] {
        let score =
            metrics::score(ma, mb, &Metric::Knn { metric: KnnMetric::Mutual, k, similarity: COS }, &EXEC).unwrap();
        let ga = knn::graph(ma, k, COS, &EXEC).unwrap();
        let gb = knn::graph(mb, k, COS, &EXEC).unwrap();
        assert_eq!(metrics::mutual_knn_graphs(ga.as_ref(), gb.as_ref(), k).unwrap(), score);
        let mut shared = 0usize;
        for i in 0..n {
            let oa = oracle_row(&oracle_scores(&ma, &ma, i, true), k, Some(i));
            let ob = oracle_row(&oracle_scores(&mb, &mb, i, true), k, Some(i));
            shared += oa.iter().filter(|x| ob.iter().any(|y| y.0 == x.0)).count();
        }
        let want = shared as f64 / (n * k) as f64;
        assert!((score - want).abs() < 1e-12, "k={k}: {score} vs oracle {want}");
        let chance = k as f64 / (n - 1) as f64;
        assert!(score > 3.0 * chance && score < 1.0, "k={k}: {score}");
    }
    // A graph computed once with k = 10 serves k = 5.
    let ga = knn::graph(ma, 10, COS, &EXEC).unwrap();
    let gb = knn::graph(mb, 10, COS, &EXEC).unwrap();
    assert_eq!(
        metrics::mutual_knn_graphs(ga.as_ref(), gb.as_ref(), 5).unwrap(),
        metrics::score(ma, mb, &Metric::Knn { metric: KnnMetric::Mutual, k: 5, similarity: COS }, &EXEC).unwrap()
    );
}

#[test]
fn bad_input_is_a_typed_error() {
    let ok = [1.0f32, 0.0, 0.0, 1.0, 1.0, 1.0];
    let x = Matrix::new(&ok, 3, 2).unwrap();
    assert_eq!(knn::graph(Matrix::<f32>::new(&[], 0, 4).unwrap(), 1, IP, &EXEC).unwrap_err(), Error::EmptyMatrix);
    assert_eq!(knn::graph(Matrix::<f32>::new(&[], 3, 0).unwrap(), 1, IP, &EXEC).unwrap_err(), Error::ZeroDimension);
    assert_eq!(knn::graph(x, 0, IP, &EXEC).unwrap_err(), Error::InvalidK { k: 0, max: 2 });
    assert_eq!(knn::graph(x, 3, IP, &EXEC).unwrap_err(), Error::InvalidK { k: 3, max: 2 });
    assert_eq!(knn::graph(x, usize::MAX, IP, &EXEC).unwrap_err(), Error::InvalidK { k: usize::MAX, max: 2 });
    assert_eq!(Matrix::with_stride(&ok, 3, 2, 1).unwrap_err(), Error::StrideTooSmall { stride: 1, cols: 2 });
    assert_eq!(Matrix::new(&ok, 4, 2).unwrap_err(), Error::BufferTooShort { needed: 8, len: 6 });
    let single = Matrix::new(&ok[..2], 1, 2).unwrap();
    assert_eq!(knn::graph(single, 1, IP, &EXEC).unwrap_err(), Error::InvalidK { k: 1, max: 0 });

    let mut bad = ok;
    bad[3] = f32::NAN;
    assert_eq!(
        knn::graph(Matrix::new(&bad, 3, 2).unwrap(), 1, IP, &EXEC).unwrap_err(),
        Error::NonFinite { row: 1, col: 1 }
    );
    bad[3] = f32::INFINITY;
    assert_eq!(
        knn::graph(Matrix::new(&bad, 3, 2).unwrap(), 1, IP, &EXEC).unwrap_err(),
        Error::NonFinite { row: 1, col: 1 }
    );
    let h = [f16::ONE, f16::NEG_INFINITY, f16::ONE, f16::ONE];
    assert_eq!(
        knn::graph(Matrix::new(&h, 2, 2).unwrap(), 1, IP, &EXEC).unwrap_err(),
        Error::NonFinite { row: 0, col: 1 }
    );
    let huge = [1.0f32, 0.0, 3.0e19, 0.0, 0.0, 1.0];
    assert_eq!(
        knn::graph(Matrix::new(&huge, 3, 2).unwrap(), 1, IP, &EXEC).unwrap_err(),
        Error::MagnitudeTooLarge { row: 1 }
    );

    let zero = [1.0f32, 0.0, 0.0, 0.0, 1.0, 1.0];
    assert_eq!(knn::graph(Matrix::new(&zero, 3, 2).unwrap(), 1, COS, &EXEC).unwrap_err(), Error::ZeroNorm { row: 1 });
    // Inner product accepts a zero row: it has similarity 0 to everything.
    assert!(knn::graph(Matrix::new(&zero, 3, 2).unwrap(), 1, IP, &EXEC).is_ok());

    let three = Matrix::new(&ok[..3], 1, 3).unwrap();
    assert_eq!(knn::search(three, x, 1, IP, &EXEC).unwrap_err(), Error::DimensionMismatch { a: 3, b: 2 });
    let hx = [f16::ONE; 2];
    assert_eq!(knn::search(Matrix::new(&hx, 1, 2).unwrap(), x, 1, IP, &EXEC).unwrap_err(), Error::DtypeMismatch);
    let two = Matrix::new(&ok[..4], 2, 2).unwrap();
    assert_eq!(
        metrics::score(x, two, &Metric::Knn { metric: KnnMetric::Mutual, k: 1, similarity: IP }, &EXEC).unwrap_err(),
        Error::RowCountMismatch { a: 3, b: 2 }
    );

    let (mut i, mut s) = (vec![0u32; 5], vec![0f32; 6]);
    assert_eq!(
        knn::neighbours_into(knn::Rows::Within(x.into()), 2, IP, &EXEC, &mut i, &mut s).unwrap_err(),
        Error::OutputTooShort { needed: 6, len: 5 }
    );

    for isa in Isa::ALL.into_iter().filter(|i| !i.is_available()) {
        let e = knn::graph(x, 1, IP, &EXEC.with_isa(Some(isa))).unwrap_err();
        assert_eq!(e, Error::IsaUnavailable(isa));
    }
}

/// CI sets EXPECT_ISA (e.g. `neon` under qemu-aarch64, `x86-v3` on the x86 runner) to prove
/// which native path ran.
#[test]
fn reports_the_expected_isa() {
    let best = Isa::best();
    let data = [1.0f32, 2.0, 3.0, 4.0, 5.0, 7.0];
    let g = knn::graph(Matrix::new(&data, 3, 2).unwrap(), 1, IP, &EXEC).unwrap();
    assert_eq!(g.isa(), Some(best));
    println!("ISA = {best}");
    if let Ok(want) = std::env::var("EXPECT_ISA") {
        assert_eq!(best.name(), want, "expected the {want} path, ran {best}");
    }
}

/// Inputs the fuzzer found (ctests/fuzz/regressions/): each is an error or a finite answer,
/// never NaN, a leaked placeholder index or a panic.
#[test]
fn fuzzer_regressions() {
    use repalign::metrics::{self, Kernel};
    // Cosine on rows with a tiny non-zero norm: f32 cannot hold their similarities.
    let tiny = [1e-25f32, 0.0, 0.0, 1e-25, 1.0, 1.0, 1.0, 0.0];
    assert_eq!(knn::graph(Matrix::new(&tiny, 4, 2).unwrap(), 1, COS, &EXEC).unwrap_err(), Error::ZeroNorm { row: 0 });
    // A thread count that overflows block arithmetic is clamped, not a panic.
    let x = [1.0f32, 0.0, 0.0, 1.0, 1.0, 1.0];
    assert!(knn::graph(Matrix::new(&x, 3, 2).unwrap(), 1, IP, &EXEC.with_threads(1 << 62)).is_ok());
    // An RBF sigma whose 2 sigma² underflows.
    let m = Matrix::new(&x, 3, 2).unwrap();
    assert!(matches!(
        metrics::score(m, m, &Metric::Cka { kernel: Kernel::Rbf { sigma: 1e-200 }, unbiased: false }, &EXEC)
            .unwrap_err(),
        Error::InvalidParameter { .. }
    ));
    // Unbiased CKA of a constant kernel (all-zero features, RBF): 0 or "undefined", never NaN.
    let zeros = [0.0f32; 7 * 3];
    let z = Matrix::new(&zeros, 7, 3).unwrap();
    for unbiased in [false, true] {
        match metrics::score(z, z, &Metric::Cka { kernel: Kernel::Rbf { sigma: 1.0 }, unbiased }, &EXEC) {
            Ok(v) => assert!(v.is_finite(), "{v}"),
            Err(e) => assert!(matches!(e, Error::NumericalRange { .. }), "{e}"),
        }
    }
}

/// A view of zero-width rows holds any number of rows in an empty buffer: the error must
/// come before any output is allocated (the fuzzer found a 64 GiB allocation here).
#[test]
fn zero_width_rows_fail_before_allocating() {
    let empty: [f32; 0] = [];
    let huge = Matrix::with_stride(&empty, 1 << 33, 0, 0).unwrap();
    let small = Matrix::new(&[1.0f32, 2.0], 2, 1).unwrap();
    assert_eq!(knn::graph(huge, 1, IP, &EXEC).unwrap_err(), Error::ZeroDimension);
    assert!(knn::graph(huge, 1, IP, &EXEC.with_progress(&|_| {})).is_err());
    assert!(knn::search(huge, small, 1, IP, &EXEC).is_err());
    assert!(knn::search(small, huge, 1, IP, &EXEC).is_err());
    assert!(
        metrics::score(huge, huge, &Metric::Knn { metric: KnnMetric::Mutual, k: 1, similarity: IP }, &EXEC).is_err()
    );
}

/// `merge` refuses parts with NaN or infinite scores (which used to land mid-list) and
/// parts whose rows are not best first; sorted, finite parts still merge.
#[test]
fn merge_refuses_non_finite_and_unsorted_parts() {
    let merge = |ia: &[u32], sa: &[f32]| {
        let (ib, sb) = ([2u32, 5, 6, 7], [0.7f32, 0.6, 0.9, 0.1]);
        let a = GraphRef::new(ia, 2, 2).unwrap().with_scores(sa).unwrap();
        let b = GraphRef::new(&ib, 2, 2).unwrap().with_scores(&sb).unwrap();
        knn::merge(&[a, b], 3)
    };
    let ia = [3u32, 1, 0, 4];
    // Row 1 of A ties 0.8 with indices 0 then 4: best first.
    let ok = merge(&ia, &[0.9, 0.5, 0.8, 0.8]).unwrap();
    assert_eq!(ok.indices(), [3, 2, 5, 6, 0, 4]);
    assert_eq!(merge(&ia, &[0.9, f32::NAN, 0.8, 0.8]).unwrap_err(), Error::NonFinite { row: 0, col: 1 });
    assert_eq!(merge(&ia, &[0.9, 0.5, f32::INFINITY, 0.8]).unwrap_err(), Error::NonFinite { row: 1, col: 0 });
    assert_eq!(merge(&ia, &[0.9, 0.5, 0.8, f32::NEG_INFINITY]).unwrap_err(), Error::NonFinite { row: 1, col: 1 });
    // A worse score first, and equal scores with the higher index first.
    for (indices, scores) in [([3u32, 1, 0, 4], [0.5f32, 0.9, 0.8, 0.8]), ([3, 1, 4, 0], [0.9, 0.5, 0.8, 0.8])] {
        let err = merge(&indices, &scores).unwrap_err();
        assert_eq!(err.kind(), repalign::ErrorKind::InvalidParameter, "{err}");
        assert!(err.to_string().contains("best first"), "{err}");
    }
}
