//! Exact self kNN graphs by inner product through a certified bf16 prefilter.
//!
//! The f32 engine's cost is its multiply-adds. Where the CPU multiplies bf16 far faster than
//! f32 (AMX-BF16: 14x on one Xeon core, see `kernels::amx`; AVX-512 BF16: 1.88x on a Zen 5
//! core, `kernels::avx512_bf16`), every pair is first scored in
//! bf16, each score `a` with a rigorous bound `b` on its distance to the engine's own f32
//! score `s` ([`Bound`]): `a - b <= s <= a + b`. A row's k-th largest `a - b` over the
//! other rows, `theta`, is at most its k-th best exact score, so a candidate with
//! `a + b < theta` cannot be in its list, not even on a tie; the others ("survivors") are
//! rescored exactly: the same chain of f32 fused multiply-adds in feature order as the
//! engine's (`kernels`' contract), so their scores are the engine's bits, and the row's
//! top k among them, by [`crate::topk`]'s order, is the engine's list, bit for bit.
//!
//! Where the bound is too loose for the data (huge dynamic range, a constant massive
//! feature, near-ties everywhere), a block of rows whose survivors exceed
//! [`SURVIVOR_SHARE`] of the pairs (and 4k a row) is handed to the engine instead (a search for k + 1
//! neighbours with the row itself dropped, which is the same list), so the answer never
//! depends on the prefilter, only the time.
//!
//! Memory: a bf16 copy of the rows packed for tile B, 2 N D bytes; the bf16 scores, for
//! N <= 4096 the whole N x N matrix (at most 64 MiB: only the tiles on and right of the
//! diagonal are computed, see [`WHOLE_FLOATS`]), else per worker its unit's (at most 32
//! MiB where N allows); per worker its unit's rows packed for tile A (at most 512 rows)
//! and a few N-entry rows. With `std` the score matrix (at most 64 MiB) is kept after the
//! graph for the next one ([`Kept`]): the process holds it until then, or until
//! [`release_prefilter_memory`].

use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use pulp::{Simd, WithSimd};

use super::engine::{Job, Pairs};
use crate::dispatch;
use crate::element::{Dtype, Element};
use crate::error::{Error, Result, out_of_memory, try_vec};
use crate::exec::{Exec, Progress};
use crate::isa::Isa;
use crate::kernels::{amx, avx512_bf16};
use crate::matrix::Matrix;
use crate::pool;
use crate::topk::{SENTINEL, TopK};

/// Whether a self kNN graph by inner product goes through the bf16 prefilter. Either way
/// the graph is the same, bit for bit; only the time differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Prefilter {
    /// Where it was measured to pay, with the fastest [`Bf16Pass`] of the CPU; elsewhere
    /// the f32 engine. Always the AVX-512 backend and k <= 32, and:
    /// - AMX-BF16 (tiles the OS lets this process use): f32 rows, N >= 2048 and D >= 512
    ///   features. On the one such CPU measured (2 cores of a Xeon, Emerald Rapids; k = 10,
    ///   the fastest of alternating runs, one and two threads) the prefilter took
    ///   0.72-0.95x the engine's time from 2048 x 512 to 16384 x 768 and 4096 x 4096.
    ///   Below 2048 rows it varies too much with D: 0.87-0.95x at the paper's 1024 x 768,
    ///   but 0.9-1.2x at 1024 x 512, 1024 and 2048, and 1.15-1.45x at 512 x 768; D = 256
    ///   took 1.03-1.10x.
    /// - AVX-512 BF16 on AMD Zen 5 (family 1Ah) and Zen 4 (family 19h): f32 and f16 rows
    ///   with 2048 <= N <= 4096 and D >= 768, bf16 rows with 1024 <= N <= 4096 and D >= 512.
    ///   On 2 cores of a Zen 5, f32 rows took 0.70-0.95x the engine's time on one thread
    ///   and 0.81-0.87x on two; at N = 1024 0.96x on one thread but 1.01-1.08x on two, and
    ///   1.05-1.23x at N = 8192 and 16384 (each pair scored from both sides there). f16
    ///   rows took 0.65-0.86x from 2048 rows on; bf16 rows, their own bf16 rounding,
    ///   0.60-0.95x from 1024 x 512 on. On 2 cores of a Zen 4 the same shapes took
    ///   0.75-0.94x (f32; one round of 2048 x 2048 on two threads 1.07x, the next two
    ///   0.82-0.90x), 0.72-0.96x (f16) and 0.61-0.99x (bf16 rows; 1.04x and 1.08x in one
    ///   round each on two threads at 1024 x 512 and 1024 x 768, fastest runs 0.95x and
    ///   0.84x), and the same others did not pay (1024 x 4096 f32 1.2x, 8192 x 768
    ///   1.12-1.18x).
    ///
    /// On data that defeat its bound it hands the graph to the engine after a probe,
    /// 1.02-1.16x the engine's time at 2048 and 4096 rows (BENCHMARKS.md, issue 18). With
    /// `std` it keeps its score matrix (up to 64 MiB) for the next graph:
    /// [`release_prefilter_memory`](crate::knn::release_prefilter_memory) frees it.
    #[default]
    Auto,
    /// Never: the f32 engine alone.
    Off,
    /// For every self graph by inner product, with the fastest [`Bf16Pass`]. Without AMX
    /// or AVX-512 BF16 that is a plain scalar loop, much slower than the engine: for tests
    /// of the prefilter's logic on any CPU.
    On,
}

/// A block of rows goes to the engine when its survivors exceed this share of its pairs
/// (and 4k a row): rescoring a survivor alone costs as much as dozens of pairs in the
/// engine's tiles.
pub const SURVIVOR_SHARE: usize = 16;

/// What runs the prefilter's bf16 pass: the fastest the CPU has, [`Bf16Pass::fastest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Bf16Pass {
    /// AMX-BF16 tiles (Intel Xeon from Sapphire Rapids on, where the OS allows them).
    Amx,
    /// AVX-512 BF16 dot products, `vdpbf16ps` (AMD Zen 4 and 5, some Intel Xeons).
    Avx512Bf16,
    /// A scalar loop, much slower than the f32 engine: any CPU, for tests.
    #[default]
    Portable,
}

impl Bf16Pass {
    /// The fastest pass this process can run: AMX, else AVX-512 BF16, else the loop.
    pub fn fastest() -> Self {
        if amx::available() {
            Bf16Pass::Amx
        } else if avx512_bf16::available() {
            Bf16Pass::Avx512Bf16
        } else {
            Bf16Pass::Portable
        }
    }

    /// Whether this process can run it.
    pub fn is_available(self) -> bool {
        match self {
            Bf16Pass::Amx => amx::available(),
            Bf16Pass::Avx512Bf16 => avx512_bf16::available(),
            Bf16Pass::Portable => true,
        }
    }
}

/// What a prefiltered graph cost (for benchmarks and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrefilterStats {
    /// What ran the bf16 pass.
    pub pass: Bf16Pass,
    /// Pairs rescored exactly (a row's survivors, summed over rows).
    pub rescored: u64,
    /// Rows whose block went to the engine instead.
    pub fallback_rows: usize,
    /// Of the pairs rescored, those whose exact score came from the other row's list
    /// (mutual survivors: the score of (i, j) is that of (j, i), bit for bit).
    pub shared: u64,
}

/// Totals over every prefiltered graph of this process (`amx`: whether the last used AMX).
static RESCORED: AtomicUsize = AtomicUsize::new(0);
static FALLBACK_ROWS: AtomicUsize = AtomicUsize::new(0);
static GRAPHS: AtomicUsize = AtomicUsize::new(0);

/// Benchmark support (hidden from the docs): pairs rescored and rows handed to the engine
/// by every prefiltered graph of this process so far, and how many graphs that was.
#[doc(hidden)]
pub fn prefilter_totals() -> (usize, usize, usize) {
    (RESCORED.load(Relaxed), FALLBACK_ROWS.load(Relaxed), GRAPHS.load(Relaxed))
}

/// Whether `mode` sends a self graph of `rows x cols` with `k` neighbours, `dtype` rows on
/// backend `isa`, through the prefilter.
pub(crate) fn chosen(mode: Prefilter, rows: usize, cols: usize, k: usize, dtype: Dtype, isa: Isa) -> bool {
    match mode {
        Prefilter::Off => false,
        Prefilter::On => fits(rows, cols),
        Prefilter::Auto => auto(rows, cols, k, dtype, isa, Bf16Pass::fastest()),
    }
}

/// Whether the prefilter can take `rows x cols` at all (its bound, u32 indices).
fn fits(rows: usize, cols: usize) -> bool {
    Bound::new(cols).is_some() && rows <= u32::MAX as usize
}

/// [`Prefilter::Auto`]'s choice with the bf16 pass `pass`: where it was measured to pay
/// ([`AutoRule`]).
fn auto(rows: usize, cols: usize, k: usize, dtype: Dtype, isa: Isa, pass: Bf16Pass) -> bool {
    // PERF: the rescoring's fast path is AVX-512's.
    #[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
    let avx512 = isa == Isa::X86V4;
    #[cfg(not(all(target_arch = "x86_64", feature = "x86-v4")))]
    let avx512 = {
        let _ = isa;
        false
    };
    let rule = match (pass, dtype) {
        (Bf16Pass::Amx, Dtype::F32) => AMX_RULE,
        (Bf16Pass::Avx512Bf16, Dtype::F32 | Dtype::F16) if avx512_bf16::measured_to_pay() => AVX512_BF16_RULE,
        (Bf16Pass::Avx512Bf16, Dtype::Bf16) if avx512_bf16::measured_to_pay() => AVX512_BF16_BF16_ROWS,
        _ => return false,
    };
    fits(rows, cols)
        && avx512
        && (rule.min_rows..=rule.max_rows).contains(&rows)
        && cols >= rule.min_cols
        && k <= rule.max_k
}

/// The shapes where [`Prefilter::Auto`] runs the prefilter with one bf16 pass.
struct AutoRule {
    min_rows: usize,
    max_rows: usize,
    min_cols: usize,
    max_k: usize,
}

/// AMX, f32 rows (BENCHMARKS.md, issue 18, eighth round: Emerald Rapids). Half-precision
/// rows are unmeasured there.
const AMX_RULE: AutoRule = AutoRule { min_rows: 2048, max_rows: usize::MAX, min_cols: 512, max_k: 32 };

/// AVX-512 BF16, f32 and f16 rows (ninth and tenth rounds: Zen 5; thirteenth: Zen 4, where
/// the same shapes paid and the same others did not). Only the whole layout
/// (N <= 4096) pays: the block layout scores each pair from both sides, twice the pass's
/// work, and took 1.05-1.23x the engine's time at 8192 and 16384 x 768. f16 rows took
/// 0.95-1.05x at 1024 x 768 and 0.65-0.86x from 2048 rows on.
const AVX512_BF16_RULE: AutoRule = AutoRule { min_rows: 2048, max_rows: 4096, min_cols: 768, max_k: 32 };

/// AVX-512 BF16, bf16 rows (tenth round: Zen 5; thirteenth: Zen 4). A bf16 row is its own
/// bf16 rounding, so the bound is the sums' rounding alone and few pairs survive: on Zen 5
/// 0.60-0.95x the engine's time from 1024 x 512 to 4096 x 4096 (one and two threads), but
/// 0.99-1.14x at 512 x 768, up to 1.26x at 1024 x 256 on two threads, and 1.01-1.07x at
/// 8192 and 16384 x 768.
const AVX512_BF16_BF16_ROWS: AutoRule = AutoRule { min_rows: 1024, max_rows: 4096, min_cols: 512, max_k: 32 };

/// `|s - a| <= b` for the engine's f32 score `s` of rows x, y and the bf16 pass's `a`:
///
/// `b = (engine |x| + |e_x|) |y| + tiles |x^| |y^| + |x^| |e_y|`, times `1 + 2^-16`, plus
/// `floor`, where x^ is x rounded to bf16 (denormals flushed to zero), e_x = x - x^, and
/// |.| are L2 norms (each rounded up). The terms:
/// - the engine's chain of D fused multiply-adds: |s - x.y| <= gamma_D sum |x_p y_p|
///   <= gamma_D |x||y|, with gamma_D = D u / (1 - D u), u = 2^-24 (`engine`);
/// - rounding the inputs: |x.y - x^.y^| = |e_x.y + x^.e_y| <= |e_x||y| + |x^||e_y|;
/// - the pass: bf16 products are exact in f32, and D sums in any order, each rounded with
///   relative error at most 2u (round to nearest needs u; 2u also covers a truncating
///   unit): gamma'_{D + 2} |x^||y^| (`tiles`; the two extra u's cover rounding a +- b);
/// - flushed denormal products and sums, each off by less than 2^-126: `floor`;
/// - the factor covers evaluating b itself in f32 (three multiply-adds of non-negative
///   terms).
#[derive(Debug, Clone, Copy)]
struct Bound {
    engine: f32,
    tiles: f32,
    floor: f32,
}

/// The bound's relative inflation (see [`Bound`]).
const INFLATE: f32 = 1.0 + 1.0 / 65536.0;

