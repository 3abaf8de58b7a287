/*
 * libFuzzer target over the argument validation of the repalign C ABI.
 *
 * Each input is decoded into up to four calls of the fallible functions with random
 * descriptors: shapes, strides and lengths (small, or boundary values such as SIZE_MAX,
 * 2^32 + 1), dtypes and other enums (valid values, the first invalid one, arbitrary
 * integers), NULL descriptors, data and outputs, misaligned data, k, metric descriptors
 * (sigma NaN, 0, -1, tiny, huge), clamp quantiles q (the same values) and options
 * (similarity, threads, forced ISA).
 *
 * The harness keeps the caller's side of the contract, so that any crash is the library's:
 * every `len` is the true length of a real buffer, and lengths that the function derives
 * itself (rows * width of a neighbour list) are either real or overflow size_t. Buffers
 * sit against PROT_NONE guard pages, at the front or the back of their slot, so a read or
 * write past either end faults even inside the (uninstrumented) Rust library; ASan still
 * sees the library's memcpy/memset and malloc. After each call it checks what the header
 * promises: a known status, never REPALIGN_STATUS_PANIC, the last error set exactly on
 * failure, and on success well-formed results (neighbour indices in range, distinct, best
 * first; scores in their documented ranges; a preparation with options equal to one with
 * the defaults, bit for bit).
 *
 * Inputs left over after the four calls make one more: a request whose buffers no
 * allocator gives (the allocation-size and permutation-count dimensions): a calibration
 * with 2^40 to SIZE_MAX permutations, or CKA / CKNNA on 400,000 to 1,000,000 rows (N x N
 * f64 kernels of 1.28 to 8 TB). It must fail with a status (OUT_OF_MEMORY for valid
 * inputs), never abort. Every size is above ASan's 1 TiB allocation limit (ASan then
 * returns NULL, see __asan_default_options) or overflows size_t; run.sh raises libFuzzer's
 * per-malloc limit above them. Saved inputs keep their first four calls.
 *
 * Built and run by ctests/fuzz/run.sh. FUZZ_ABI_TRACE=1 prints each call and its status.
 */
#define _DEFAULT_SOURCE
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "repalign.h"

enum {
    CAP = 256,        /* elements of a feature buffer: keeps every call cheap */
    OUT_CAP = 1024,   /* elements of an output buffer */
    SLOTS = 16,       /* buffers per input */
    SLOT_PAGES = 4,   /* 16 KiB per slot: >= OUT_CAP doubles */
    N_FUNCTIONS = 14, /* for the coverage counters */
    TALL = 1000000,   /* rows of the one-feature matrix of the huge requests */
};

/* Huge allocations fail (NULL) instead of being reported by ASan: the library must turn
 * them into a status. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

static float *tall; /* TALL rows of one feature, for the huge requests */

/* Per (function, status) counters: libFuzzer treats them as coverage, so an input that
 * reaches a new status of a function is kept, although the library is not instrumented. */
__attribute__((section("__libfuzzer_extra_counters"))) static uint8_t reached[N_FUNCTIONS][32];

static bool trace;

#define REQUIRE(cond)                                                                                     \
    do {                                                                                                  \
        if (!(cond)) {                                                                                    \
            fprintf(stderr, "fuzz_abi: contract violated: %s (%s:%d), last error \"%s\"\n", #cond, __FILE__, \
                    __LINE__, repalign_last_error());                                                     \
            abort();                                                                                      \
        }                                                                                                 \
    } while (0)

/* ---- decoding the input ------------------------------------------------------------------ */

typedef struct {
    const uint8_t *p;
    size_t n;
} Input;

static uint8_t byte(Input *in) {
    if (in->n == 0) return 0;
    in->n--;
    return *in->p++;
}

static uint64_t bits(Input *in, int bytes) {
    uint64_t v = 0;
    while (bytes-- > 0) v = v << 8 | byte(in);
    return v;
}

