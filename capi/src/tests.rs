//! Tests of the entry points as C calls them: raw pointers, integers for enums, statuses
//! and last-error messages. Correctness of the results themselves is the core's business
//! (and `ctests/`'s, against a naive C loop); here the boundary is under test.
//!
//! The metric descriptor and scores are tested in `tests/metric.rs`, tensors, preparation
//! and the sweep in `tests/tensor.rs`.

mod calibrate;
mod metric;
mod tensor;

use std::ptr;

use repalign_core::Exec;
use repalign_core::knn::{self, Similarity};

use super::*;
use crate::ffi::c_str;
use crate::knn::{
    repalign_knn_graph, repalign_knn_merge, repalign_knn_options_default, repalign_knn_search, repalign_mutual_knn,
    repalign_mutual_knn_graphs,
};
use crate::panic::test_hook;

/// 5 x 3 f32 rows with distinct inner products.
const X: [f32; 15] = [1.0, 0.0, 0.5, 0.9, 0.1, 0.4, 0.0, 1.0, 0.2, 0.1, 0.8, 0.3, -0.5, 0.2, 1.0];

fn desc(data: &[f32], rows: usize, cols: usize) -> RepalignMatrix {
    RepalignMatrix {
        data: data.as_ptr().cast(),
        dtype: RepalignDtype::F32 as u32,
        rows,
        cols,
        row_stride: cols,
        len: data.len(),
    }
}

fn last_error() -> &'static str {
    c_str(repalign_last_error()).expect("never NULL")
}

/// Runs `repalign_knn_graph` on `x` with k = 2 and fresh outputs.
fn graph(x: &RepalignMatrix, k: usize, opts: Option<&RepalignKnnOptions>) -> (RepalignStatus, Vec<u32>, Vec<f32>) {
    // Shapes too large to hold (the overflow tests) get empty outputs: they fail earlier.
    let len = x.rows.checked_mul(k).filter(|&n| n <= 1 << 16).unwrap_or(0);
    let (mut i, mut s) = (vec![u32::MAX; len], vec![f32::NAN; len]);
    let opts = opts.map_or(ptr::null(), |o| o as *const _);
    // SAFETY: valid descriptor and buffers of the stated lengths.
    let status =
        unsafe { repalign_knn_graph(x, k, opts, i.as_mut_ptr(), i.len(), s.as_mut_ptr(), s.len(), ptr::null_mut()) };
    (status, i, s)
}

#[test]
fn graph_matches_the_core() {
    let x = desc(&X, 5, 3);
    let (status, indices, scores) = graph(&x, 2, None);
    assert_eq!(status, RepalignStatus::Ok, "{}", last_error());
    assert_eq!(last_error(), "");
    let x = repalign_core::Matrix::new(&X, 5, 3).unwrap();
    let expected = knn::graph(x, 2, Similarity::InnerProduct, &Exec::default()).unwrap();
    assert_eq!(indices, expected.indices());
    assert_eq!(scores, expected.scores());
}

#[test]
fn null_scores_uses_scratch_and_isa_used_is_reported() {
    let x = desc(&X, 5, 3);
    let mut indices = [0u32; 10];
    let mut isa = u32::MAX;
    let opts = RepalignKnnOptions { similarity: 1, threads: 2, isa: RepalignIsa::Emulated_256 as u32 };
    // SAFETY: valid descriptor, options and buffers; scores NULL is allowed.
    let status = unsafe { repalign_knn_graph(&x, 2, &opts, indices.as_mut_ptr(), 10, ptr::null_mut(), 0, &mut isa) };
    assert_eq!(status, RepalignStatus::Ok, "{}", last_error());
    assert_eq!(isa, RepalignIsa::Emulated_256 as u32);
    let exec = Exec::new().with_threads(2).with_isa(Some(Isa::Emulated256));
    let expected = knn::graph(repalign_core::Matrix::new(&X, 5, 3).unwrap(), 2, Similarity::Cosine, &exec).unwrap();
    assert_eq!(expected.isa(), Some(Isa::Emulated256));
    assert_eq!(indices[..], expected.indices()[..]);
}