impl Bound {
    /// The constants for `d` features; `None` when D is so large that gamma is not < 1/2.
    fn new(d: usize) -> Option<Self> {
        let u = f64::from(f32::EPSILON) / 2.0;
        let gamma = |n: f64| (n * u < 0.5).then(|| n * u / (1.0 - n * u));
        let d = d as f64;
        Some(Bound {
            engine: up(gamma(d)?),
            tiles: up(gamma(2.0 * d + 4.0)?),
            floor: up((2.0 * d + 2.0) * f64::from(f32::MIN_POSITIVE)),
        })
    }
}

/// Row i's factors of the bound: `(engine |x_i| + |e_i|, tiles |x^_i|, |x^_i|)`.
#[derive(Debug, Clone, Copy)]
struct RowBound {
    alpha: f32,
    beta: f32,
    hat: f32,
    floor: f32,
}

impl Bound {
    /// Row `i`'s factors (rounded up: non-negative products).
    fn row(&self, q: &Quantized, i: usize) -> RowBound {
        RowBound {
            alpha: up(f64::from(self.engine) * f64::from(q.norm[i]) + f64::from(q.err[i])),
            beta: up(f64::from(self.tiles) * f64::from(q.hat[i])),
            hat: q.hat[i],
            floor: self.floor,
        }
    }
}

impl RowBound {
    /// The bound of the pair (i, j), from column j's |x_j|, |x^_j|, |e_j|.
    #[inline(always)]
    fn pair(&self, norm: f32, hat: f32, err: f32) -> f32 {
        (self.alpha * norm + self.beta * hat + self.hat * err) * INFLATE + self.floor
    }
}

/// `v` as an f32 at least as large (v >= 0, finite).
fn up(v: f64) -> f32 {
    let f = v as f32;
    if f64::from(f) < v { f.next_up() } else { f }
}

/// The rows in bf16, packed for tile B, and the norms the bound needs.
struct Quantized {
    /// Features padded to a multiple of the tiles' depth.
    depth: usize,
    /// Candidates in blocks of 16 rows, tile-stream layout (`kernels::amx`), padded with zero
    /// rows to a multiple of 32.
    packed: Vec<u32>,
    /// Per row: |x|, |x^|, |e_x| (each rounded up).
    norm: Vec<f32>,
    hat: Vec<f32>,
    err: Vec<f32>,
    /// The largest |x|, |x^|, |e_x| over the rows: with them [`RowBound::pair`] bounds
    /// every pair of a row at once (see [`row_survivors`]).
    most: [f32; 3],
}

/// Rows per unit of quantisation work (a multiple of 16).
const QUANT_ROWS: usize = 64;

/// `v` rounded to bf16 bits, to nearest even (finite `v`). AMX reads denormal inputs as
/// zero, so they (and -0) become +0 here: x - x^ then holds what the pass really
/// multiplies.
#[inline(always)]
fn bf16_bits(v: f32) -> u32 {
    let u = v.to_bits();
    let h = u.wrapping_add(0x7fff + ((u >> 16) & 1)) >> 16;
    if h & 0x7f80 == 0 { 0 } else { h }
}

fn quantize<T: Element>(x: &Matrix<'_, T>, threads: usize, isa: Isa) -> Result<Quantized> {
    let (n, d) = (x.rows(), x.cols());
    let depth = d.div_ceil(amx::DEPTH) * amx::DEPTH;
    let np = n.div_ceil(2 * amx::ROWS) * 2 * amx::ROWS;
    let len = np.checked_mul(depth / 2).ok_or(Error::ShapeOverflow)?;
    let mut packed = try_vec(len, 0u32, "the prefilter's packed bf16 rows")?;
    let (mut norm, mut hat, mut err) = (
        try_vec(n, 0.0f32, "the prefilter's norms")?,
        try_vec(n, 0.0f32, "the prefilter's norms")?,
        try_vec(n, 0.0f32, "the prefilter's norms")?,
    );
    let items: Vec<_> = packed
        .chunks_mut(QUANT_ROWS * depth / 2)
        .zip(norm.chunks_mut(QUANT_ROWS))
        .zip(hat.chunks_mut(QUANT_ROWS))
        .zip(err.chunks_mut(QUANT_ROWS))
        .enumerate()
        .collect();
    pool::map(threads, items, |(u, (((packed, norm), hat), err))| {
        dispatch::run(isa, QuantizeRows { x, r0: u * QUANT_ROWS, depth, packed, norm, hat, err, isa })
    })
    .into_iter()
    .collect::<Result<Vec<()>>>()?;
    let largest = |v: &[f32]| v.iter().fold(0.0f32, |m, &x| m.max(x));
    let most = [largest(&norm), largest(&hat), largest(&err)];
    Ok(Quantized { depth, packed, norm, hat, err, most })
}

/// Rounds rows `r0..` (as many as `norm` holds) to bf16 into `packed` (tile B's layout)
/// and computes their norms, on one backend.
struct QuantizeRows<'a, 'q, T> {
    x: &'a Matrix<'a, T>,
    r0: usize,
    depth: usize,
    packed: &'q mut [u32],
    norm: &'q mut [f32],
    hat: &'q mut [f32],
    err: &'q mut [f32],
    isa: Isa,
}

/// Features per chunk of quantisation.
const CHUNK: usize = 256;

impl<T: Element> WithSimd for QuantizeRows<'_, '_, T> {
    type Output = ();

    // PERF: plain loops over fixed-size arrays, one simple map each, which the backend's
    // target features vectorise (one loop doing all of it took 2.2 ns an element at
    // 1024 x 768, a fifth of the prefiltered graph); 16 rows at a time, so the packed
    // lines are written in order.
    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        let QuantizeRows { x, r0, depth, packed, norm, hat, err, isa } = self;
        let d = x.cols();
        // The f64 sums of D exact squares are off by at most D 2^-53 relative.
        let slack = 1.0 + (d as f64 + 4.0) * f64::EPSILON;
        let mut words = [[0u32; CHUNK / 2]; amx::ROWS];
        let (mut wide, mut bits, mut rounded, mut error) =
            ([0.0f32; CHUNK], [0u32; CHUNK], [0.0f32; CHUNK], [0.0f32; CHUNK]);
        for (g, dst) in packed.chunks_exact_mut(depth / 2 * amx::ROWS).enumerate() {
            let rows = norm.len().saturating_sub(g * amx::ROWS).min(amx::ROWS);
            if rows == 0 {
                break;
            }
            let mut sums = [[0.0f64; 3]; amx::ROWS];
            for c0 in (0..depth).step_by(CHUNK) {
                let cn = CHUNK.min(depth - c0);
                for (l, w) in words.iter_mut().enumerate() {
                    let w = &mut w[..cn / 2];
                    if l >= rows || c0 >= d {
                        w.fill(0);
                        continue;
                    }
                    let len = cn.min(d - c0);
                    T::widen(&x.row(r0 + g * amx::ROWS + l)[c0..c0 + len], &mut wide[..len]);
                    wide[len..cn].fill(0.0);
                    for (b, &v) in bits[..cn].iter_mut().zip(&wide[..cn]) {
                        *b = bf16_bits(v);
                    }
                    // Exact in f32: the rounding error of a narrower format (or v).
                    for (((r, e), &b), &v) in
                        rounded[..cn].iter_mut().zip(&mut error[..cn]).zip(&bits[..cn]).zip(&wide[..cn])
                    {
                        *r = f32::from_bits(b << 16);
                        *e = v - *r;
                    }
                    for (sum, values) in sums[l].iter_mut().zip([&wide, &rounded, &error]) {
                        *sum += squares(&values[..cn]);
                    }
                    for (w, pair) in w.iter_mut().zip(bits[..cn].chunks_exact(2)) {
                        *w = pair[0] | (pair[1] << 16);
                    }
                }
                // Line p of the block: features 2p and 2p + 1 of each of its 16 rows.
                lines(&words, cn / 2, &mut dst[c0 / 2 * amx::ROWS..(c0 + cn) / 2 * amx::ROWS], isa);
            }
            for (l, s) in sums.iter().enumerate().take(rows) {
                let total = |s: f64| up(libm::sqrt(s * slack) * slack);
                let r = g * amx::ROWS + l;
                (norm[r], hat[r], err[r]) = (total(s[0]), total(s[1]), total(s[2]));
            }
        }
    }
}

/// The sum of the squares of `v` in f64 (each square exact), in 8 lanes.
#[inline(always)]
fn squares(v: &[f32]) -> f64 {
    const LANES: usize = 8;
    let mut acc = [0.0f64; LANES];
    let chunks = v.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += f64::from(x) * f64::from(x);
        }
    }
    tail.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>() + acc.iter().sum::<f64>()
}

/// `dst[p * 16 + l] = words[l][p]` for `p < count` (a multiple of 16): the 16 rows' words
/// interleaved into tile B's lines.
#[inline(always)]
fn lines(words: &[[u32; CHUNK / 2]; amx::ROWS], count: usize, dst: &mut [u32], isa: Isa) {
    #[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
    if isa == Isa::X86V4 {
        // SAFETY: the x86-v4 backend runs only where AVX-512F is present.
        unsafe { lines_avx512(words, count, dst) };
        return;
    }
    let _ = isa;
    for (p, line) in dst[..count * amx::ROWS].chunks_exact_mut(amx::ROWS).enumerate() {
        for (w, row) in line.iter_mut().zip(words) {
            *w = row[p];
        }
    }
}

/// [`lines`] by 16 x 16 transposes in registers (`count` a multiple of 16).
///
/// # Safety
/// AVX-512F must be present.
#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
#[target_feature(enable = "avx512f")]
unsafe fn lines_avx512(words: &[[u32; CHUNK / 2]; amx::ROWS], count: usize, dst: &mut [u32]) {
    debug_assert!(count.is_multiple_of(16));
    use core::arch::x86_64::*;
    for p0 in (0..count).step_by(16) {
        let square: [__m512; 16] = core::array::from_fn(|l| {
            let src = &words[l][p0..p0 + 16];
            // SAFETY: 16 words of a slice of 16.
            unsafe { _mm512_castsi512_ps(_mm512_loadu_si512(src.as_ptr().cast())) }
        });
        for (p, v) in transpose16(square).into_iter().enumerate() {
            let out = &mut dst[(p0 + p) * amx::ROWS..(p0 + p + 1) * amx::ROWS];
            // SAFETY: 16 words into a slice of 16.
            unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), _mm512_castps_si512(v)) };
        }
    }
}

/// Query rows `r0..r0 + rn` (zero rows past N) in bf16 for tile A: per pair of tiles
/// (32 rows), each tile's stream (`kernels::amx`) of 16 rows, 32 features a step.
fn query_tiles<T: Element>(x: &Matrix<'_, T>, r0: usize, rn: usize, depth: usize, out: &mut [u16]) {
    let rows_pad = rn.div_ceil(2 * amx::ROWS) * 2 * amx::ROWS;
    out[..rows_pad * depth].fill(0);
    let mut wide = [0.0f32; amx::DEPTH];
    for r in 0..rn {
        let (t, l) = (r / amx::ROWS, r % amx::ROWS);
        let row = x.row(r0 + r);
        for (s, src) in row.chunks(amx::DEPTH).enumerate() {
            let w = &mut wide[..src.len()];
            T::widen(src, w);
            let dst = &mut out[stream_at(depth, t, s) + l * amx::DEPTH..][..src.len()];
            for (o, &v) in dst.iter_mut().zip(w.iter()) {
                *o = bf16_bits(v) as u16;
            }
        }
    }
}

/// Where step `s` (features `32 s..32 s + 32`) of tile `t` (rows `16 t..16 t + 16`) starts
/// in a tile stream of `depth` features (`kernels::amx`): in the query tiles, bf16 values
/// ([`query_tiles`]), 16 rows of 32 a step; half that in the candidates' packed words
/// ([`Quantized::packed`]: two bf16 a word).
#[inline(always)]
fn stream_at(depth: usize, t: usize, s: usize) -> usize {
    t * amx::ROWS * depth + s * amx::ROWS * amx::DEPTH
}

/// Rows per unit of the bf16 pass and of the selection: in the block layout a worker's
/// scores are `rows x N` floats, at most 32 MiB where N allows; at least 32 rows, at most
/// 512, and at most a quarter of N (work for more than one thread).
///
/// PERF: each unit streams every candidate's bf16 row from L3 once, so the unit's rows
/// are the candidates' reuse. A C replica of the pass on Emerald Rapids ran at 310-410 G
/// multiply-adds a second with 128 rows and 470-520 with 512 at 4096 x 4096 (150 against
/// 500 at 16384 x 768); the tiles' peak is about 1,180, and 700-970 with both operands
/// in L2.
fn block_rows(np: usize) -> usize {
    ((32 << 20) / 4 / np.max(1)).min(np / 4).div_ceil(32).saturating_mul(32).clamp(32, MAX_BLOCK_ROWS)
}

/// The most rows in a unit (the selection keeps a count per row on the stack).
const MAX_BLOCK_ROWS: usize = 512;

