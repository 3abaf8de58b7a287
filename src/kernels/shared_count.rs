//! The calibration null's hot loop: how many neighbours two lists share when one side's
//! rows are permuted, with whole-vector compares, written once over `pulp::Simd`.

use crate::knn::GraphRef;

/// Σ_i |perm(NN_A(i)) ∩ NN_B(perm\[i\])| with each row of B in one or two vectors and each
/// mapped neighbour of A one broadcast compare against them: no marker stores, about half
/// the instructions of a marker array. `None` when k exceeds two vectors.
pub(crate) struct SharedCount<'a> {
    pub a: GraphRef<'a>,
    pub b: GraphRef<'a>,
    pub k: usize,
    pub perm: &'a [u32],
}

impl pulp::WithSimd for SharedCount<'_> {
    type Output = Option<u64>;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) -> Option<u64> {
        let lanes = S::U32_LANES;
        if self.k <= lanes {
            Some(shared_count::<S, 1>(simd, self))
        } else if self.k <= 2 * lanes {
            Some(shared_count::<S, 2>(simd, self))
        } else {
            None
        }
    }
}

#[inline(always)]
fn shared_count<S: pulp::Simd, const CHUNKS: usize>(simd: S, op: SharedCount<'_>) -> u64 {
    const ONES: [u32; 64] = [1; 64];
    let SharedCount { a, b, k, perm } = op;
    let lanes = S::U32_LANES;
    let (one, zero, none) = (simd.splat_u32s(1), simd.splat_u32s(0), simd.splat_u32s(u32::MAX));
    // Lanes past k (other rows, or a partial load's zeros) become u32::MAX, never an index.
    let valid: [S::m32s; CHUNKS] = core::array::from_fn(|c| {
        let len = (k - (c * lanes).min(k)).min(lanes);
        simd.equal_u32s(simd.partial_load_u32s(&ONES[..len]), one)
    });
    let mut hits = zero;
    let mut spare = [0u32; 128];
    for (i, &p) in perm.iter().enumerate() {
        // PERF: whole-vector loads from the row's start (lanes past k, from the next rows,
        // are masked off); a copy only for the last rows of the buffer.
        let mut from = b.rows_from(p as usize);
        if from.len() < CHUNKS * lanes {
            spare[..k].copy_from_slice(&from[..k]);
            from = &spare;
        }
        let (loaded, _) = S::as_simd_u32s(&from[..CHUNKS * lanes]);
        let vb: [S::u32s; CHUNKS] = core::array::from_fn(|c| simd.select_u32s(valid[c], loaded[c], none));
        let mut found = [simd.equal_u32s(zero, one); CHUNKS];
        for &j in a.row(i, k) {
            let mapped = simd.splat_u32s(perm[j as usize]);
            for (f, &v) in found.iter_mut().zip(&vb) {
                *f = simd.or_m32s(*f, simd.equal_u32s(v, mapped));
            }
        }
        for f in found {
            hits = simd.add_u32s(hits, simd.select_u32s(f, one, zero));
        }
    }
    // Rows hold distinct indices, so each lane of B matches at most one neighbour of A.
    bytemuck::cast_slice::<S::u32s, u32>(core::slice::from_ref(&hits)).iter().map(|&h| u64::from(h)).sum()
}