#[test]
fn null_pointers_are_reported_by_name() {
    let x = desc(&X, 5, 3);
    let mut indices = [0u32; 10];
    // SAFETY: NULL where the API must reject it; other pointers valid.
    unsafe {
        let status = repalign_knn_graph(
            ptr::null(),
            2,
            ptr::null(),
            indices.as_mut_ptr(),
            10,
            ptr::null_mut(),
            0,
            ptr::null_mut(),
        );
        assert_eq!(status, RepalignStatus::NullPointer);
        assert!(last_error().contains("`x`"), "{}", last_error());
        let status = repalign_knn_graph(&x, 2, ptr::null(), ptr::null_mut(), 10, ptr::null_mut(), 0, ptr::null_mut());
        assert_eq!(status, RepalignStatus::NullPointer);
        assert!(last_error().contains("`indices`"), "{}", last_error());
        let no_data = RepalignMatrix { data: ptr::null(), ..x };
        let status =
            repalign_knn_graph(&no_data, 2, ptr::null(), indices.as_mut_ptr(), 10, ptr::null_mut(), 0, ptr::null_mut());
        assert_eq!(status, RepalignStatus::NullPointer);
        assert!(last_error().contains("x->data"), "{}", last_error());
        assert_eq!(repalign_mutual_knn(&x, &x, 1, ptr::null(), ptr::null_mut()), RepalignStatus::NullPointer);
        assert_eq!(repalign_isa_available(1, ptr::null_mut()), RepalignStatus::NullPointer);
    }
    // rows = 0 with NULL data is an empty matrix, not a NULL pointer.
    let empty = RepalignMatrix { data: ptr::null(), rows: 0, len: 0, ..x };
    assert_eq!(graph(&empty, 1, None).0, RepalignStatus::EmptyMatrix);
}

#[test]
fn enum_integers_are_checked() {
    let bad_dtype = RepalignMatrix { dtype: 99, ..desc(&X, 5, 3) };
    assert_eq!(graph(&bad_dtype, 2, None).0, RepalignStatus::InvalidDtype);
    assert!(last_error().contains("99"), "{}", last_error());
    let x = desc(&X, 5, 3);
    let bad_similarity = RepalignKnnOptions { similarity: 2, ..repalign_knn_options_default() };
    assert_eq!(graph(&x, 2, Some(&bad_similarity)).0, RepalignStatus::InvalidEnum);
    let bad_isa = RepalignKnnOptions { isa: 8, ..repalign_knn_options_default() };
    assert_eq!(graph(&x, 2, Some(&bad_isa)).0, RepalignStatus::InvalidEnum);
    let mut available = false;
    // SAFETY: valid out pointer.
    assert_eq!(unsafe { repalign_isa_available(1234, &mut available) }, RepalignStatus::InvalidEnum);
    assert!(repalign_isa_name(8).is_null());
}

#[test]
fn k_out_of_range() {
    let x = desc(&X, 5, 3);
    assert_eq!(graph(&x, 0, None).0, RepalignStatus::InvalidK);
    // k = N: self is excluded, so at most N - 1.
    assert_eq!(graph(&x, 5, None).0, RepalignStatus::InvalidK);
    assert!(last_error().contains("k = 5"), "{}", last_error());
    assert_eq!(graph(&x, 4, None).0, RepalignStatus::Ok);
    // A garbage k with a NULL scores pointer must not allocate rows * k.
    let mut indices = [0u32; 4];
    // SAFETY: valid descriptor and a 4-element buffer.
    let status = unsafe {
        repalign_knn_graph(
            &x,
            usize::MAX / 2,
            ptr::null(),
            indices.as_mut_ptr(),
            4,
            ptr::null_mut(),
            0,
            ptr::null_mut(),
        )
    };
    assert_eq!(status, RepalignStatus::InvalidK);
}