/// Rows of the first unit, run alone to see whether the bound works on these data.
const PROBE_ROWS: usize = 2 * amx::ROWS;

/// The whole matrix of bf16 scores (`np x np` f32) is kept where it holds at most this
/// many floats (64 MiB: N <= 4096). Then the pass computes only the tiles on and right of
/// each row pair's diagonal tile, about half the multiply-adds, and a row's scores left
/// of its diagonal tile are its column's ([`mirror`]). The bound allows that: it asks of
/// `a` only that it be some sum of the pair's exact bf16 products ([`Bound`]), and the
/// products of (i, j) are those of (j, i). Larger N keeps each unit's rows alone (the
/// block layout), every pair scored from both sides.
///
/// PERF: at 1024 x 768 on one thread the pass was a quarter of the prefiltered graph.
pub(crate) const WHOLE_FLOATS: usize = 16 << 20;

/// Rows per unit of the pass and of the selection in the whole layout, where a unit's rows
/// need no memory of their own: N / 16 (64 to 512, a multiple of 32), so that threads
/// share the work evenly (a row's pass work falls with its index) while a unit's rows
/// still reuse each candidate tile the pass loads.
///
/// PERF: at 1024 x 768 on two threads, 64-row units took 0.89-0.91x the engine's time
/// against 1.02-1.13x with [`block_rows`]' 256 (the fastest of 11 runs, 4 rounds): the
/// first unit held 45% of the pass's work, and this VM's two cores differ in speed by up
/// to 1.7x. At 2048 x 768 (two threads) 128 rows took 0.81-1.01x against 0.96-1.01x with
/// 64 and 1.15-1.35x with 512.
fn whole_unit_rows(np: usize) -> usize {
    (np / 16).clamp(64, MAX_BLOCK_ROWS) / 32 * 32
}

/// The first column row `i` scores itself in the whole layout: its row pair's diagonal
/// tile (scores left of it come from the column).
#[inline(always)]
fn diagonal(i: usize) -> usize {
    i / PROBE_ROWS * PROBE_ROWS
}

/// A score matrix (the whole layout's, or the probe's block) of at most this many floats
/// (64 MiB) is kept after a graph for the next one (with `std`; see [`Kept`]).
#[cfg(feature = "std")]
const KEPT_FLOATS: usize = WHOLE_FLOATS;

#[cfg(feature = "std")]
static KEPT: pool::Lock<Vec<f32>> = pool::Lock::new(Vec::new());

/// Frees the score matrix that prefiltered graphs keep for the next one (with `std`; up to
/// 64 MiB, N x N floats for N <= 4096 rows); returns its size in bytes. The next
/// prefiltered graph allocates a new one (at 4096 x 768 that cost a third of its time).
pub fn release_prefilter_memory() -> usize {
    #[cfg(feature = "std")]
    {
        core::mem::take(&mut *KEPT.lock()).len() * size_of::<f32>()
    }
    #[cfg(not(feature = "std"))]
    0
}

/// The memory for a graph's score matrix: the matrix kept from an earlier graph where it
/// is large enough, else a new one; kept for the next graph on drop if at most
/// [`KEPT_FLOATS`] ([`release_prefilter_memory`] frees it). Its old scores are never read:
/// the pass writes every score the selection reads, or [`mirror`] copies one the pass
/// wrote.
///
/// PERF: a sweep computes dozens of graphs of one size. A new matrix a graph was zeroed
/// on the calling thread and its pages faulted in, 35-42 ms for 64 MiB (4096 rows).
/// Prefilter / engine time with a new matrix against a kept one (same process):
/// - 1024 x 768: one thread 0.95-1.00x against 0.87-0.91x; two 1.11-1.20x against
///   1.02-1.08x (4 rounds);
/// - 4096 x 768: one thread 1.12x against 0.74x; two 1.50x against 0.72x.
struct Kept {
    scores: Vec<f32>,
    len: usize,
}

impl Kept {
    fn take(len: usize) -> Result<Self> {
        #[cfg(feature = "std")]
        {
            let kept = core::mem::take(&mut *KEPT.lock());
            if kept.len() >= len {
                return Ok(Kept { scores: kept, len });
            }
        }
        Ok(Kept { scores: try_vec(len, 0.0f32, "the prefilter's bf16 scores")?, len })
    }

    fn scores(&mut self) -> &mut [f32] {
        &mut self.scores[..self.len]
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        #[cfg(feature = "std")]
        if self.scores.len() <= KEPT_FLOATS {
            let mut slot = KEPT.lock();
            // The larger of the two stays (another graph may have put one back meanwhile).
            if slot.len() < self.scores.len() {
                *slot = core::mem::take(&mut self.scores);
            }
        }
    }
}

/// One unit of query rows and its output lists.
struct Unit<'o> {
    r0: usize,
    indices: &'o mut [u32],
    scores: &'o mut [f32],
}

/// What every worker of one graph reads.
struct Context<'a, T> {
    x: &'a Matrix<'a, T>,
    q: &'a Quantized,
    bound: Bound,
    k: usize,
    isa: Isa,
    pass: Bf16Pass,
    /// Columns of a row of scores: N padded to a multiple of 32.
    np: usize,
    shared: Shared<'a>,
}

/// A unit's survivors and their exact scores, for the units after it.
struct Rescored {
    r0: usize,
    /// Row r's survivors are `survivors[ends[r - 1]..ends[r]]` (in column order).
    ends: Vec<usize>,
    survivors: Vec<u32>,
    exact: Vec<f32>,
}

/// Every unit's [`Rescored`], set once the unit is done. PERF: about 86% of the survivor
/// pairs are mutual on Gaussian rows (j survives for i and i for j), and the engine's
/// score of (i, j) is that of (j, i) bit for bit (the same chain of fused multiply-adds
/// of the same products), so a unit takes the score of (i, j), j in an earlier unit,
/// from j's list where that unit is done, instead of streaming both rows again.
struct Shared<'a> {
    units: &'a [pool::Once<Rescored>],
    /// The first unit's rows, and every other unit's (the last may have fewer).
    probe: usize,
    rows: usize,
}

impl Shared<'_> {
    fn unit(&self, row: usize) -> usize {
        if row < self.probe { 0 } else { 1 + (row - self.probe) / self.rows }
    }

    /// The exact score of (j, i) where j's unit is done and i survived for j.
    fn score(&self, j: usize, i: usize) -> Option<f32> {
        let done = self.units.get(self.unit(j))?.get()?;
        let r = j - done.r0;
        let start = if r == 0 { 0 } else { done.ends[r - 1] };
        let list = &done.survivors[start..done.ends[r]];
        let p = list.binary_search(&(i as u32)).ok()?;
        Some(done.exact[start + p])
    }

    /// Sets the unit of row `r0` done with its rows' survivors and scores (skipped where
    /// memory for the copies is refused: later units then rescore those pairs).
    fn publish(&self, r0: usize, ends: &[usize], survivors: &[u32], exact: &[f32]) {
        fn copy<V: Copy>(v: &[V]) -> Option<Vec<V>> {
            let mut c = Vec::new();
            c.try_reserve_exact(v.len()).ok()?;
            c.extend_from_slice(v);
            Some(c)
        }
        let (Some(ends), Some(survivors), Some(exact)) = (copy(ends), copy(survivors), copy(exact)) else {
            return;
        };
        if let Some(slot) = self.units.get(self.unit(r0)) {
            let _ = slot.set(Rescored { r0, ends, survivors, exact });
        }
    }
}

/// The self graph of `x` by inner product into `indices` / `scores` (`N x k`, sorted best
/// first, as [`super::graph`]), through the prefilter, with the bf16 pass on `pass` where
/// this process can run it, else the portable loop (tests run each), in the whole
/// layout where N x N floats are at most `whole_floats` ([`WHOLE_FLOATS`]; tests run both
/// layouts). `x` is checked (finite, bounded). `None` when the first unit of rows showed
/// the bound useless for these data: the caller then runs the engine (the output buffers
/// hold no result).
#[allow(clippy::too_many_arguments)]
pub(crate) fn graph<T: Element>(
    x: Matrix<'_, T>,
    k: usize,
    exec: &Exec<'_>,
    threads: usize,
    isa: Isa,
    indices: &mut [u32],
    scores: &mut [f32],
    pass: Bf16Pass,
    whole_floats: usize,
) -> Result<Option<PrefilterStats>> {
    let n = x.rows();
    let bound = Bound::new(x.cols()).ok_or(Error::InvalidParameter { what: "too many features for the prefilter" })?;
    let pass = if pass.is_available() { pass } else { Bf16Pass::Portable };
    let q = quantize(&x, threads, isa)?;
    let np = q.packed.len() * 2 / q.depth;
    let whole = np.checked_mul(np).filter(|&len| len <= whole_floats);
    let rb = if whole.is_some() { whole_unit_rows(np) } else { block_rows(np) };
    let probe = PROBE_ROWS.min(n);
    let units = 1 + (n - probe).div_ceil(rb);
    let mut done = Vec::new();
    done.try_reserve_exact(units).map_err(|_| out_of_memory::<pool::Once<Rescored>>(units, "the prefilter's units"))?;
    done.extend((0..units).map(|_| pool::Once::new()));
    let shared = Shared { units: &done, probe, rows: rb };
    let cx = Context { x: &x, q: &q, bound, k, isa, pass, np, shared };
    // The first unit, PROBE_ROWS rows, runs alone: it tells whether the data defeat the
    // bound (a constant massive feature, near-ties everywhere) before every thread has
    // spent a whole unit on them. Then the whole graph goes to the engine's self-graph
    // path rather than unit by unit to searches, which cost twice its work.
    let (first_indices, rest_indices) = indices.split_at_mut(probe * k);
    let (first_scores, rest_scores) = scores.split_at_mut(probe * k);
    let rest: Vec<Unit<'_>> = rest_indices
        .chunks_mut(rb * k)
        .zip(rest_scores.chunks_mut(rb * k))
        .enumerate()
        .map(|(u, (indices, scores))| Unit { r0: probe + u * rb, indices, scores })
        .collect();
    let total = rest.len() + 1;
    exec.report(Progress::Blocks { done: 0, total });
    let mut kept = Kept::take(whole.unwrap_or(PROBE_ROWS * np))?;
    let matrix = kept.scores();
    let mut stats = PrefilterStats { pass, ..PrefilterStats::default() };
    {
        let block = &mut matrix[..PROBE_ROWS * np];
        Pass::new(&cx, PROBE_ROWS)?.run(&cx, 0, probe, false, block);
        let segments: Vec<[&[f32]; 2]> = block.chunks(np).take(probe).map(|row| [&[][..], &row[..n]]).collect();
        let first = Unit { r0: 0, indices: first_indices, scores: first_scores };
        match dispatch::run(isa, Select::new(&cx, &segments, &mut Rows::new(&cx)?, first))? {
            Ok((rescored, shared)) => stats.add(PrefilterStats { rescored, shared, ..PrefilterStats::default() }),
            Err(_) => {
                exec.check()?;
                FALLBACK_ROWS.fetch_add(n, Relaxed);
                GRAPHS.fetch_add(1, Relaxed);
                return Ok(None);
            }
        }
    }
    let inner = exec.one_job();
    let results = if whole.is_some() {
        // The tiles on and right of the diagonal, every unit's rows (padding included).
        let parts: Vec<(usize, &mut [f32])> =
            matrix[PROBE_ROWS * np..].chunks_mut(rb * np).enumerate().map(|(u, s)| (PROBE_ROWS + u * rb, s)).collect();
        pool::workers(threads, parts, |parts| -> Result<()> {
            let mut pass = Pass::new(&cx, rb)?;
            for (_, (r0, block)) in parts {
                if exec.cancelled() {
                    break;
                }
                pass.run(&cx, r0, (block.len() / np).min(n.saturating_sub(r0)), true, block);
            }
            Ok(())
        })
        .into_iter()
        .collect::<Result<()>>()?;
        exec.check()?;
        // Each row split at its diagonal tile: the scores it owns on the right, read by the
        // rows below; on the left the column's, which its unit fills.
        let (mut lowers, mut uppers) = (Vec::new(), Vec::new());
        lowers.try_reserve_exact(n).map_err(|_| out_of_memory::<&[f32]>(n, "the prefilter's rows"))?;
        uppers.try_reserve_exact(n).map_err(|_| out_of_memory::<&[f32]>(n, "the prefilter's rows"))?;
        for (i, row) in matrix.chunks_mut(np).take(n).enumerate() {
            let (lower, upper) = row.split_at_mut(diagonal(i));
            lowers.push(lower);
            uppers.push(&*upper);
        }
        let uppers = &uppers;
        let items: Vec<_> = rest.into_iter().zip(lowers[probe..].chunks_mut(rb)).collect();
        pool::workers(threads, items, |items| -> Result<PrefilterStats> {
            let mut rows = Rows::new(&cx)?;
            let mut stats = PrefilterStats::default();
            for (u, (unit, lowers)) in items {
                exec.report(Progress::Blocks { done: u + 1, total });
                if exec.cancelled() {
                    break;
                }
                mirror(uppers, unit.r0, lowers, isa);
                let segments: Vec<[&[f32]; 2]> =
                    lowers.iter().zip(&uppers[unit.r0..]).map(|(lo, up)| [&**lo, &up[..n - lo.len()]]).collect();
                stats.add(select_or_engine(&cx, &segments, &mut rows, unit, &inner)?);
            }
            Ok(stats)
        })
    } else {
        pool::workers(threads, rest, |units| -> Result<PrefilterStats> {
            let mut pass = Pass::new(&cx, rb)?;
            let mut rows = Rows::new(&cx)?;
            let mut block =
                try_vec(rb.checked_mul(np).ok_or(Error::ShapeOverflow)?, 0.0f32, "a prefilter worker's scores")?;
            let mut stats = PrefilterStats::default();
            for (u, unit) in units {
                exec.report(Progress::Blocks { done: u + 1, total });
                if exec.cancelled() {
                    break;
                }
                let rn = unit.indices.len() / k;
                pass.run(&cx, unit.r0, rn, false, &mut block);
                let segments: Vec<[&[f32]; 2]> = block.chunks(np).take(rn).map(|row| [&[][..], &row[..n]]).collect();
                stats.add(select_or_engine(&cx, &segments, &mut rows, unit, &inner)?);
            }
            Ok(stats)
        })
    };
    for r in results {
        stats.add(r?);
    }
    exec.check()?;
    exec.report(Progress::Blocks { done: total, total });
    RESCORED.fetch_add(stats.rescored as usize, Relaxed);
    FALLBACK_ROWS.fetch_add(stats.fallback_rows, Relaxed);
    GRAPHS.fetch_add(1, Relaxed);
    Ok(Some(stats))
}