/* A size: mostly small, sometimes a boundary value. */
static size_t size(Input *in) {
    static const size_t edge[] = {SIZE_MAX, SIZE_MAX / 2 + 1, SIZE_MAX / 4 + 1, (size_t)1 << 32,
                                  ((size_t)1 << 32) + 1, UINT32_MAX, (size_t)1 << 62, 0};
    uint8_t b = byte(in);
    if (b < 200) return b % 20;
    if (b < 232) return 20 + (size_t)(b - 200) * 8;
    return b % 8 < 7 ? edge[b % 8] : (size_t)bits(in, 8);
}

/* An enumerated value with `count` valid values: one of them, the first invalid one, or
 * any integer. */
static uint32_t enum_value(Input *in, uint32_t count) {
    uint8_t b = byte(in);
    if (b < 240) return b % (count + 1);
    return b & 1 ? UINT32_MAX : (uint32_t)bits(in, 4);
}

/* ---- guarded buffers ------------------------------------------------------------------- */

static uint8_t *arena;
static size_t page;
static int used_slots;

static void arena_init(void) {
    size_t total, s;
    page = (size_t)sysconf(_SC_PAGESIZE);
    total = (SLOTS * (SLOT_PAGES + 1) + 1) * page;
    arena = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(arena != MAP_FAILED);
    for (s = 0; s <= SLOTS; s++) REQUIRE(mprotect(arena + s * (SLOT_PAGES + 1) * page, page, PROT_NONE) == 0);
}

/* `bytes` in the next slot, against its front or its back guard page, `offset` bytes in
 * (1 makes a misaligned pointer); filled with 0xA5. */
static void *place(Input *in, size_t bytes, size_t offset) {
    uint8_t *start, *p;
    REQUIRE(used_slots < SLOTS && bytes + offset <= SLOT_PAGES * page);
    start = arena + page + (size_t)used_slots++ * (SLOT_PAGES + 1) * page;
    p = byte(in) & 1 ? start : start + SLOT_PAGES * page - bytes - offset;
    memset(p, 0xA5, bytes + offset);
    return p + offset;
}

static uint16_t f16_bits(float f) {
    uint32_t x, h;
    int32_t exp;
    memcpy(&x, &f, sizeof x);
    if (isnan(f)) return 0x7e00;
    exp = (int32_t)((x >> 23) & 0xffu) - 127 + 15;
    if (exp <= 0) return (uint16_t)((x >> 16) & 0x8000u);
    if (exp >= 31) return (uint16_t)(((x >> 16) & 0x8000u) | 0x7c00u);
    h = ((x >> 16) & 0x8000u) | ((uint32_t)exp << 10) | ((x >> 13) & 0x3ffu);
    return (uint16_t)h;
}

/* Fills `count` elements of `esize` bytes: small values, raw bits (NaN, infinities,
 * huge), small values with specials sprinkled in, or zeros. */
static void fill(Input *in, uint8_t *p, size_t count, size_t esize, bool bf16) {
    static const float special[] = {NAN, INFINITY, -INFINITY, 0.0f, 3e19f, 1e-40f, 65504.0f, -0.0f};
    uint8_t mode = byte(in) % 4;
    uint32_t seed = (uint32_t)bits(in, 4) | 1u;
    size_t i;
    for (i = 0; i < count; i++) {
        float v;
        uint32_t raw;
        seed ^= seed << 13, seed ^= seed >> 17, seed ^= seed << 5;
        v = (float)(int8_t)seed / 32.0f;
        if (mode == 1) memcpy(&v, &seed, sizeof v);
        if (mode == 2 && seed % 23 == 0) v = special[(seed >> 8) % 8];
        if (mode == 3) v = 0.0f;
        memcpy(&raw, &v, sizeof raw);
        if (esize == 4) {
            memcpy(p + i * 4, &raw, 4);
        } else {
            uint16_t h = mode == 1 ? (uint16_t)seed : bf16 ? (uint16_t)(raw >> 16) : f16_bits(v);
            memcpy(p + i * 2, &h, 2);
        }
    }
}