#[test]
fn nan_names_its_row() {
    let mut data = X;
    data[2 * 3 + 1] = f32::NAN;
    let x = desc(&data, 5, 3);
    assert_eq!(graph(&x, 2, None).0, RepalignStatus::NonFinite);
    assert_eq!(last_error(), "non-finite value (NaN or infinity) at row 2, column 1");
}

#[test]
fn shape_errors() {
    let stride_too_small = RepalignMatrix { row_stride: 2, ..desc(&X, 5, 3) };
    assert_eq!(graph(&stride_too_small, 2, None).0, RepalignStatus::StrideTooSmall);
    let too_short = RepalignMatrix { len: 14, ..desc(&X, 5, 3) };
    assert_eq!(graph(&too_short, 2, None).0, RepalignStatus::BufferTooShort);
    let overflow = RepalignMatrix { rows: usize::MAX, row_stride: usize::MAX / 2, len: 15, ..desc(&X, 5, 3) };
    assert_eq!(graph(&overflow, 2, None).0, RepalignStatus::ShapeOverflow);
    // A strided view: 3 rows of 2 columns, every 3 elements, last row unpadded (len 8).
    let strided = RepalignMatrix { rows: 3, cols: 2, row_stride: 3, len: 8, ..desc(&X, 5, 3) };
    assert_eq!(graph(&strided, 1, None).0, RepalignStatus::Ok);
    // A `len` too large to be a buffer at all.
    let huge = RepalignMatrix { len: usize::MAX, ..desc(&X, 5, 3) };
    assert_eq!(graph(&huge, 2, None).0, RepalignStatus::ShapeOverflow);
}

#[test]
fn misaligned_data_is_rejected() {
    let bytes = [0u32; 17];
    // One byte into a 68-byte buffer (still in bounds): misaligned for f32.
    let data = bytes.as_ptr().cast::<u8>().wrapping_add(1).cast();
    let x = RepalignMatrix { data, ..desc(&X, 5, 3) };
    assert_eq!(graph(&x, 2, None).0, RepalignStatus::Misaligned);
}

#[test]
fn output_too_short() {
    let x = desc(&X, 5, 3);
    let (mut i, mut s) = ([0u32; 10], [0.0f32; 10]);
    // SAFETY: buffers hold the lengths passed.
    unsafe {
        let status = repalign_knn_graph(&x, 2, ptr::null(), i.as_mut_ptr(), 9, s.as_mut_ptr(), 10, ptr::null_mut());
        assert_eq!(status, RepalignStatus::OutputTooShort);
        let status = repalign_knn_graph(&x, 2, ptr::null(), i.as_mut_ptr(), 10, s.as_mut_ptr(), 3, ptr::null_mut());
        assert_eq!(status, RepalignStatus::OutputTooShort);
    }
}