impl PrefilterStats {
    fn add(&mut self, other: PrefilterStats) {
        self.rescored += other.rescored;
        self.fallback_rows += other.fallback_rows;
        self.shared += other.shared;
    }
}

/// A unit's lists from its rows' scores (`segments`: per row, two slices of its N
/// scores in order), or from the engine where the survivors exceed the budget.
fn select_or_engine<T: Element>(
    cx: &Context<'_, T>,
    segments: &[[&[f32]; 2]],
    rows: &mut Rows,
    unit: Unit<'_>,
    inner: &Exec<'_>,
) -> Result<PrefilterStats> {
    let rn = segments.len();
    Ok(match dispatch::run(cx.isa, Select::new(cx, segments, rows, unit))? {
        Ok((rescored, shared)) => PrefilterStats { rescored, shared, ..PrefilterStats::default() },
        Err(unit) => {
            engine_rows(cx.x, cx.k, unit, cx.isa, inner)?;
            PrefilterStats { fallback_rows: rn, ..PrefilterStats::default() }
        }
    })
}

/// Row `i`'s scores left of its diagonal tile, for the unit's rows from `r0`: column i
/// of the rows above, `lowers[r][j] = uppers[j][i - diagonal(j)]` for `i = r0 + r`.
fn mirror(uppers: &[&[f32]], r0: usize, lowers: &mut [&mut [f32]], isa: Isa) {
    #[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
    let done = if isa == Isa::X86V4 {
        // SAFETY: the x86-v4 backend runs only where AVX-512F is present.
        unsafe { mirror_avx512(uppers, r0, lowers) }
    } else {
        0
    };
    #[cfg(not(all(target_arch = "x86_64", feature = "x86-v4")))]
    let done = {
        let _ = isa;
        0
    };
    // PERF: 16 columns at a time, so the 16 source rows are read in order (scalar, it
    // took 9% of a prefiltered 1024 x 768 graph; 16 x 16 transposes in registers, above).
    const STRIP: usize = 16;
    let lowers = &mut lowers[done..];
    let most = lowers.iter().map(|l| l.len()).max().unwrap_or(0);
    for j0 in (0..most).step_by(STRIP) {
        let sources = &uppers[j0..most.min(j0 + STRIP)];
        for (r, lower) in lowers.iter_mut().enumerate() {
            let i = r0 + done + r;
            for (j, (dst, src)) in lower.iter_mut().skip(j0).zip(sources).enumerate() {
                *dst = src[i - diagonal(j0 + j)];
            }
        }
    }
}

/// [`mirror`] for the unit's first rows in groups of 16, by 16 x 16 transposes in
/// registers; returns the rows done (a multiple of 16: the rest are left to the caller).
/// The 16 rows of a group share their diagonal (a multiple of 32, as the unit's first
/// row), so a group's scores left of it are whole 16 x 16 squares.
///
/// # Safety
/// AVX-512F must be present.
#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
#[target_feature(enable = "avx512f")]
unsafe fn mirror_avx512(uppers: &[&[f32]], r0: usize, lowers: &mut [&mut [f32]]) -> usize {
    use core::arch::x86_64::*;
    let full = lowers.len() / 16 * 16;
    for (g, group) in lowers[..full].chunks_exact_mut(16).enumerate() {
        let i0 = r0 + 16 * g;
        let width = diagonal(i0);
        for j0 in (0..width).step_by(16) {
            // Rows j0.. above, columns i0..i0 + 16: inside row j's slice, which runs from
            // column diagonal(j) <= j0 + 15 < i0 to N rounded up to 32 >= i0 + 16.
            let square: [__m512; 16] = core::array::from_fn(|l| {
                let src = &uppers[j0 + l][i0 - diagonal(j0 + l)..][..16];
                // SAFETY: 16 floats of a slice of 16.
                unsafe { _mm512_loadu_ps(src.as_ptr()) }
            });
            for (row, v) in group.iter_mut().zip(transpose16(square)) {
                let dst = &mut row[j0..j0 + 16];
                // SAFETY: 16 floats into a slice of 16.
                unsafe { _mm512_storeu_ps(dst.as_mut_ptr(), v) };
            }
        }
    }
    full
}

/// A worker's bf16 pass: its query rows in tile A's layout, and what multiplies them.
struct Pass {
    a_tiles: Vec<u16>,
    multiplier: Multiplier,
}

/// What runs a worker's pass (a [`Bf16Pass`] this build and thread can run).
enum Multiplier {
    /// The thread's AMX tile configuration.
    #[cfg(all(feature = "std", target_arch = "x86_64", target_os = "linux"))]
    Amx(amx::Tiles),
    #[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
    Avx512Bf16(avx512_bf16::Dots),
    Portable,
}

impl Pass {
    /// For units of at most `rows` query rows.
    fn new<T>(cx: &Context<'_, T>, rows: usize) -> Result<Self> {
        let len = rows.div_ceil(PROBE_ROWS).checked_mul(PROBE_ROWS * cx.q.depth).ok_or(Error::ShapeOverflow)?;
        let multiplier = match cx.pass {
            #[cfg(all(feature = "std", target_arch = "x86_64", target_os = "linux"))]
            Bf16Pass::Amx => amx::Tiles::new().map_or(Multiplier::Portable, Multiplier::Amx),
            #[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
            Bf16Pass::Avx512Bf16 => avx512_bf16::Dots::new().map_or(Multiplier::Portable, Multiplier::Avx512Bf16),
            _ => Multiplier::Portable,
        };
        Ok(Pass { a_tiles: try_vec(len, 0u16, "a prefilter worker's query tiles")?, multiplier })
    }

    /// `block[r * np + j] = <x^_{r0 + r}, x^_j>` for rows `r0..r0 + rn` (padded with zero
    /// rows to a multiple of 32 in `block`) and every column, or with `triangle` only the
    /// columns from each row pair's diagonal tile on.
    fn run<T: Element>(&mut self, cx: &Context<'_, T>, r0: usize, rn: usize, triangle: bool, block: &mut [f32]) {
        query_tiles(cx.x, r0, rn, cx.q.depth, &mut self.a_tiles);
        let triangle = triangle.then_some(r0);
        let (q, a, np) = (cx.q, &self.a_tiles, cx.np);
        match &self.multiplier {
            #[cfg(all(feature = "std", target_arch = "x86_64", target_os = "linux"))]
            Multiplier::Amx(tiles) => pass_amx(tiles, q, a, rn, triangle, block, np),
            #[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
            Multiplier::Avx512Bf16(dots) => pass_avx512_bf16(*dots, q, a, rn, triangle, block, np),
            Multiplier::Portable => pass_scalar(q, a, rn, triangle, cx.x.rows(), block, np),
        }
    }
}

/// The block sizes of a fast bf16 pass: query rows a step, columns a group, and steps of
/// [`amx::DEPTH`] features a chunk.
#[cfg(any(
    all(feature = "std", target_arch = "x86_64", target_os = "linux"),
    all(target_arch = "x86_64", feature = "x86-v4")
))]
#[derive(Clone, Copy)]
struct Blocking {
    rows: usize,
    group: usize,
    chunk_steps: usize,
}

/// The loop nest both fast passes share, blocked as a GEMM is: for each group of columns
/// (from the unit's first diagonal tile on with `triangle`), each chunk of steps and each
/// step of query rows (`rn` rounded up to [`PROBE_ROWS`]), `run(row, first step, steps,
/// columns)` with the group's columns that row step needs (from its diagonal tile on with
/// `triangle`; possibly none). A query step's chunk stays in L1 while the group's
/// candidates stream past it from L2.
#[cfg(any(
    all(feature = "std", target_arch = "x86_64", target_os = "linux"),
    all(target_arch = "x86_64", feature = "x86-v4")
))]
fn blocked(
    sizes: Blocking,
    depth: usize,
    rn: usize,
    triangle: Option<usize>,
    np: usize,
    mut run: impl FnMut(usize, usize, usize, core::ops::Range<usize>),
) {
    let Blocking { rows, group, chunk_steps } = sizes;
    let steps = depth / amx::DEPTH;
    let rows_pad = rn.div_ceil(PROBE_ROWS) * PROBE_ROWS;
    for g0 in (triangle.map_or(0, |r0| r0 / group * group)..np).step_by(group) {
        let end = np.min(g0 + group);
        for s0 in (0..steps).step_by(chunk_steps) {
            let n = chunk_steps.min(steps - s0);
            for r in (0..rows_pad).step_by(rows) {
                let first = triangle.map_or(g0, |r0| g0.max(diagonal(r0 + r)));
                run(r, s0, n, first..end.max(first));
            }
        }
    }
}

/// The bf16 pass on AMX tiles: `block[r * np + j] = <x^_{r0 + r}, x^_j>` for the unit's
/// rows (rounded up to 32; `a`: [`query_tiles`]) and every column, or with `triangle =
/// Some(r0)` (the unit's first row, a multiple of 32) the columns from each row pair's
/// diagonal tile on.
///
/// PERF: blocked as a GEMM is. Two tiles of operands feed four multiplies of 16 cycles
/// each: 4 KiB per 64 cycles, which L2 sustains but L3 does not (a 1 MiB A block and
/// candidates from L3: 28% of the tiles' peak, the first version). Here a query pair's
/// chunk of [`CHUNK_STEPS`] steps (32 KiB) stays in L1 while the candidate pairs of a
/// column group stream past it from L2 (the group's chunks, [`GROUP`] columns, 512 KiB),
/// and the sums go through the block between chunks. With [`block_rows`]' 512 rows the
/// pass at 4096 x 4096 took 221-261 ms against 238-374 (one thread, interleaved runs).
#[cfg(all(feature = "std", target_arch = "x86_64", target_os = "linux"))]
fn pass_amx(
    tiles: &amx::Tiles,
    q: &Quantized,
    a: &[u16],
    rn: usize,
    triangle: Option<usize>,
    block: &mut [f32],
    np: usize,
) {
    const PAIR: usize = 2 * amx::ROWS;
    let at = |t: usize, s: usize| stream_at(q.depth, t, s);
    let sizes = Blocking { rows: PAIR, group: GROUP, chunk_steps: CHUNK_STEPS };
    blocked(sizes, q.depth, rn, triangle, np, |rp, s0, n, columns| {
        let t = rp / amx::ROWS;
        let a = [&a[at(t, s0)..], &a[at(t + 1, s0)..]];
        for c0 in columns.step_by(PAIR) {
            let u = c0 / amx::ROWS;
            let b = [&q.packed[at(u, s0) / 2..], &q.packed[at(u + 1, s0) / 2..]];
            tiles.block(a, b, n, &mut block[rp * np + c0..], np, s0 > 0);
        }
    });
}

/// Steps of 32 features per chunk of the AMX pass (a query pair's chunk: 32 KiB).
#[cfg(all(feature = "std", target_arch = "x86_64", target_os = "linux"))]
const CHUNK_STEPS: usize = 16;
/// Columns per group of the AMX pass.
#[cfg(all(feature = "std", target_arch = "x86_64", target_os = "linux"))]
const GROUP: usize = 512;