/* A buffer length for a shape that needs `needed` elements (`ok` false: it overflowed):
 * exactly that, one short, a little more, or anything small. Always <= cap. */
static size_t length(Input *in, size_t needed, bool ok, size_t cap) {
    uint8_t b = byte(in) % 8;
    size_t len = b < 5 ? needed : b == 5 ? needed - (needed > 0) : b == 6 ? needed + 3 : byte(in);
    return ok && len <= cap ? len : byte(in) % cap;
}

/* Descriptor flags: 1 in 8 descriptors is NULL, 1 in 8 has misaligned data, 1 in 8 NULL data. */
static bool null_descriptor(uint8_t flags) { return flags % 8 == 7; }
static bool misaligned(uint8_t flags) { return flags / 8 % 8 == 1; }
static bool null_data(uint8_t flags) { return flags / 8 % 8 == 2; }

static const void *data_buffer(Input *in, uint32_t dtype, size_t len, uint8_t flags) {
    size_t esize = dtype == REPALIGN_DTYPE_F16 || dtype == REPALIGN_DTYPE_BF16 ? 2 : 4;
    uint8_t *p = place(in, len * esize, misaligned(flags));
    fill(in, p, len, esize, dtype == REPALIGN_DTYPE_BF16);
    return p;
}

/* A matrix descriptor, or NULL. */
static const RepalignMatrix *matrix(Input *in, RepalignMatrix *m) {
    uint8_t flags = byte(in), s = byte(in);
    size_t needed = 0;
    bool ok = true;
    if (null_descriptor(flags)) return NULL;
    m->dtype = enum_value(in, 3);
    m->rows = size(in);
    m->cols = size(in);
    m->row_stride = s < 192 ? m->cols + s % 4 : size(in);
    if (m->rows > 0)
        ok = !__builtin_mul_overflow(m->rows - 1, m->row_stride, &needed) &&
             !__builtin_add_overflow(needed, m->cols, &needed);
    m->len = length(in, needed, ok, CAP);
    m->data = data_buffer(in, m->dtype, m->len, flags);
    if (null_data(flags)) { /* `len` may then be anything */
        m->data = NULL;
        m->len = size(in);
    }
    return m;
}

/* A tensor descriptor, or NULL. */
static const RepalignTensor3 *tensor(Input *in, RepalignTensor3 *t) {
    uint8_t flags = byte(in);
    size_t needed = 0;
    bool ok;
    if (null_descriptor(flags)) return NULL;
    t->dtype = enum_value(in, 3);
    t->samples = size(in);
    t->layers = size(in);
    t->dim = size(in);
    ok = !__builtin_mul_overflow(t->samples, t->layers, &needed) && !__builtin_mul_overflow(needed, t->dim, &needed);
    t->len = length(in, needed, ok, CAP);
    t->data = data_buffer(in, t->dtype, t->len, flags);
    if (null_data(flags)) {
        t->data = NULL;
        t->len = size(in);
    }
    return t;
}

static const RepalignKnnOptions *options(Input *in, RepalignKnnOptions *o) {
    uint8_t b = byte(in);
    if (b % 4 == 0) return NULL;
    *o = repalign_knn_options_default();
    o->similarity = enum_value(in, 2);
    o->threads = b < 224 ? b % 4 : size(in);
    o->isa = enum_value(in, 8);
    return o;
}

static double real(Input *in) {
    static const double table[] = {1.0, 0.5, 0.95, 0.0, -1.0, NAN, INFINITY, 1e-300, 1e300, 1.5, 5e-324, 0.25};
    uint8_t b = byte(in);
    uint64_t raw;
    double v;
    if (b < 240) return table[b % 12];
    raw = bits(in, 8);
    memcpy(&v, &raw, sizeof v);
    return v;
}