#[test]
fn search_merge_and_metrics() {
    // Queries = all rows; database split into shards {0, 1} and {2, 3, 4}.
    let (q, db) = (desc(&X, 5, 3), desc(&X, 5, 3));
    let (shard_a, shard_b) = (desc(&X[..6], 2, 3), desc(&X[6..], 3, 3));
    let (mut full_i, mut full_s) = ([0u32; 10], [0f32; 10]);
    let (mut ai, mut as_, mut bi, mut bs) = ([0u32; 10], [0f32; 10], [0u32; 10], [0f32; 10]);
    let (mut mi, mut ms) = ([0u32; 10], [0f32; 10]);
    let mut score = -1.0;
    // SAFETY: valid descriptors and buffers of the lengths passed.
    unsafe {
        let st = repalign_knn_search(
            &q,
            &db,
            2,
            ptr::null(),
            full_i.as_mut_ptr(),
            10,
            full_s.as_mut_ptr(),
            10,
            ptr::null_mut(),
        );
        assert_eq!(st, RepalignStatus::Ok);
        let st = repalign_knn_search(
            &q,
            &shard_a,
            2,
            ptr::null(),
            ai.as_mut_ptr(),
            10,
            as_.as_mut_ptr(),
            10,
            ptr::null_mut(),
        );
        assert_eq!(st, RepalignStatus::Ok);
        let st = repalign_knn_search(
            &q,
            &shard_b,
            2,
            ptr::null(),
            bi.as_mut_ptr(),
            10,
            bs.as_mut_ptr(),
            10,
            ptr::null_mut(),
        );
        assert_eq!(st, RepalignStatus::Ok);
        bi.iter_mut().for_each(|i| *i += 2);
        let (ips, sps, widths) = ([ai.as_ptr(), bi.as_ptr()], [as_.as_ptr(), bs.as_ptr()], [2usize, 2]);
        let st = repalign_knn_merge(
            ips.as_ptr(),
            sps.as_ptr(),
            widths.as_ptr(),
            2,
            5,
            2,
            mi.as_mut_ptr(),
            ms.as_mut_ptr(),
            10,
        );
        assert_eq!(st, RepalignStatus::Ok, "{}", last_error());
        assert_eq!((mi, ms), (full_i, full_s));
        let st = repalign_knn_merge(
            ips.as_ptr(),
            sps.as_ptr(),
            widths.as_ptr(),
            2,
            5,
            2,
            mi.as_mut_ptr(),
            ptr::null_mut(),
            9,
        );
        assert_eq!(st, RepalignStatus::OutputTooShort);
        let st =
            repalign_knn_merge(ptr::null(), ptr::null(), ptr::null(), 0, 5, 2, mi.as_mut_ptr(), ptr::null_mut(), 10);
        assert_eq!(st, RepalignStatus::GraphMismatch);
        let bad_widths = [usize::MAX, 2];
        let st = repalign_knn_merge(
            ips.as_ptr(),
            sps.as_ptr(),
            bad_widths.as_ptr(),
            2,
            0,
            2,
            mi.as_mut_ptr(),
            ptr::null_mut(),
            10,
        );
        assert_eq!(st, RepalignStatus::ShapeOverflow);

        // Mutual kNN of a matrix with itself is 1, from features or from graphs.
        assert_eq!(repalign_mutual_knn(&q, &q, 2, ptr::null(), &mut score), RepalignStatus::Ok);
        assert_eq!(score, 1.0);
        let (g, _, _) = graph(&q, 3, None);
        assert_eq!(g, RepalignStatus::Ok);
        let (_, gi, _) = graph(&q, 3, None);
        assert_eq!(repalign_mutual_knn_graphs(gi.as_ptr(), 3, gi.as_ptr(), 3, 5, 2, &mut score), RepalignStatus::Ok);
        assert_eq!(score, 1.0);
        let other = desc(&X[..12], 4, 3);
        assert_eq!(repalign_mutual_knn(&q, &other, 2, ptr::null(), &mut score), RepalignStatus::RowCountMismatch);
        let broken = [7u32, 1, 0, 2, 0, 1, 0, 1, 0, 1];
        let st = repalign_mutual_knn_graphs(broken.as_ptr(), 2, gi.as_ptr(), 3, 5, 2, &mut score);
        assert_eq!(st, RepalignStatus::InvalidGraph);
        let st = repalign_mutual_knn_graphs(gi.as_ptr(), usize::MAX, gi.as_ptr(), 3, 5, 2, &mut score);
        assert_eq!(st, RepalignStatus::ShapeOverflow);
    }
}