/// The bf16 pass on AVX-512 BF16 dot products: the same scores as [`pass_amx`], from the
/// same streams, blocked alike: a query octet's chunk of [`DOT_CHUNK_STEPS`] steps stays
/// in L1 while the candidates of a column group ([`DOT_GROUP`] columns) stream past it
/// from L2, 48 columns a block ([`avx512_bf16::Dots::block`]).
#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
fn pass_avx512_bf16(
    dots: avx512_bf16::Dots,
    q: &Quantized,
    a: &[u16],
    rn: usize,
    triangle: Option<usize>,
    block: &mut [f32],
    np: usize,
) {
    let stream = |c0: usize, s0: usize| &q.packed[stream_at(q.depth, c0 / amx::ROWS, s0) / 2..];
    let sizes = Blocking { rows: avx512_bf16::QUERY_ROWS, group: DOT_GROUP, chunk_steps: DOT_CHUNK_STEPS };
    blocked(sizes, q.depth, rn, triangle, np, |r, s0, n, columns| {
        let (t, l) = (r / amx::ROWS, r % amx::ROWS);
        let a = &a[stream_at(q.depth, t, s0) + l * amx::DEPTH..];
        let (mut c0, end) = (columns.start, columns.end);
        while c0 < end {
            let c = &mut block[r * np + c0..];
            let s = |j: usize| stream(c0 + j * amx::ROWS, s0);
            let blocks = ((end - c0) / amx::ROWS).min(3);
            match blocks {
                1 => dots.block::<1>(a, [s(0)], n, c, np, s0 > 0),
                2 => dots.block::<2>(a, [s(0), s(1)], n, c, np, s0 > 0),
                _ => dots.block::<3>(a, [s(0), s(1), s(2)], n, c, np, s0 > 0),
            }
            c0 += blocks * amx::ROWS;
        }
    });
}

/// Steps of 32 features per chunk of the AVX-512 BF16 pass (a query octet's chunk: 8 KiB).
#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
const DOT_CHUNK_STEPS: usize = 16;
/// Columns per group of the AVX-512 BF16 pass.
#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
const DOT_GROUP: usize = 480;

/// The bf16 pass without AMX, from the same tiles and for the same scores as
/// [`pass_amx`]: each a plain sum of exact bf16 products in f32 in feature order (within
/// the bound's any-order sums). For tests on every CPU.
fn pass_scalar(q: &Quantized, a: &[u16], rn: usize, triangle: Option<usize>, n: usize, block: &mut [f32], np: usize) {
    let depth = q.depth;
    let wide = |h: u32| f32::from_bits(h << 16);
    for r in 0..rn {
        let (t, l) = (r / amx::ROWS, r % amx::ROWS);
        let first = triangle.map_or(0, |r0| diagonal(r0 + r));
        for j in first..n {
            let (b, m) = (j / amx::ROWS, j % amx::ROWS);
            let mut s = 0.0f32;
            for step in 0..depth / amx::DEPTH {
                let row = &a[stream_at(depth, t, step) + l * amx::DEPTH..][..amx::DEPTH];
                let lines = &q.packed[stream_at(depth, b, step) / 2..][..amx::ROWS * amx::ROWS];
                for (p, pair) in row.chunks_exact(2).enumerate() {
                    let w = lines[p * amx::ROWS + m];
                    s += wide(u32::from(pair[0])) * wide(w & 0xffff);
                    s += wide(u32::from(pair[1])) * wide(w >> 16);
                }
            }
            block[r * np + j] = s;
        }
    }
}

/// Per-worker rows of up to N entries: a row's candidates with their bf16 scores, bounds
/// and lower bounds, a query row widened, the survivors and their exact scores.
struct Rows {
    candidates: Vec<u32>,
    scores: Vec<f32>,
    bounds: Vec<f32>,
    lower: Vec<f32>,
    /// Query rows widened (the rescoring's lanes take one of two rows).
    query: Vec<f32>,
    second: Vec<f32>,
    survivors: Vec<u32>,
    /// The survivors' exact scores.
    exact: Vec<f32>,
    /// The survivors to rescore (not [`Shared`]), where their scores go in `exact`, and
    /// their scores.
    pending: Vec<u32>,
    slots: Vec<u32>,
    fresh: Vec<f32>,
}

impl Rows {
    fn new<T: Element>(cx: &Context<'_, T>) -> Result<Self> {
        const WHAT: &str = "a prefilter worker's rows";
        let (n, d) = (cx.x.rows(), cx.x.cols());
        fn room<V>(n: usize) -> Result<Vec<V>> {
            let mut v = Vec::new();
            v.try_reserve_exact(n).map_err(|_| out_of_memory::<V>(n, WHAT))?;
            Ok(v)
        }
        Ok(Rows {
            candidates: room(n)?,
            scores: room(n)?,
            bounds: room(n)?,
            lower: room(n)?,
            query: try_vec(d, 0.0, WHAT)?,
            second: try_vec(d, 0.0, WHAT)?,
            survivors: room(n)?,
            exact: Vec::new(),
            pending: Vec::new(),
            slots: Vec::new(),
            fresh: Vec::new(),
        })
    }
}

/// Groups whose maxima give [`first_estimate`].
const GROUPS: usize = 64;

/// The survivors ([`row_survivors`]) and their exact scores for one unit of rows, on one
/// backend, from each row's bf16 scores (`segments`: two slices, together its N scores
/// in order), then the unit's lists. `Ok((pairs rescored, of which taken from an earlier
/// unit's lists: see [`Shared`]))`, or `Err(unit)` (untouched) when the unit's survivors
/// exceed [`SURVIVOR_SHARE`].
struct Select<'a, 'o, T> {
    isa: Isa,
    x: &'a Matrix<'a, T>,
    q: &'a Quantized,
    bound: Bound,
    k: usize,
    segments: &'a [[&'a [f32]; 2]],
    rows: &'a mut Rows,
    unit: Unit<'o>,
    shared: &'a Shared<'a>,
}

impl<'a, 'o, T> Select<'a, 'o, T> {
    fn new(cx: &'a Context<'a, T>, segments: &'a [[&'a [f32]; 2]], rows: &'a mut Rows, unit: Unit<'o>) -> Self {
        Select { isa: cx.isa, x: cx.x, q: cx.q, bound: cx.bound, k: cx.k, segments, rows, unit, shared: &cx.shared }
    }
}

impl<'o, T: Element> WithSimd for Select<'_, 'o, T> {
    type Output = core::result::Result<(u64, u64), Unit<'o>>;

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> Self::Output {
        let Select { isa, x, q, bound, k, segments, rows, unit, shared } = self;
        #[cfg(not(all(target_arch = "x86_64", feature = "x86-v4")))]
        let _ = isa;
        let (n, r0, rn) = (x.rows(), unit.r0, segments.len());
        // First every row's survivors (cheap), so a hopeless unit costs no rescoring.
        // Row r's survivors are survivors[ends[r - 1]..ends[r]].
        let mut ends = [0usize; MAX_BLOCK_ROWS];
        rows.survivors.clear();
        for (r, row_scores) in segments.iter().enumerate() {
            // A refused allocation hands the block to the engine, which needs less memory.
            if !row_survivors(simd, q, bound, k, row_scores, r0 + r, rows) {
                return Err(unit);
            }
            ends[r] = rows.survivors.len();
            if ends[r] > rn * (n / SURVIVOR_SHARE).max(4 * k) {
                return Err(unit);
            }
        }
        let total = rows.survivors.len();
        let Rows { survivors, exact, pending, slots, fresh, query, second, .. } = &mut *rows;
        #[cfg(not(all(target_arch = "x86_64", feature = "x86-v4")))]
        let _ = second;
        exact.clear();
        pending.clear();
        slots.clear();
        fresh.clear();
        let room = exact.try_reserve(total).and(fresh.try_reserve(total));
        if room.and(pending.try_reserve(total)).and(slots.try_reserve(total)).is_err() {
            return Err(unit);
        }
        exact.resize(total, 0.0);
        // The pairs whose score an earlier unit has (see `Shared`); the rest to rescore,
        // row r's in pending[due[r - 1]..due[r]].
        let mut due = [0usize; MAX_BLOCK_ROWS];
        let mut start = 0;
        let mut reused = 0u64;
        for (r, &end) in ends[..rn].iter().enumerate() {
            let i = r0 + r;
            for (slot, &j) in survivors[start..end].iter().enumerate() {
                let score = if (j as usize) < r0 { shared.score(j as usize, i) } else { None };
                if let Some(score) = score {
                    exact[start + slot] = score;
                    reused += 1;
                } else {
                    pending.push(j);
                    slots.push((start + slot) as u32);
                }
            }
            start = end;
            due[r] = pending.len();
        }
        let todo = pending.len();
        fresh.resize(todo, 0.0);
        // On AVX-512: every pending pair of the unit rescored 16 at a time, lanes shared by
        // two rows where one row's pairs end (see `rescore_avx512`).
        #[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
        let avx512 = isa == Isa::X86V4;
        #[cfg(not(all(target_arch = "x86_64", feature = "x86-v4")))]
        let avx512 = false;
        if avx512 {
            #[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
            {
                let (rows, pending, fresh) = ((x.stride(), x.cols(), r0), &pending[..todo], &mut fresh[..todo]);
                let queries = [&mut query[..], &mut second[..]];
                let due = &due[..rn];
                // The rows as their own element type (`T` is one of the three).
                macro_rules! unit {
                    ($e:ty) => {
                        rescore_unit(bytemuck::cast_slice::<T, $e>(x.backing()), rows, due, pending, fresh, queries)
                    };
                }
                match T::DTYPE {
                    Dtype::F32 => unit!(f32),
                    Dtype::F16 => unit!(half::f16),
                    Dtype::Bf16 => unit!(half::bf16),
                }
            }
        } else {
            let mut start = 0;
            for (r, &end) in due[..rn].iter().enumerate() {
                T::widen(x.row(r0 + r), query);
                rescore(simd, x, query, &pending[start..end], &mut fresh[start..end]);
                start = end;
            }
        }
        for (&slot, &score) in slots.iter().zip(&*fresh) {
            exact[slot as usize] = score;
        }
        let Unit { indices, scores, .. } = unit;
        let mut start = 0;
        for (r, &end) in ends[..rn].iter().enumerate() {
            let (out_i, out_s) = (&mut indices[r * k..(r + 1) * k], &mut scores[r * k..(r + 1) * k]);
            out_i.fill(SENTINEL.1);
            out_s.fill(SENTINEL.0);
            let mut heap = TopK::resume(out_s, out_i);
            for (&j, &s) in survivors[start..end].iter().zip(&exact[start..end]) {
                heap.offer(s, j);
            }
            heap.finish();
            start = end;
        }
        shared.publish(r0, &ends[..rn], survivors, exact);
        Ok((total as u64, reused))
    }
}

/// Appends row `i`'s survivors to `rows.survivors`, in column order, from its N bf16
/// scores `a_j` (`segments`: two slices): the columns j != i with `a_j + b_j >= theta`,
/// theta the k-th largest `a_j - b_j` over the columns j != i. False where memory for them
/// was refused.
///
/// PERF: the pairs' own bounds `b_j` are computed only for a few candidates: with the
/// row's widest bound `B >= b_j` (from the largest column norms; [`RowBound::pair`] is
/// monotone in each), `first` ([`first_estimate`]) at most the k-th largest `a_j`, and the
/// candidates the j with `a_j + B >= first - B`:
/// - k of them have `a_j >= first`, so their `a_j - b_j >= first - B`: theta computed
///   over the candidates is at least `first - B`;
/// - a column left out has `a_j + b_j <= a_j + B < first - B`, neither among the k
///   largest lower bounds nor reaching theta.
///
/// So theta and the survivors are those of every column's bounds (each sum and difference
/// rounded as there; rounding is monotone), for two vector passes over the row's scores.
/// Every pair's bounds took a fifth of a prefiltered 1024 x 768 graph.
#[inline(always)]
fn row_survivors<S: Simd>(
    simd: S,
    q: &Quantized,
    bound: Bound,
    k: usize,
    segments: &[&[f32]; 2],
    i: usize,
    rows: &mut Rows,
) -> bool {
    let row = bound.row(q, i);
    let widest = row.pair(q.most[0], q.most[1], q.most[2]);
    let bar = first_estimate(segments, i, k) - widest;
    let Rows { candidates, scores, bounds, lower, survivors, .. } = rows;
    candidates.clear();
    scores.clear();
    bounds.clear();
    lower.clear();
    let mut j0 = 0;
    for a in segments {
        reaching(simd, a, widest, bar, |j| {
            if j0 + j != i {
                candidates.push((j0 + j) as u32);
                scores.push(a[j]);
            }
        });
        j0 += a.len();
    }
    for (&j, &a) in candidates.iter().zip(&*scores) {
        let j = j as usize;
        let b = row.pair(q.norm[j], q.hat[j], q.err[j]);
        bounds.push(b);
        lower.push(a - b);
    }
    // At least k candidates (see above) where N - 1 >= k.
    let theta = if lower.len() >= k {
        *lower.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a)).1
    } else {
        f32::NEG_INFINITY
    };
    if survivors.try_reserve(candidates.len()).is_err() {
        return false;
    }
    for ((&j, &a), &b) in candidates.iter().zip(&*scores).zip(&*bounds) {
        if a + b >= theta {
            survivors.push(j);
        }
    }
    true
}