static const RepalignMetric *metric(Input *in, RepalignMetric *m) {
    if (byte(in) % 8 == 0) return NULL;
    *m = repalign_metric_default(enum_value(in, 14));
    m->k = size(in);
    m->kernel = enum_value(in, 2);
    m->sigma = real(in);
    m->unbiased = enum_value(in, 2);
    m->cca_dim = size(in);
    m->rdm = enum_value(in, 2);
    m->corr = enum_value(in, 2);
    return m;
}

/* An output buffer of `T`s: `*len` real elements, or NULL (flag bit). */
static void *output(Input *in, size_t esize, size_t needed, bool ok, size_t *len, bool allow_null) {
    if (allow_null && byte(in) % 8 == 0) {
        *len = size(in);
        return NULL;
    }
    *len = length(in, needed, ok, OUT_CAP);
    return place(in, *len * esize, 0);
}

/* A required scalar out-parameter, NULL 1 time in 16. */
static void *scalar(Input *in, size_t esize) { return byte(in) % 16 == 0 ? NULL : place(in, esize, 0); }

/* Neighbour lists of `rows` x `width` for functions that take no length: `width` is cut so
 * that rows * width is real (<= CAP) unless it overflows size_t. */
static const uint32_t *neighbours(Input *in, size_t rows, size_t *width) {
    size_t len, i;
    uint32_t *p;
    uint8_t mode;
    if (!__builtin_mul_overflow(rows, *width, &len) && len > CAP) {
        *width = CAP / rows;
        len = rows * *width;
    }
    if (__builtin_mul_overflow(rows, *width, &len) || byte(in) % 16 == 0) return NULL;
    p = place(in, len * 4, 0);
    mode = byte(in);
    for (i = 0; i < len; i++) { /* len > 0: rows and width are in 1..CAP */
        size_t row = i / *width, pos = i % *width;
        /* a step not coprime with rows repeats an index; the row itself may appear */
        uint32_t v = (uint32_t)((row + 1 + pos * (1 + mode % 3)) % rows);
        if (mode % 5 == 0) v = byte(in);
        if (mode % 5 == 1) v = (uint32_t)bits(in, 4);
        p[i] = v;
    }
    return p;
}

/* ---- checks after each call ------------------------------------------------------------- */

static void after(int fn, RepalignStatus st) {
    const char *detail = repalign_last_error();
    if (trace) fprintf(stderr, "fuzz_abi: function %d -> %d (%s)\n", fn, (int)st, detail);
    REQUIRE((uint32_t)st <= REPALIGN_STATUS_CANCELLED);
    REQUIRE(st != REPALIGN_STATUS_PANIC);
    REQUIRE(detail != NULL && repalign_status_message((uint32_t)st) != NULL);
    REQUIRE((st == REPALIGN_STATUS_OK) == (detail[0] == '\0'));
    if (reached[fn][st] < 255) reached[fn][st]++;
}

/* Lists of `rows` x `k` from a successful call: indices < n, distinct in a row (and not the
 * row itself for a graph), best first with ties by lower index. */
static void check_lists(const uint32_t *idx, const float *sc, size_t rows, size_t k, size_t n, bool graph) {
    size_t i, p, q;
    for (i = 0; i < rows; i++)
        for (p = 0; p < k; p++) {
            uint32_t v = idx[i * k + p];
            REQUIRE(v < n && !(graph && v == i));
            for (q = 0; q < p; q++) REQUIRE(idx[i * k + q] != v);
            if (sc) REQUIRE(isfinite(sc[i * k + p]));
            if (sc && p > 0) {
                float a = sc[i * k + p - 1], b = sc[i * k + p];
                REQUIRE(a > b || (a == b && idx[i * k + p - 1] < v));
            }
        }
}

static void check_unit(double v) { REQUIRE(v >= 0.0 && v <= 1.0); }

/* ---- the calls -------------------------------------------------------------------------- */