#[test]
fn half_precision_inputs_equal_f32() {
    // Values exact in f16 and bf16, so every score is bit-identical to the f32 run.
    let values: Vec<f32> = X.iter().map(|v| (v * 4.0).round() / 4.0).collect();
    let f16s: Vec<u16> = values.iter().map(|&v| repalign_core::f16::from_f32(v).to_bits()).collect();
    let bf16s: Vec<u16> = values.iter().map(|&v| repalign_core::bf16::from_f32(v).to_bits()).collect();
    let reference = graph(&desc(&values, 5, 3), 2, None);
    for (bits, dtype) in [(&f16s, RepalignDtype::F16), (&bf16s, RepalignDtype::Bf16)] {
        let m = RepalignMatrix { data: bits.as_ptr().cast(), dtype: dtype as u32, ..desc(&values, 5, 3) };
        assert_eq!(graph(&m, 2, None), reference);
    }
    // Mixed dtypes cannot be searched together.
    let f16m = RepalignMatrix { data: f16s.as_ptr().cast(), dtype: 1, ..desc(&values, 5, 3) };
    let f32m = desc(&values, 5, 3);
    let mut i = [0u32; 10];
    // SAFETY: valid descriptors and buffer.
    let st = unsafe {
        repalign_knn_search(&f16m, &f32m, 2, ptr::null(), i.as_mut_ptr(), 10, ptr::null_mut(), 0, ptr::null_mut())
    };
    assert_eq!(st, RepalignStatus::DtypeMismatch);
}

#[test]
fn isa_queries() {
    let best = repalign_isa_best();
    let mut available = false;
    // SAFETY: valid out pointer.
    assert_eq!(unsafe { repalign_isa_available(best, &mut available) }, RepalignStatus::Ok);
    assert!(available);
    assert_eq!(c_str(repalign_isa_name(best)), Some(Isa::best().name()));
    assert_eq!(c_str(repalign_isa_name(RepalignIsa::Auto as u32)), Some("auto"));
    for isa in Isa::ALL {
        let value = types::encode_isa(isa) as u32;
        // SAFETY: valid out pointer.
        assert_eq!(unsafe { repalign_isa_available(value, &mut available) }, RepalignStatus::Ok);
        assert_eq!(available, isa.is_available());
    }
    // An unavailable ISA, when this machine has one, is an error, not a silent fallback.
    if let Some(missing) = Isa::ALL.into_iter().find(|i| !i.is_available()) {
        let opts = RepalignKnnOptions { isa: types::encode_isa(missing) as u32, ..Default::default() };
        assert_eq!(graph(&desc(&X, 5, 3), 2, Some(&opts)).0, RepalignStatus::IsaUnavailable);
    }
}

#[test]
fn static_strings() {
    assert_eq!(c_str(repalign_version()), Some(repalign_core::VERSION));
    for &status in RepalignStatus::ALL {
        assert!(!c_str(repalign_status_message(status as u32)).unwrap().is_empty());
    }
    assert_eq!(c_str(repalign_status_message(9999)), Some("unrecognised status code"));
    assert_eq!(c_str(repalign_status_message(RepalignStatus::Ok as u32)), Some("ok"));
}

#[test]
fn panics_do_not_cross_the_boundary() {
    test_hook::arm();
    let (status, _, _) = graph(&desc(&X, 5, 3), 2, None);
    assert_eq!(status, RepalignStatus::Panic);
    assert!(last_error().contains("injected test panic"), "{}", last_error());
    // Infallible entry points return their documented fallback.
    test_hook::arm();
    assert!(repalign_isa_name(1).is_null());
    test_hook::arm();
    assert_eq!(c_str(repalign_last_error()), Some(""));
    // The library still works afterwards.
    assert_eq!(graph(&desc(&X, 5, 3), 2, None).0, RepalignStatus::Ok);
}

#[test]
fn last_error_is_per_thread() {
    let nan = [f32::NAN, 1.0, 2.0, 3.0];
    let failing = desc(&nan, 2, 2);
    assert_eq!(graph(&failing, 1, None).0, RepalignStatus::NonFinite);
    // Another thread's calls, failing or not, leave this thread's message alone.
    std::thread::spawn(|| {
        assert_eq!(last_error(), "");
        let bad = RepalignMatrix { dtype: 7, ..desc(&X, 5, 3) };
        assert_eq!(graph(&bad, 2, None).0, RepalignStatus::InvalidDtype);
        assert!(last_error().contains("dtype"));
    })
    .join()
    .unwrap();
    assert!(last_error().contains("row 0, column 0"), "{}", last_error());
}