/// At most the k-th largest of row `i`'s scores `a_j` over `j != i` (`segments`: the row's
/// N scores in two slices; -inf where that is not known): the k-th largest maximum of
/// [`GROUPS`] disjoint groups of columns, less the group of column i (k distinct columns
/// other than i reach it).
#[inline(always)]
fn first_estimate(segments: &[&[f32]; 2], i: usize, k: usize) -> f32 {
    let mut most = [f32::NEG_INFINITY; GROUPS];
    let (mut j0, mut own) = (0, GROUPS);
    for a in segments {
        // Group g: the columns at g modulo GROUPS from the slice's start (vector maxima).
        let chunks = a.chunks_exact(GROUPS);
        let tail = chunks.remainder();
        for c in chunks {
            for (m, &v) in most.iter_mut().zip(c) {
                *m = if v > *m { v } else { *m };
            }
        }
        for (m, &v) in most.iter_mut().zip(tail) {
            *m = if v > *m { v } else { *m };
        }
        if (j0..j0 + a.len()).contains(&i) {
            own = (i - j0) % GROUPS;
        }
        j0 += a.len();
    }
    if own < GROUPS {
        most[own] = f32::NEG_INFINITY;
    }
    if k < GROUPS {
        // PERF: a select, not a sort of the 64 (a sort was 6% of a 1024 x 768 graph).
        *most.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a)).1
    } else {
        f32::NEG_INFINITY
    }
}

/// Calls `hit(j)`, in order, for each `j` where `a[j] + shift >= bar` (f32 sums). PERF: few
/// pass (about 20 of 1024 at k = 10), so a vector compare per vector and its set bits.
/// These scans were the scalar part of the selection, which took 2.4 ns a pair at 16384 x
/// 768, as long as the bf16 pass; with them vectorised, about 1.5 ns.
#[inline(always)]
fn reaching<S: Simd>(simd: S, a: &[f32], shift: f32, bar: f32, mut hit: impl FnMut(usize)) {
    let lanes = size_of::<S::f32s>() / size_of::<f32>();
    let (va, ta) = S::as_simd_f32s(a);
    let (shift_v, bar_v) = (simd.splat_f32s(shift), simd.splat_f32s(bar));
    for (v, &x) in va.iter().enumerate() {
        let mut pass = super::engine::bitmask(simd, simd.greater_than_or_equal_f32s(simd.add_f32s(x, shift_v), bar_v));
        while pass != 0 {
            hit(v * lanes + pass.trailing_zeros() as usize);
            pass &= pass - 1;
        }
    }
    let base = a.len() - ta.len();
    for (t, &x) in ta.iter().enumerate() {
        if x + shift >= bar {
            hit(base + t);
        }
    }
}

/// Features per transposed slice of survivors (`lanes` survivors x this many f32).
const SLICE: usize = 64;

/// The engine's exact score of `query` with each row `j` of `survivors`, into `exact` (in
/// the same order): lane l of a vector chains fused multiply-adds over the features in
/// order for one survivor, from +0, as the engine's tiles do (so the bits are the
/// engine's).
#[inline(always)]
fn rescore<S: Simd, T: Element>(simd: S, x: &Matrix<'_, T>, query: &[f32], survivors: &[u32], exact: &mut [f32]) {
    let lanes = S::F32_LANES;
    let d = query.len();
    let mut slice = [0.0f32; SLICE * 16];
    let mut wide = [0.0f32; SLICE];
    for (group, out) in survivors.chunks(lanes).zip(exact.chunks_mut(lanes)) {
        let mut acc = simd.splat_f32s(0.0);
        for p0 in (0..d).step_by(SLICE) {
            let pc = SLICE.min(d - p0);
            // Transposed: feature p of survivor l at p * lanes + l; absent lanes stay 0.
            let t = &mut slice[..pc * lanes];
            if group.len() < lanes {
                t.fill(0.0);
            }
            for (l, &j) in group.iter().enumerate() {
                let w = &mut wide[..pc];
                T::widen(&x.row(j as usize)[p0..p0 + pc], w);
                for (p, &v) in w.iter().enumerate() {
                    t[p * lanes + l] = v;
                }
            }
            let (vecs, _) = S::as_simd_f32s(t);
            for (&v, &qp) in vecs.iter().zip(&query[p0..p0 + pc]) {
                acc = simd.mul_add_f32s(simd.splat_f32s(qp), v, acc);
            }
        }
        let lanes_out = bytemuck::cast_slice::<S::f32s, f32>(core::slice::from_ref(&acc));
        out.copy_from_slice(&lanes_out[..out.len()]);
    }
}

/// [`rescore`] for up to 16 survivors of a matrix of f32, f16 or bf16 rows (`data`, rows
/// `stride` apart; half-precision rows widened on load, exactly, as [`Element::widen`]), the
/// first `split` for `queries[0]` and the rest for `queries[1]`: 16 features of each
/// survivor loaded as vectors, transposed in registers (64 shuffles per 256 values), then
/// one `vfmadd231ps` per feature, the same fused chain as the engine's (and as pulp's
/// x86-v4 `mul_add`). Lanes past the survivors repeat the first one.
///
/// PERF: a `vgatherdps` per feature cost 3.5x more. With one row's survivors a call,
/// a row of 17 took two full transposes for 17 lanes (16.6 survivors a row at 1024 x
/// 768, k = 10); with two rows' lanes sharing a call, nearly every lane is used, at the
/// cost of one blend per feature. The 16 rows are 16 streams from L3 or memory, which
/// the hardware prefetchers did not keep ahead of: prefetching [`PREFETCH`] features
/// ahead in each, and the first of the next group's (`next`), cut the rescoring's time
/// to 0.17x the bf16 pass's from 0.59x at 4096 x 768 (perf samples, Zen 5, one
/// thread), to 0.53x from 0.71x at 1024 x 768, and to 0.51x from 0.58x at 4096 x 4096
/// (there the rows come from memory, 64 MiB). A step (16 features of 16 survivors) took
/// 80-90 cycles on Zen 5 with its rows in L1, the transpose's 64 shuffles most of it
/// (tried: two groups' chains side by side, 128-bit broadcast loads for half the shuffles,
/// `vgatherdps`: none faster). Half-precision rows, widened row by row and rescored by
/// [`rescore`], took 1.61x the engine's time at 4096 x 4096 f16 (two threads); widened
/// here, 0.70x.
///
/// # Safety
/// AVX-512F, BW and VL must be present.
#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn rescore_avx512<E: Widen16>(
    data: &[E],
    stride: usize,
    queries: [&[f32]; 2],
    split: usize,
    group: &[u32],
    next: &[u32],
) -> [f32; 16] {
    use core::arch::x86_64::*;
    let d = queries[0].len();
    let rows: [&[E]; 16] = core::array::from_fn(|l| {
        let j = group.get(l).copied().unwrap_or(group[0]) as usize;
        &data[j * stride..j * stride + d]
    });
    // Lanes from `split` on take the second query.
    let second = !((1u32 << split) - 1) as __mmask16;
    // A cache line a prefetch (64 bytes: 16 f32 or 32 halves).
    let line = 64 / size_of::<E>();
    for &j in next {
        let row = &data[j as usize * stride..j as usize * stride + d.min(PREFETCH)];
        for line in row.chunks(line) {
            _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast());
        }
    }
    let mut acc = _mm512_setzero_ps();
    let mut p0 = 0;
    while p0 < d {
        let len = 16.min(d - p0);
        let mask: __mmask16 = if len == 16 { 0xffff } else { (1u16 << len) - 1 };
        // SAFETY: each load reads `len` elements of a survivor's row from p0 (masked lanes
        // are not read), inside the row's slice; this function's features.
        let r: [__m512; 16] = core::array::from_fn(|l| unsafe { E::load16(rows[l][p0..].as_ptr(), mask) });
        if p0 + PREFETCH < d && (p0 * size_of::<E>()).is_multiple_of(64) {
            for row in &rows {
                _mm_prefetch::<_MM_HINT_T0>(row[p0 + PREFETCH..].as_ptr().cast());
            }
        }
        let t = transpose16(r);
        for (p, &v) in t.iter().enumerate().take(len) {
            let q =
                _mm512_mask_blend_ps(second, _mm512_set1_ps(queries[0][p0 + p]), _mm512_set1_ps(queries[1][p0 + p]));
            acc = _mm512_fmadd_ps(q, v, acc);
        }
        p0 += 16;
    }
    let mut out = [0.0f32; 16];
    // SAFETY: 16 floats into an array of 16.
    unsafe { _mm512_storeu_ps(out.as_mut_ptr(), acc) };
    out
}

/// A unit's pending pairs through [`rescore_avx512`] (`(stride, d, r0)`: the rows' stride and
/// features, the unit's first row; `due[r]`: the end of row r's pairs in `pending`; their
/// scores into `fresh`), with `queries` for widening half-precision query rows.
#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
fn rescore_unit<E: Widen16>(
    data: &[E],
    (stride, d, r0): (usize, usize, usize),
    due: &[usize],
    pending: &[u32],
    fresh: &mut [f32],
    [first, second]: [&mut [f32]; 2],
) {
    let todo = pending.len();
    // The rows widened into `first` and `second` (half-precision rows only).
    let mut held = [usize::MAX; 2];
    let (mut s0, mut a) = (0, 0);
    while s0 < todo {
        // Row a holds pair s0; the lanes past its last go to the next row with pairs, b,
        // and stop at b's last.
        while due[a] <= s0 {
            a += 1;
        }
        let mut s1 = (s0 + 16).min(todo);
        let mut b = a;
        if s1 > due[a] {
            b = a + 1;
            while due[b] <= due[a] {
                b += 1;
            }
            s1 = s1.min(due[b]);
        }
        let row = |r: usize| &data[(r0 + r) * stride..(r0 + r) * stride + d];
        let queries: [&[f32]; 2] = if E::DTYPE == Dtype::F32 {
            [bytemuck::cast_slice(row(a)), bytemuck::cast_slice(row(b))]
        } else {
            for (h, (r, buf)) in held.iter_mut().zip([(a, &mut *first), (b, &mut *second)]) {
                if *h != r {
                    E::widen(row(r), &mut buf[..d]);
                    *h = r;
                }
            }
            [&first[..d], &second[..d]]
        };
        let split = due[a].min(s1) - s0;
        let next = &pending[s1..todo.min(s1 + 16)];
        // SAFETY: the x86-v4 backend (AVX-512F, BW, VL) is this CPU's.
        let s = unsafe { rescore_avx512(data, stride, queries, split, &pending[s0..s1], next) };
        fresh[s0..s1].copy_from_slice(&s[..s1 - s0]);
        s0 = s1;
    }
}

/// Elements [`rescore_avx512`] reads: 16 of them widened to f32 exactly (the same values as
/// [`Element::widen`]).
#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
trait Widen16: Element + bytemuck::Pod {
    /// The elements at `p` where `mask` is set (0.0 elsewhere), widened.
    ///
    /// # Safety
    /// AVX-512F, BW and VL must be present, and the masked elements readable.
    unsafe fn load16(p: *const Self, mask: core::arch::x86_64::__mmask16) -> core::arch::x86_64::__m512;
}

#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
impl Widen16 for f32 {
    #[inline(always)]
    unsafe fn load16(p: *const f32, mask: core::arch::x86_64::__mmask16) -> core::arch::x86_64::__m512 {
        // SAFETY: the caller's contract.
        unsafe { core::arch::x86_64::_mm512_maskz_loadu_ps(mask, p) }
    }
}

#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
impl Widen16 for half::f16 {
    #[inline(always)]
    unsafe fn load16(p: *const half::f16, mask: core::arch::x86_64::__mmask16) -> core::arch::x86_64::__m512 {
        use core::arch::x86_64::*;
        // SAFETY: the caller's contract; `vcvtph2ps` is exact (every f16 is an f32).
        unsafe { _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, p.cast())) }
    }
}

#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
impl Widen16 for half::bf16 {
    #[inline(always)]
    unsafe fn load16(p: *const half::bf16, mask: core::arch::x86_64::__mmask16) -> core::arch::x86_64::__m512 {
        use core::arch::x86_64::*;
        // SAFETY: the caller's contract; a bf16 is the high half of an f32.
        unsafe {
            _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(
                mask,
                p.cast(),
            ))))
        }
    }
}

/// Features [`rescore_avx512`] prefetches ahead in each survivor's row (4 cache lines),
/// and of the next group's rows.
#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
const PREFETCH: usize = 64;