static void knn(Input *in, bool search) {
    RepalignMatrix mq, mdb;
    RepalignKnnOptions o;
    const RepalignMatrix *q = matrix(in, &mq), *db = search ? matrix(in, &mdb) : q;
    const RepalignKnnOptions *opts = options(in, &o);
    size_t k = size(in), rows = q ? q->rows : 0, needed = 0, ilen, slen;
    bool ok = !__builtin_mul_overflow(rows, k, &needed);
    uint32_t *idx = output(in, 4, needed, ok, &ilen, true);
    float *sc = output(in, 4, needed, ok, &slen, true);
    uint32_t *isa = scalar(in, 4);
    RepalignStatus st = search ? repalign_knn_search(q, db, k, opts, idx, ilen, sc, slen, isa)
                               : repalign_knn_graph(q, k, opts, idx, ilen, sc, slen, isa);
    after(search, st);
    if (st != REPALIGN_STATUS_OK) return;
    check_lists(idx, sc, rows, k, db->rows, !search);
    REQUIRE(!isa || (*isa >= REPALIGN_ISA_SCALAR && *isa <= REPALIGN_ISA_EMULATED_512));
}

static void merge(Input *in) {
    const uint32_t **parts = NULL;
    const float **part_sc = NULL;
    size_t *widths = NULL, nparts = byte(in) % 5, rows = size(in), k = size(in), p, len, needed = 0;
    uint8_t nulls = byte(in);
    bool ok = !__builtin_mul_overflow(rows, k, &needed);
    uint32_t *out;
    float *out_sc;
    RepalignStatus st;
    if (nulls % 8 == 7) {
        nparts = size(in); /* all three arrays NULL: any count */
    } else {
        parts = place(in, nparts * sizeof *parts, 0);
        part_sc = place(in, nparts * sizeof *part_sc, 0);
        widths = place(in, nparts * sizeof *widths, 0);
        for (p = 0; p < nparts; p++) {
            size_t n;
            widths[p] = size(in);
            parts[p] = neighbours(in, rows, &widths[p]);
            part_sc[p] = NULL;
            if (!__builtin_mul_overflow(rows, widths[p], &n) && n <= CAP) {
                part_sc[p] = place(in, n * 4, 0);
                fill(in, (uint8_t *)part_sc[p], n, 4, false);
            }
        }
        if (nulls / 8 % 8 == 1) parts = NULL;
        if (nulls / 8 % 8 == 2) part_sc = NULL;
        if (nulls / 8 % 8 == 3) widths = NULL;
    }
    out = output(in, 4, needed, ok, &len, false);
    out_sc = byte(in) % 4 ? place(in, len * 4, 0) : NULL;
    st = repalign_knn_merge(parts, part_sc, widths, nparts, rows, k, out, out_sc, len);
    after(2, st);
    if (st == REPALIGN_STATUS_OK) check_lists(out, NULL, rows, k, UINT32_MAX + (size_t)1, false);
}

static void mutual(Input *in) {
    RepalignMatrix ma, mb;
    RepalignKnnOptions o;
    const RepalignMatrix *a = matrix(in, &ma), *b = matrix(in, &mb);
    const RepalignKnnOptions *opts = options(in, &o);
    size_t k = size(in);
    double *out = scalar(in, 8);
    RepalignStatus st = repalign_mutual_knn(a, b, k, opts, out);
    after(3, st);
    if (st == REPALIGN_STATUS_OK) check_unit(*out);
}