/// The 16 x 16 transpose of `r` (lane p of `r[l]` becomes lane l of the result's `[p]`).
#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
#[target_feature(enable = "avx512f")]
fn transpose16(r: [core::arch::x86_64::__m512; 16]) -> [core::arch::x86_64::__m512; 16] {
    use core::arch::x86_64::*;
    let lo = |a, b| _mm512_unpacklo_ps(a, b);
    let hi = |a, b| _mm512_unpackhi_ps(a, b);
    // Pairs of rows interleaved by element, then by element pair, then 128-bit lanes twice.
    let t: [__m512; 16] = core::array::from_fn(|i| if i % 2 == 0 { lo(r[i], r[i + 1]) } else { hi(r[i - 1], r[i]) });
    let pd = |x: __m512| _mm512_castps_pd(x);
    let ps = |x: __m512d| _mm512_castpd_ps(x);
    let u: [__m512; 16] = core::array::from_fn(|i| {
        let (g, k) = (i / 4 * 4, i % 4);
        let (a, b) = (t[g + k / 2], t[g + 2 + k / 2]);
        if k % 2 == 0 { ps(_mm512_unpacklo_pd(pd(a), pd(b))) } else { ps(_mm512_unpackhi_pd(pd(a), pd(b))) }
    });
    let v: [__m512; 16] = core::array::from_fn(|i| {
        let (g, k) = (i / 8 * 8, i % 8);
        let (a, b) = (u[g + k % 4], u[g + 4 + k % 4]);
        if k < 4 { _mm512_shuffle_f32x4::<0x88>(a, b) } else { _mm512_shuffle_f32x4::<0xdd>(a, b) }
    });
    core::array::from_fn(|i| {
        let k = i % 8;
        let (a, b) = (v[k], v[8 + k]);
        if i < 8 { _mm512_shuffle_f32x4::<0x88>(a, b) } else { _mm512_shuffle_f32x4::<0xdd>(a, b) }
    })
}