static void from_graphs(Input *in, bool any_kind) {
    uint32_t kind = any_kind ? enum_value(in, 14) : REPALIGN_METRIC_KIND_MUTUAL_KNN;
    size_t rows = size(in), aw = size(in), bw = size(in), k = size(in);
    const uint32_t *a = neighbours(in, rows, &aw), *b = neighbours(in, rows, &bw);
    double *out = scalar(in, 8);
    RepalignStatus st = any_kind ? repalign_knn_metric_graphs(kind, a, aw, b, bw, rows, k, out)
                                 : repalign_mutual_knn_graphs(a, aw, b, bw, rows, k, out);
    after(any_kind ? 5 : 4, st);
    if (st != REPALIGN_STATUS_OK) return;
    if (kind == REPALIGN_METRIC_KIND_LCS_KNN)
        REQUIRE(*out >= 0.0 && *out <= (double)k);
    else
        check_unit(*out);
}

static void score(Input *in) {
    RepalignMatrix ma, mb;
    RepalignMetric m;
    RepalignKnnOptions o;
    const RepalignMatrix *a = matrix(in, &ma), *b = matrix(in, &mb);
    const RepalignMetric *met = metric(in, &m);
    const RepalignKnnOptions *opts = options(in, &o);
    double *out = scalar(in, 8);
    RepalignStatus st = repalign_score(a, b, met, opts, out);
    after(6, st);
    if (st != REPALIGN_STATUS_OK) return;
    REQUIRE(isfinite(*out));
    if (met->kind <= REPALIGN_METRIC_KIND_JACCARD_KNN && met->kind != REPALIGN_METRIC_KIND_LCS_KNN) check_unit(*out);
    if (met->kind == REPALIGN_METRIC_KIND_SVCCA) check_unit(*out);
    /* Correlations and their means, up to rounding. */
    if (met->kind == REPALIGN_METRIC_KIND_CCA || met->kind == REPALIGN_METRIC_KIND_RV_COEFFICIENT)
        REQUIRE(*out >= -1e-12 && *out <= 1.0 + 1e-12);
    if (met->kind == REPALIGN_METRIC_KIND_RSA) REQUIRE(*out >= -1.0 - 1e-12 && *out <= 1.0 + 1e-12);
}

static void prepare(Input *in, bool threshold_only) {
    RepalignTensor3 t;
    RepalignKnnOptions o;
    const RepalignTensor3 *x = tensor(in, &t);
    uint32_t mode = enum_value(in, 4), flag = enum_value(in, 2);
    double q = real(in);
    const RepalignKnnOptions *opts = options(in, &o);
    size_t needed = x ? x->samples * x->layers * x->dim : 0, len, i; /* wraps harmlessly */
    float *out, *threshold, again;
    RepalignStatus st;
    if (threshold_only) {
        threshold = scalar(in, 4);
        st = repalign_clamp_threshold(x, q, flag, opts, threshold);
        after(7, st);
        if (st != REPALIGN_STATUS_OK) return;
        REQUIRE(*threshold >= 0.0f);
        /* Threads and a forced ISA change speed only: the defaults give the same bits. */
        REQUIRE(!opts || (repalign_clamp_threshold(x, q, flag, NULL, &again) == REPALIGN_STATUS_OK &&
                          memcmp(&again, threshold, sizeof again) == 0));
        return;
    }
    out = output(in, 4, needed, true, &len, true);
    threshold = byte(in) % 4 ? place(in, 4, 0) : NULL;
    st = repalign_prepare(x, mode, q, opts, out, len, threshold);
    after(8, st);
    if (st != REPALIGN_STATUS_OK) return;
    for (i = 0; i < needed; i++) REQUIRE(isfinite(out[i]) && (mode == REPALIGN_PREPARE_NONE || fabsf(out[i]) <= 1.0f + 1e-6f));
    REQUIRE(!threshold || *threshold >= 0.0f);
    if (opts) { /* as above: the defaults give the same values and threshold */
        Input none = {NULL, 0};                  /* reads no input: the layout stays the same */
        float *same = place(&none, needed * 4, 0);
        REQUIRE(repalign_prepare(x, mode, q, NULL, same, needed, &again) == REPALIGN_STATUS_OK);
        REQUIRE(memcmp(same, out, needed * 4) == 0 && (!threshold || memcmp(&again, threshold, sizeof again) == 0));
    }
}

static void sweep(Input *in) {
    RepalignTensor3 ta, tb;
    RepalignMetric m;
    RepalignKnnOptions o;
    const RepalignTensor3 *a = tensor(in, &ta), *b = tensor(in, &tb);
    const RepalignMetric *met = metric(in, &m);
    const RepalignKnnOptions *opts = options(in, &o);
    uint32_t mode = enum_value(in, 4);
    double q = real(in);
    size_t needed = 0, len;
    bool ok = a && b && !__builtin_mul_overflow(a->layers, b->layers, &needed);
    double *scores = output(in, 8, needed, ok, &len, true), *best = scalar(in, 8);
    size_t *bi = scalar(in, sizeof(size_t)), *bj = scalar(in, sizeof(size_t));
    bool *has = scalar(in, sizeof(bool));
    RepalignStatus st = repalign_sweep(a, b, met, mode, q, opts, scores, len, best, bi, bj, has);
    after(9, st);
    if (!(q > 0.0 && q <= 1.0)) REQUIRE(st != REPALIGN_STATUS_OK); /* q is checked for every mode */
    if (st != REPALIGN_STATUS_OK) return;
    REQUIRE(*bi < a->layers && *bj < b->layers);
    REQUIRE(*has ? *best > 0.0 && *best == scores[*bi * b->layers + *bj] : *best == 0.0 && *bi == 0 && *bj == 0);
}

/* The zoo: up to three fuzzed tensors (a NULL one becomes a zeroed descriptor), all pairs or
 * two groups, calibrated with a few permutations or not. */
static void zoo(Input *in) {
    RepalignTensor3 t[3];
    RepalignMetric m;
    RepalignKnnOptions o;
    RepalignCalibrationOptions cal = repalign_calibration_options_default();
    const RepalignCalibrationOptions *c = NULL;
    size_t count = byte(in) % 4, first_b = byte(in) % 4, i, np = 0, ns = 0, plen, slen, off = 0;
    const RepalignMetric *met;
    const RepalignKnnOptions *opts;
    RepalignZooPair *pairs;
    double *scores;
    uint32_t mode;
    double q;
    RepalignStatus st;
    bool ok;
    for (i = 0; i < count; i++)
        if (!tensor(in, &t[i])) memset(&t[i], 0, sizeof t[i]);
    met = metric(in, &m);
    opts = options(in, &o);
    mode = enum_value(in, 4);
    q = real(in);
    if (byte(in) % 2) {
        cal.permutations = 1 + byte(in) % 4;
        c = &cal;
    }
    st = repalign_zoo_sizes(count ? t : NULL, count, first_b, &np, &ns);
    after(13, st);
    ok = st == REPALIGN_STATUS_OK;
    /* Room for 8 pairs (three models have at most 3); a length of np, one short, or fuzzed. */
    plen = ok && byte(in) % 8 ? np : size(in) % 9;
    pairs = byte(in) % 16 == 0 ? NULL : place(in, 8 * sizeof *pairs, 0);
    scores = output(in, 8, ns, ok, &slen, true);
    st = repalign_zoo(count ? t : NULL, count, first_b, met, mode, q, opts, c, pairs, plen, scores, slen);
    after(13, st);
    if (st != REPALIGN_STATUS_OK) return;
    REQUIRE(ok && plen >= np && slen >= ns && np >= 1);
    for (i = 0; i < np; i++) {
        const RepalignZooPair *z = &pairs[i];
        REQUIRE(z->a < z->b && z->b < count && z->scores_offset == off && z->has_calibration == (c != NULL));
        REQUIRE(z->best_i < t[z->a].layers && z->best_j < t[z->b].layers);
        REQUIRE(z->has_best ? z->best > 0.0 && z->best == scores[off + z->best_i * t[z->b].layers + z->best_j]
                            : z->best == 0.0);
        if (c) REQUIRE(z->q_value >= z->calibration.p_value && z->holm <= 1.0 && z->holm >= z->calibration.p_value);
        off += t[z->a].layers * t[z->b].layers;
    }
    REQUIRE(off == ns);
}