/// A block of rows through the engine: a search of those rows among all rows for k + 1
/// neighbours, the row itself dropped. Exact: the k best other rows are the k + 1 best
/// rows less the row itself, or the first k of them where the row is not among them.
fn engine_rows<T: Element>(x: &Matrix<'_, T>, k: usize, unit: Unit<'_>, isa: Isa, exec: &Exec<'_>) -> Result<()> {
    let rn = unit.indices.len() / k;
    let queries = x.row_range(unit.r0, rn);
    let len = rn * (k + 1);
    let (mut indices, mut scores) =
        (try_vec(len, 0u32, "a prefilter block's lists")?, try_vec(len, 0.0f32, "a prefilter block's lists")?);
    let job = Job { queries, database: *x, k: k + 1, pairs: Pairs::Search, scales: None, isa };
    super::run_job(&job, 1, exec, &mut indices, &mut scores)?;
    for r in 0..rn {
        let i = (unit.r0 + r) as u32;
        let list = indices[r * (k + 1)..(r + 1) * (k + 1)].iter().zip(&scores[r * (k + 1)..(r + 1) * (k + 1)]);
        let kept = list.filter(|&(&j, _)| j != i).take(k);
        for (o, (&j, &s)) in kept.enumerate() {
            unit.indices[r * k + o] = j;
            unit.scores[r * k + o] = s;
        }
    }
    Ok(())
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::knn::{Similarity, graph as engine_graph};
    use alloc::vec;
    use half::{bf16, f16};

    /// Deterministic values in (-0.5, 0.5).
    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9e3779b97f4a7c15) | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect()
    }

    /// Every bf16 pass this process can run, the portable loop last.
    fn passes() -> impl Iterator<Item = Bf16Pass> {
        [Bf16Pass::Amx, Bf16Pass::Avx512Bf16, Bf16Pass::Portable].into_iter().filter(|p| p.is_available())
    }

    /// The prefiltered graph of `x` against the engine's, bit for bit, with every bf16
    /// pass, on every ISA of this machine and 1 to 3 threads; returns the last run's stats
    /// (the portable pass's).
    fn same_as_engine<'a, T: Element>(x: Matrix<'a, T>, k: usize) -> Option<PrefilterStats>
    where
        crate::matrix::AnyMatrix<'a>: From<Matrix<'a, T>>,
    {
        let mut stats = None;
        for isa in Isa::available() {
            let engine = Exec::default().with_isa(Some(isa)).with_prefilter(Prefilter::Off);
            let want = engine_graph(x, k, Similarity::InnerProduct, &engine).unwrap();
            for threads in [1, 2, 3] {
                let exec = Exec::default().with_isa(Some(isa)).with_threads(threads).with_oversubscribe(true);
                let (mut indices, mut scores) = (vec![0u32; x.rows() * k], vec![0.0f32; x.rows() * k]);
                x.check().unwrap();
                for (pass, whole) in passes().flat_map(|p| [(p, WHOLE_FLOATS), (p, 0)]) {
                    stats = graph(x, k, &exec, threads, isa, &mut indices, &mut scores, pass, whole).unwrap();
                    if stats.is_none() {
                        // The whole graph goes to the engine: its own tests cover that.
                        continue;
                    }
                    let same = indices == want.indices()
                        && scores.iter().zip(want.scores()).all(|(a, b)| a.to_bits() == b.to_bits());
                    let layout = if whole > 0 { "whole" } else { "blocks" };
                    let (n, d) = (x.rows(), x.cols());
                    assert!(same, "{pass:?}, {isa:?}, {threads} threads, {layout}, N = {n}, D = {d}, k = {k}");
                }
            }
        }
        stats
    }

    /// The AMX and AVX-512 BF16 passes in chunks of features and groups of columns: a
    /// depth of three chunks (the last short) and two column groups (the last short), in
    /// both layouts (the whole layout's diagonal starts inside the second group). Only
    /// where they run: the portable pass has no blocking.
    #[test]
    fn the_fast_passes_block_features_and_columns() {
        let (n, d, k) = (600usize, 1100usize, 10);
        #[cfg(all(feature = "std", target_arch = "x86_64", target_os = "linux"))]
        assert!(d.div_ceil(amx::DEPTH) > 2 * CHUNK_STEPS && n > GROUP, "the shape spans the blocks");
        #[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
        assert!(d.div_ceil(amx::DEPTH) > 2 * DOT_CHUNK_STEPS && n > DOT_GROUP, "the shape spans the blocks");
        let x = values(n * d, 9);
        let m = Matrix::new(&x, n, d).unwrap();
        let want =
            engine_graph(m, k, Similarity::InnerProduct, &Exec::default().with_prefilter(Prefilter::Off)).unwrap();
        for (pass, threads) in passes().filter(|&p| p != Bf16Pass::Portable).flat_map(|p| [(p, 1), (p, 2)]) {
            let exec = Exec::default().with_threads(threads).with_oversubscribe(true);
            for whole in [WHOLE_FLOATS, 0] {
                let (mut indices, mut scores) = (vec![0u32; n * k], vec![0.0f32; n * k]);
                let stats =
                    graph(m, k, &exec, threads, Isa::best(), &mut indices, &mut scores, pass, whole).unwrap().unwrap();
                assert!(stats.pass == pass && stats.fallback_rows == 0, "{stats:?}");
                assert_eq!(indices, want.indices(), "{threads} threads, {whole}");
                assert!(
                    scores.iter().zip(want.scores()).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{threads}, {whole}"
                );
            }
        }
    }

    #[test]
    fn equals_the_engine_bit_for_bit_on_awkward_shapes() {
        // N and D off the tiles' multiples, k on both sides of topk's sorted-list limit
        // (16) and of theta's groups (64), k = N - 1.
        for (n, d, k, seed) in [(37, 5, 3, 1), (100, 33, 10, 2), (161, 64, 17, 3), (200, 47, 70, 4), (40, 31, 39, 5)] {
            let x = values(n * d, seed);
            let m = Matrix::new(&x, n, d).unwrap();
            let stats = same_as_engine(m, k).unwrap();
            assert!(stats.fallback_rows < n && stats.rescored >= ((n - stats.fallback_rows) * k) as u64, "{stats:?}");
        }
    }

    /// A kept score matrix full of NaN: a graph that read any score its pass or `mirror`
    /// did not write would differ from the engine's. (Another test may take the kept
    /// matrix first: then the attempt is repeated.)
    #[test]
    fn old_scores_of_a_kept_matrix_are_never_read() {
        let (n, d, k) = (200, 70, 10);
        let x = values(n * d, 31);
        let m = Matrix::new(&x, n, d).unwrap();
        let want =
            engine_graph(m, k, Similarity::InnerProduct, &Exec::default().with_prefilter(Prefilter::Off)).unwrap();
        let isa = Exec::default().resolve_isa().unwrap();
        let mut used = 0;
        let len = n.div_ceil(32) * 32 * n.div_ceil(32) * 32;
        for _ in 0..50 {
            *KEPT.lock() = vec![f32::NAN; len];
            let (mut indices, mut scores) = (vec![0u32; n * k], vec![0.0f32; n * k]);
            let exec = Exec::default().with_threads(2).with_oversubscribe(true);
            graph(m, k, &exec, 2, isa, &mut indices, &mut scores, Bf16Pass::fastest(), WHOLE_FLOATS).unwrap().unwrap();
            let kept = core::mem::take(&mut *KEPT.lock());
            if kept.len() == len && kept.iter().any(|v| !v.is_nan()) {
                assert_eq!(indices, want.indices());
                assert!(scores.iter().zip(want.scores()).all(|(a, b)| a.to_bits() == b.to_bits()));
                used += 1;
                if used == 3 {
                    return;
                }
            }
        }
        panic!("the kept matrix was used {used} times in 50 graphs");
    }

    /// After a graph its score matrix is kept, and `release_prefilter_memory` frees it
    /// (tried again where another test took it first).
    #[test]
    fn release_frees_the_kept_matrix() {
        let (n, d, k) = (100, 20, 5);
        let x = values(n * d, 41);
        let m = Matrix::new(&x, n, d).unwrap();
        let isa = Exec::default().resolve_isa().unwrap();
        let bytes = 4 * n.div_ceil(32) * 32 * n.div_ceil(32) * 32;
        for _ in 0..50 {
            release_prefilter_memory();
            let (mut indices, mut scores) = (vec![0u32; n * k], vec![0.0f32; n * k]);
            graph(m, k, &Exec::default(), 1, isa, &mut indices, &mut scores, Bf16Pass::fastest(), WHOLE_FLOATS)
                .unwrap()
                .unwrap();
            if release_prefilter_memory() == bytes {
                return;
            }
        }
        panic!("no graph's matrix was kept");
    }

    /// `Auto` takes the prefilter exactly where its measured rule holds (on this CPU: none
    /// of it without AMX), and the graph it gives is the engine's, bit for bit.
    #[test]
    fn auto_follows_the_measured_rule() {
        let native = Exec::default().resolve_isa().unwrap();
        let avx512 = cfg!(all(target_arch = "x86_64", feature = "x86-v4"));
        for isa in Isa::available() {
            let wide = avx512 && isa == Isa::X86V4;
            let amx = |n: usize, d: usize, k: usize, dtype: Dtype| auto(n, d, k, dtype, isa, Bf16Pass::Amx);
            assert_eq!(amx(2048, 512, 32, Dtype::F32), wide, "{isa:?}");
            assert_eq!(amx(100_000, 4096, 1, Dtype::F32), wide, "{isa:?}");
            for (n, d, k, dtype) in [
                (2047, 512, 10, Dtype::F32),
                (2048, 511, 10, Dtype::F32),
                (2048, 512, 33, Dtype::F32),
                (4096, 768, 10, Dtype::F16),
                (4096, 768, 10, Dtype::Bf16),
            ] {
                assert!(!amx(n, d, k, dtype), "{n} x {d}, k = {k}, {dtype:?}, {isa:?}");
            }
            // AVX-512 BF16 only where it was measured to pay, f32 and f16 rows alike.
            let fast = wide && avx512_bf16::measured_to_pay();
            for dtype in [Dtype::F32, Dtype::F16] {
                let dots = |n: usize, d: usize, k: usize| auto(n, d, k, dtype, isa, Bf16Pass::Avx512Bf16);
                assert_eq!(dots(2048, 768, 32), fast, "{isa:?} {dtype:?}");
                assert_eq!(dots(4096, 4096, 1), fast, "{isa:?} {dtype:?}");
                for (n, d, k) in [(2047, 768, 10), (4097, 768, 10), (2048, 767, 10), (2048, 768, 33)] {
                    assert!(!dots(n, d, k), "{n} x {d}, k = {k}, {isa:?} {dtype:?}");
                }
            }
            // bf16 rows from 1024 rows and 512 features on.
            let dots = |n: usize, d: usize, k: usize| auto(n, d, k, Dtype::Bf16, isa, Bf16Pass::Avx512Bf16);
            assert_eq!(dots(1024, 512, 32), fast, "{isa:?}");
            assert_eq!(dots(4096, 4096, 1), fast, "{isa:?}");
            for (n, d, k) in [(1023, 768, 10), (4097, 768, 10), (1024, 511, 10), (2048, 768, 33)] {
                assert!(!dots(n, d, k), "{n} x {d}, k = {k}, {isa:?}");
            }
            assert!(!auto(4096, 768, 10, Dtype::F32, isa, Bf16Pass::Portable));
        }
        let amx = Bf16Pass::fastest() == Bf16Pass::Amx;
        assert!(!chosen(Prefilter::Off, 4096, 768, 10, Dtype::F32, native));
        assert!(chosen(Prefilter::On, 10, 3, 2, Dtype::Bf16, Isa::Scalar));
        let (n, d, k) = (2048, 768, 10);
        let x = values(n * d, 51);
        let m = Matrix::new(&x, n, d).unwrap();
        let before = prefilter_totals().2;
        let auto = engine_graph(m, k, Similarity::InnerProduct, &Exec::default()).unwrap();
        let off =
            engine_graph(m, k, Similarity::InnerProduct, &Exec::default().with_prefilter(Prefilter::Off)).unwrap();
        assert_eq!(auto.indices(), off.indices());
        assert!(auto.scores().iter().zip(off.scores()).all(|(a, b)| a.to_bits() == b.to_bits()));
        if (amx || avx512_bf16::measured_to_pay()) && native == Isa::X86V4 {
            assert!(prefilter_totals().2 > before, "Auto ran the engine");
        }
    }

    /// Mutual survivors share one rescoring: on one thread every earlier unit is done, so
    /// most pairs (i, j) with j in an earlier unit take j's score, and the lists are still
    /// the engine's, bit for bit, on every ISA, in both layouts.
    #[test]
    fn mutual_survivors_share_their_exact_score() {
        let (n, d, k) = (300, 40, 10);
        let x = values(n * d, 61);
        let m = Matrix::new(&x, n, d).unwrap();
        for isa in Isa::available() {
            let exec = Exec::default().with_isa(Some(isa)).with_prefilter(Prefilter::Off);
            let want = engine_graph(m, k, Similarity::InnerProduct, &exec).unwrap();
            for whole in [WHOLE_FLOATS, 0] {
                let (mut indices, mut scores) = (vec![0u32; n * k], vec![0.0f32; n * k]);
                let stats =
                    graph(m, k, &exec, 1, isa, &mut indices, &mut scores, Bf16Pass::fastest(), whole).unwrap().unwrap();
                assert_eq!(indices, want.indices(), "{isa:?}, whole {whole}");
                assert!(scores.iter().zip(want.scores()).all(|(a, b)| a.to_bits() == b.to_bits()));
                assert!(stats.shared * 4 > stats.rescored, "{isa:?}, whole {whole}: {stats:?}");
            }
        }
    }

    #[test]
    fn half_precision_inputs_and_strided_views() {
        let (n, d, k) = (90, 40, 6);
        let x = values(n * (d + 3), 7);
        let strided = Matrix::with_stride(&x, n, d, d + 3).unwrap();
        same_as_engine(strided, k);
        let h: Vec<f16> = x.iter().map(|&v| f16::from_f32(v)).collect();
        same_as_engine(Matrix::with_stride(&h, n, d, d + 3).unwrap(), k);
        // bf16 rows are their own bf16 rounding: e = 0.
        let b: Vec<bf16> = x.iter().map(|&v| bf16::from_f32(v)).collect();
        same_as_engine(Matrix::with_stride(&b, n, d, d + 3).unwrap(), k);
    }

    /// Data the bound handles badly must still give the engine's answer: exact ties
    /// (duplicate rows), a huge dynamic range between rows and within them, denormals,
    /// and a constant massive feature, where every pair survives and blocks go to the
    /// engine.
    #[test]
    fn adversarial_data_stays_exact() {
        let (n, d, k) = (150, 24, 8);
        let base = values(n * d, 11);
        // Duplicates: rows repeat with period 5 (ties broken by index).
        let dup: Vec<f32> = (0..n * d).map(|e| base[(e / d % 5) * d + e % d]).collect();
        same_as_engine(Matrix::new(&dup, n, d).unwrap(), k);
        // Rows scaled from 1e-30 to 1e15, features from 1 to 1e-20, and denormals.
        let wide: Vec<f32> = (0..n * d)
            .map(|e| {
                let (i, p) = (e / d, e % d);
                base[e] * 10f32.powi(i as i32 % 46 - 30) * 10f32.powi(-(p as i32 % 21))
            })
            .collect();
        same_as_engine(Matrix::new(&wide, n, d).unwrap(), k);
        let tiny: Vec<f32> = base.iter().map(|&v| v * 1e-38).collect();
        same_as_engine(Matrix::new(&tiny, n, d).unwrap(), k);
        // A massive constant feature: the f32 engine's own error bound exceeds the spread
        // of the scores, so the whole matrix goes to the engine; in the last block's rows
        // only, that block alone does (a search for k + 1, the row itself dropped).
        let mut massive = base.clone();
        for row in massive.chunks_mut(d) {
            row[0] = 1000.0;
        }
        assert_eq!(same_as_engine(Matrix::new(&massive, n, d).unwrap(), k), None);
        // 118 rows: the probe (32), a block of 64 and a last block of 22.
        let m = 118usize;
        let rb = block_rows(m.div_ceil(32) * 32);
        let last0 = PROBE_ROWS + (m - PROBE_ROWS - 1) / rb * rb;
        assert!(last0 > PROBE_ROWS && m - last0 <= 32, "a short last block");
        let mut last = base[..m * d].to_vec();
        for row in last.chunks_mut(d).skip(last0) {
            row[0] = 1000.0;
        }
        // k = 4: the massive rows (22) all survive for each other, above the budget of 4k.
        let stats = same_as_engine(Matrix::new(&last, m, d).unwrap(), 4).unwrap();
        assert_eq!(stats.fallback_rows, m - last0, "the last block goes to the engine");
    }

    /// Half-precision rows the bound handles badly, through each element type's own loads
    /// in the rescoring: duplicate rows (ties broken by index), a dynamic range as wide as
    /// the type allows between rows and within them (f16 subnormals included), and a
    /// massive constant feature, where the graph goes to the engine.
    #[test]
    fn adversarial_half_precision_rows_stay_exact() {
        let (n, d, k) = (150, 37, 8);
        let base = values(n * d, 17);
        let dup: Vec<f32> = (0..n * d).map(|e| base[(e / d % 5) * d + e % d]).collect();
        // bf16 has f32's exponents; f16 from 2^-24 (its least subnormal) to about 2^7.
        let wide = |rows: i32, features: i32, scale: f64| -> Vec<f32> {
            (0..n * d)
                .map(|e| {
                    let (i, p) = (e / d, e % d);
                    let s = scale * 2f64.powi(i as i32 % rows) * 2f64.powi(-(p as i32 % features));
                    (f64::from(base[e]) * s) as f32
                })
                .collect()
        };
        let mut massive = base.clone();
        for row in massive.chunks_mut(d) {
            row[0] = 1000.0;
        }
        let (bf_wide, f_wide) = (wide(140, 60, 1e-30), wide(24, 8, 2f64.powi(-16)));
        let b = |v: &[f32]| v.iter().map(|&x| bf16::from_f32(x)).collect::<Vec<_>>();
        let h = |v: &[f32]| v.iter().map(|&x| f16::from_f32(x)).collect::<Vec<_>>();
        assert!(h(&f_wide).iter().any(|x| x.to_bits() & 0x7c00 == 0 && x.to_bits() & 0x3ff != 0), "f16 subnormals");
        // Each through the prefilter (its survivors rescored), not handed to the engine.
        for data in [&dup, &bf_wide] {
            assert!(same_as_engine(Matrix::new(&b(data), n, d).unwrap(), k).is_some());
        }
        for data in [&dup, &f_wide] {
            assert!(same_as_engine(Matrix::new(&h(data), n, d).unwrap(), k).is_some());
        }
        assert_eq!(same_as_engine(Matrix::new(&b(&massive), n, d).unwrap(), k), None);
        assert_eq!(same_as_engine(Matrix::new(&h(&massive), n, d).unwrap(), k), None);
    }

    /// The bound really bounds: |s - a| <= b for the engine's f32 chain s and the
    /// portable pass's a, for random rows and for rows whose rounding error points along
    /// another row (x's partner y = x - x^, scaled, so e_x . y = |e_x||y|). Each
    /// quantisation term alone is needed there, so the test sees a term dropped.
    #[test]
    fn the_bound_holds_and_each_term_is_needed() {
        let (half, d) = (32, 300);
        let mut x = values(half * d, 13);
        let partners: Vec<f32> = x
            .iter()
            .map(|&v| f32::from_bits(bf16_bits((v - f32::from_bits(bf16_bits(v) << 16)) * 1024.0) << 16))
            .collect();
        x.extend(partners);
        let n = 2 * half;
        let m = Matrix::new(&x, n, d).unwrap();
        let q = quantize(&m, 1, Isa::Scalar).unwrap();
        let mut a_tiles = vec![0u16; n.div_ceil(32) * 32 * q.depth];
        query_tiles(&m, 0, n, q.depth, &mut a_tiles);
        let np = q.packed.len() * 2 / q.depth;
        let mut block = vec![0.0f32; n * np];
        pass_scalar(&q, &a_tiles, n, None, n, &mut block, np);
        let bound = Bound::new(d).unwrap();
        let (mut need_row_err, mut need_col_err) = (0, 0);
        for i in 0..n {
            for j in 0..n {
                let s = m.row(i).iter().zip(m.row(j)).fold(0.0f32, |acc, (&a, &b)| a.mul_add(b, acc));
                let (a, row) = (block[i * np + j], bound.row(&q, i));
                let gap = (f64::from(s) - f64::from(a)).abs();
                assert!(gap <= f64::from(row.pair(q.norm[j], q.hat[j], q.err[j])), "pair ({i}, {j})");
                let without_row_err = RowBound { alpha: bound.engine * q.norm[i], ..row };
                need_row_err += usize::from(gap > f64::from(without_row_err.pair(q.norm[j], q.hat[j], q.err[j])));
                need_col_err += usize::from(gap > f64::from(row.pair(q.norm[j], q.hat[j], 0.0)));
            }
        }
        assert!(need_row_err > 0 && need_col_err > 0, "{need_row_err} / {need_col_err} pairs need each term");
    }

    /// [`row_survivors`]' candidates give the survivors of every pair's bounds, on every
    /// ISA, for any scores: here scores packed into a band a few bounds wide around the
    /// k-th (so that the widest bound's screening matters), with rows of norms 1/4 to 4
    /// (so that it is much wider than most pairs'), split into two slices anywhere, and k
    /// up to and past the groups of [`first_estimate`].
    #[test]
    fn the_candidates_hold_every_survivor() {
        let (n, d) = (300usize, 40usize);
        let mut x = values(n * d, 21);
        let scales = values(n, 22);
        for (row, s) in x.chunks_mut(d).zip(&scales) {
            let scale = 4f32.powf(2.0 * s);
            row.iter_mut().for_each(|v| *v *= scale);
        }
        let m = Matrix::new(&x, n, d).unwrap();
        let q = quantize(&m, 1, Isa::Scalar).unwrap();
        let bound = Bound::new(d).unwrap();
        struct Survivors<'a> {
            q: &'a Quantized,
            bound: Bound,
            k: usize,
            a: &'a [f32],
            split: usize,
            i: usize,
            rows: &'a mut Rows,
        }
        impl WithSimd for Survivors<'_> {
            type Output = bool;
            fn with_simd<S: Simd>(self, simd: S) -> bool {
                let segments = [&self.a[..self.split], &self.a[self.split..]];
                row_survivors(simd, self.q, self.bound, self.k, &segments, self.i, self.rows)
            }
        }
        let shared = Shared { units: &[], probe: 0, rows: 1 };
        let cx = Context { x: &m, q: &q, bound, k: 1, isa: Isa::Scalar, pass: Bf16Pass::Portable, np: 0, shared };
        let mut rows = Rows::new(&cx).unwrap();
        let (mut checked, mut screened) = (0, 0);
        for (t, i) in [0, 1, 63, 64, 150, 299].into_iter().enumerate() {
            let row = bound.row(&q, i);
            let widest = row.pair(q.most[0], q.most[1], q.most[2]);
            let noise = values(n, 100 + t as u64);
            // Row i's own score far above the rest, as a self score usually is.
            let a: Vec<f32> =
                noise.iter().enumerate().map(|(j, &u)| if j == i { 100.0 } else { 0.25 + 8.0 * widest * u }).collect();
            for k in [1, 5, 10, 63, 64, 100] {
                let lower: Vec<f32> = (0..n).map(|j| a[j] - row.pair(q.norm[j], q.hat[j], q.err[j])).collect();
                let mut others: Vec<f32> = (0..n).filter(|&j| j != i).map(|j| lower[j]).collect();
                let theta = *others.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a)).1;
                let want: Vec<u32> = (0..n)
                    .filter(|&j| j != i && a[j] + row.pair(q.norm[j], q.hat[j], q.err[j]) >= theta)
                    .map(|j| j as u32)
                    .collect();
                for split in [0, 37, 64, 160, n] {
                    for isa in Isa::available() {
                        rows.survivors.clear();
                        let op = Survivors { q: &q, bound, k, a: &a, split, i, rows: &mut rows };
                        assert!(dispatch::run(isa, op).unwrap());
                        assert_eq!(rows.survivors, want, "{isa:?}, row {i}, k = {k}, split at {split}");
                        checked += 1;
                        screened += usize::from(rows.candidates.len() < n - 1);
                    }
                }
            }
        }
        // The screening left columns out in most cases (not all: k >= 64 keeps every one).
        assert!(screened * 2 > checked, "{screened} of {checked}");
    }
}