/* A request no allocator can serve (see the top): an error status, never an abort. */
static void huge(Input *in) {
    static const size_t perms[] = {(size_t)1 << 40, (size_t)1 << 47, (size_t)1 << 61, SIZE_MAX, SIZE_MAX / 2 + 1};
    static const size_t rows[] = {400000, 700000, TALL};
    RepalignKnnOptions o;
    const RepalignKnnOptions *opts = options(in, &o);
    RepalignStatus st;
    if (byte(in) % 2 == 0) { /* the permutation-count dimension */
        RepalignMatrix ma;
        RepalignMetric m;
        RepalignCalibration out;
        const RepalignMatrix *a = matrix(in, &ma);
        const RepalignMetric *met = metric(in, &m);
        RepalignCalibrationOptions cal = repalign_calibration_options_default();
        cal.permutations = perms[byte(in) % 5];
        st = repalign_calibrate_score(a, a, met, opts, &cal, &out);
        after(11, st);
        REQUIRE(st != REPALIGN_STATUS_OK);
    } else { /* the allocation-size dimension: N x N kernels */
        RepalignMatrix t;
        RepalignMetric m;
        double out;
        memset(&t, 0, sizeof t);
        t.data = tall, t.dtype = REPALIGN_DTYPE_F32, t.rows = rows[byte(in) % 3], t.cols = 1, t.row_stride = 1;
        t.len = t.rows;
        m = repalign_metric_default(byte(in) % 2 ? REPALIGN_METRIC_KIND_CKA : REPALIGN_METRIC_KIND_CKNNA);
        st = repalign_score(&t, &t, &m, opts, &out);
        after(12, st);
        REQUIRE(st == REPALIGN_STATUS_OUT_OF_MEMORY || st == REPALIGN_STATUS_ISA_UNAVAILABLE ||
                st == REPALIGN_STATUS_INVALID_ENUM || st == REPALIGN_STATUS_INVALID_PARAMETER);
    }
}

static void small_functions(Input *in) {
    uint32_t v = enum_value(in, 8);
    bool *out = scalar(in, sizeof(bool));
    RepalignStatus st = repalign_isa_available(v, out);
    after(10, st);
    REQUIRE((repalign_isa_name(v) != NULL) == (v <= REPALIGN_ISA_EMULATED_512));
    REQUIRE((repalign_metric_kind_name(v) != NULL) == (v <= REPALIGN_METRIC_KIND_RV_COEFFICIENT));
    REQUIRE(repalign_status_message(v) != NULL && repalign_version() != NULL);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    trace = getenv("FUZZ_ABI_TRACE") != NULL;
    arena_init();
    tall = malloc(TALL * sizeof *tall);
    if (!tall) abort();
    for (size_t i = 0; i < TALL; i++) tall[i] = (float)(i % 89) / 89.0f + 0.5f;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Input in = {data, size};
    int calls;
    for (calls = 0; calls < 4 && in.n > 0; calls++) {
        used_slots = 0;
        uint8_t which = byte(&in);
        /* The zoo takes the top selector values, so the saved inputs keep their calls. */
        if (which >= 253) {
            zoo(&in);
            continue;
        }
        switch (which % 11) {
        case 0: knn(&in, false); break;
        case 1: knn(&in, true); break;
        case 2: merge(&in); break;
        case 3: mutual(&in); break;
        case 4: from_graphs(&in, false); break;
        case 5: from_graphs(&in, true); break;
        case 6: score(&in); break;
        case 7: prepare(&in, true); break;
        case 8: prepare(&in, false); break;
        case 9: sweep(&in); break;
        default: small_functions(&in); break;
        }
    }
    if (calls == 4 && in.n > 0) huge(&in);
    return 0;
}
