/*
 * C99 test of the repalign C ABI (include/repalign.h): kNN graph, search, merge and
 * mutual-kNN against naive double-precision loops written here, f16 / bf16 inputs,
 * options, and the error paths. Prints one line per check, then "N passed, M failed";
 * exits non-zero on any failure.
 *
 *   gcc -std=c99 -Wall -Wextra -Wpedantic -Werror -Iinclude ctests/test_knn.c \
 *       target/release/librepalign.a -lpthread -ldl -lm
 */
#include "repalign.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- data ---------------------------------------------------------------------------- */

enum { N = 7, DA = 5, DB = 4 };

/* Two representations of 7 samples. Every row's similarities are at least 0.02 apart
 * (inner product and cosine), so f32 and double rankings agree without ties. */
static const float A[N * DA] = {
    -0.91f, 0.00f,  0.36f,  0.25f,  -0.29f, /* */
    0.94f,  0.65f,  -0.78f, 0.05f,  -0.04f, /* */
    -0.06f, 0.00f,  -0.06f, -0.40f, -0.46f, /* */
    -0.14f, 0.12f,  0.19f,  0.41f,  -0.14f, /* */
    0.75f,  0.91f,  -0.19f, 0.12f,  0.13f,  /* */
    -0.10f, -0.63f, -0.36f, -0.99f, 0.17f,  /* */
    0.46f,  0.41f,  0.13f,  -0.60f, -0.16f,
};
static const float B[N * DB] = {
    -0.11f, -0.96f, 0.75f,  0.61f,  /* */
    -0.32f, 0.65f,  -0.43f, 0.37f,  /* */
    -0.22f, -0.53f, -0.08f, -0.27f, /* */
    -0.06f, -0.07f, -0.42f, 0.41f,  /* */
    -0.05f, -0.61f, -0.54f, -0.38f, /* */
    0.00f,  -0.09f, 0.39f,  0.76f,  /* */
    -0.64f, 0.28f,  0.17f,  -0.58f,
};

/* Small halves and integers: exact in f16, bf16 and f32, so every inner product is exact
 * and deliberate ties (row 0 scores 1.0 against rows 2, 3 and 4) test the tie rule. */
enum { NZ = 6, DZ = 4 };
static const float Z[NZ * DZ] = {
    1, 0, 0, 0.5f, 0, 1, 0.5f, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0.5f, -1, 2, 1, -2, 0.5f, 1, -1,
};

static RepalignMatrix f32_matrix(const float *data, size_t rows, size_t cols) {
    RepalignMatrix m;
    m.data = data;
    m.dtype = REPALIGN_DTYPE_F32;
    m.rows = rows;
    m.cols = cols;
    m.row_stride = cols;
    m.len = rows * cols;
    return m;
}

/* f16 bits of a float that f16 represents exactly (zero or a normal number). */
static uint16_t f16_bits(float v) {
    uint16_t sign = (uint16_t)(signbit(v) ? 0x8000u : 0u);
    int e;
    double m;
    if (v == 0.0f) return sign;
    m = frexp(fabs((double)v), &e); /* |v| = m * 2^e, m in [0.5, 1) */
    return (uint16_t)(sign | (uint16_t)((e - 1 + 15) << 10) | (uint16_t)((2.0 * m - 1.0) * 1024.0));
}

static uint16_t bf16_bits(float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return (uint16_t)(u >> 16); /* exact: the values used have no low mantissa bits */
}

/* ---- naive reference ------------------------------------------------------------------- */

static double dot(const float *x, const float *y, size_t d) {
    double s = 0.0;
    size_t i;
    for (i = 0; i < d; i++) s += (double)x[i] * (double)y[i];
    return s;
}

/* Top-k of query q among the rows of db (skipping row `skip`, or none if skip >= n):
 * higher score first, equal scores by lower index. */
static void naive_topk(const float *q, const float *db, size_t n, size_t d, size_t skip, int cosine, size_t k,
                       uint32_t *idx, double *sc) {
    size_t filled = 0, j, p;
    for (j = 0; j < n; j++) {
        double s;
        if (j == skip) continue;
        s = dot(q, db + j * d, d);
        if (cosine) s /= sqrt(dot(q, q, d)) * sqrt(dot(db + j * d, db + j * d, d));
        /* insertion: j is larger than every index so far, so it goes after equal scores */
        for (p = filled < k ? filled : k; p > 0 && sc[p - 1] < s; p--) {
            if (p < k) {
                sc[p] = sc[p - 1];
                idx[p] = idx[p - 1];
            }
        }
        if (p < k) {
            sc[p] = s;
            idx[p] = (uint32_t)j;
        }
        if (filled < k) filled++;
    }
}

static void naive_graph(const float *x, size_t n, size_t d, int cosine, size_t k, uint32_t *idx, double *sc) {
    size_t i;
    for (i = 0; i < n; i++) naive_topk(x + i * d, x, n, d, i, cosine, k, idx + i * k, sc + i * k);
}

static double naive_mutual(const float *a, size_t da, const float *b, size_t db, size_t n, size_t k) {
    uint32_t ia[N * N], ib[N * N];
    double sa[N * N], sb[N * N];
    size_t i, p, q, shared = 0;
    naive_graph(a, n, da, 0, k, ia, sa);
    naive_graph(b, n, db, 0, k, ib, sb);
    for (i = 0; i < n; i++)
        for (p = 0; p < k; p++)
            for (q = 0; q < k; q++) shared += ia[i * k + p] == ib[i * k + q];
    return (double)shared / (double)(n * k);
}

static int same_indices(const uint32_t *x, const uint32_t *y, size_t len) {
    return memcmp(x, y, len * sizeof *x) == 0;
}

static int close_scores(const float *got, const double *want, size_t len) {
    size_t i;
    for (i = 0; i < len; i++)
        if (fabs((double)got[i] - want[i]) > 1e-5 * (1.0 + fabs(want[i]))) return 0;
    return 1;
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_info(void) {
    bool available = false;
    uint32_t best = repalign_isa_best();
    check(strlen(repalign_version()) > 0, "version is a non-empty string");
    check(strcmp(repalign_status_message(REPALIGN_STATUS_OK), "ok") == 0, "status message of OK");
    check(repalign_status_message(12345) != NULL, "status message of an unknown code is not NULL");
    check(best != REPALIGN_ISA_AUTO && repalign_isa_name(best) != NULL, "best ISA has a name");
    check_status(repalign_isa_available(best, &available), REPALIGN_STATUS_OK, "isa_available(best)");
    check(available, "best ISA is available");
    check(strcmp(repalign_isa_name(REPALIGN_ISA_SCALAR), "scalar") == 0, "isa_name(SCALAR)");
    check(repalign_isa_name(99) == NULL, "isa_name(99) is NULL");
    check_status(repalign_isa_available(99, &available), REPALIGN_STATUS_INVALID_ENUM, "isa_available(99)");
    check(f16_bits(1.0f) == 0x3C00 && f16_bits(-2.0f) == 0xC000 && f16_bits(0.5f) == 0x3800, "f16 helper");
    printf("     version %s, best ISA %s\n", repalign_version(), repalign_isa_name(best));
}

static void test_graph(void) {
    enum { K = 3 };
    RepalignMatrix a = f32_matrix(A, N, DA);
    uint32_t idx[N * K], want_idx[N * K], isa = 99;
    float sc[N * K];
    double want_sc[N * K];
    naive_graph(A, N, DA, 0, K, want_idx, want_sc);
    check_status(repalign_knn_graph(&a, K, NULL, idx, N * K, sc, N * K, &isa), REPALIGN_STATUS_OK, "graph 7x5 k=3");
    check(same_indices(idx, want_idx, N * K), "graph indices equal the naive loop");
    check(close_scores(sc, want_sc, N * K), "graph scores equal the naive loop (1e-5)");
    check(isa == repalign_isa_best(), "isa_used is the best ISA by default");
    check(strcmp(repalign_last_error(), "") == 0, "last_error is empty after success");

    /* NULL scores: the library uses scratch. */
    memset(idx, 0xff, sizeof idx);
    check_status(repalign_knn_graph(&a, K, NULL, idx, N * K, NULL, 0, NULL), REPALIGN_STATUS_OK, "graph, NULL scores");
    check(same_indices(idx, want_idx, N * K), "graph indices with NULL scores");
}

static void test_options(void) {
    enum { K = 2 };
    RepalignMatrix a = f32_matrix(A, N, DA);
    RepalignKnnOptions opts = repalign_knn_options_default();
    uint32_t idx[N * K], want_idx[N * K], ref_idx[N * K], isa = 99, v;
    float sc[N * K], ref_sc[N * K];
    double want_sc[N * K];
    int all_same = 1;

    check(opts.similarity == REPALIGN_SIMILARITY_INNER_PRODUCT && opts.threads == 0 && opts.isa == REPALIGN_ISA_AUTO,
          "default options");
    opts.similarity = REPALIGN_SIMILARITY_COSINE;
    opts.isa = REPALIGN_ISA_SCALAR;
    opts.threads = 2;
    naive_graph(A, N, DA, 1, K, want_idx, want_sc);
    check_status(repalign_knn_graph(&a, K, &opts, idx, N * K, sc, N * K, &isa), REPALIGN_STATUS_OK,
                 "cosine graph, scalar ISA, 2 threads");
    check(same_indices(idx, want_idx, N * K), "cosine indices equal the naive loop");
    check(close_scores(sc, want_sc, N * K), "cosine scores equal the naive loop");
    check(isa == REPALIGN_ISA_SCALAR, "isa_used reports the forced ISA");

    /* Every available ISA and thread count gives bit-identical results. */
    memcpy(ref_idx, idx, sizeof idx);
    memcpy(ref_sc, sc, sizeof sc);
    for (v = REPALIGN_ISA_SCALAR; v <= REPALIGN_ISA_EMULATED_512; v++) {
        bool available = false;
        RepalignStatus st;
        repalign_isa_available(v, &available);
        opts.isa = v;
        opts.threads = v % 3;
        st = repalign_knn_graph(&a, K, &opts, idx, N * K, sc, N * K, NULL);
        if (!available) {
            check_status(st, REPALIGN_STATUS_ISA_UNAVAILABLE, "an unavailable ISA is an error");
            continue;
        }
        all_same &= st == REPALIGN_STATUS_OK && same_indices(idx, ref_idx, N * K) && memcmp(sc, ref_sc, sizeof sc) == 0;
    }
    check(all_same, "every available ISA gives bit-identical results");

    opts = repalign_knn_options_default();
    opts.similarity = 7;
    check_status(repalign_knn_graph(&a, K, &opts, idx, N * K, sc, N * K, NULL), REPALIGN_STATUS_INVALID_ENUM,
                 "similarity 7 -> INVALID_ENUM");
    opts = repalign_knn_options_default();
    opts.isa = 99;
    check_status(repalign_knn_graph(&a, K, &opts, idx, N * K, sc, N * K, NULL), REPALIGN_STATUS_INVALID_ENUM,
                 "isa 99 -> INVALID_ENUM");
}

static void test_search_and_merge(void) {
    enum { Q = 3, K = 3, S0 = 4 };
    RepalignMatrix queries = f32_matrix(A, Q, DA), db = f32_matrix(A, N, DA);
    RepalignMatrix shard0 = f32_matrix(A, S0, DA), shard1 = f32_matrix(A + S0 * DA, N - S0, DA);
    uint32_t idx[Q * K], want_idx[Q * K], i0[Q * K], i1[Q * (N - S0)], merged[Q * K];
    float sc[Q * K], s0[Q * K], s1[Q * (N - S0)], merged_sc[Q * K];
    double want_sc[Q * K];
    const uint32_t *part_idx[2];
    const float *part_sc[2];
    size_t widths[2] = {K, N - S0}, i, q;

    for (q = 0; q < Q; q++) naive_topk(A + q * DA, A, N, DA, (size_t)-1, 0, K, want_idx + q * K, want_sc + q * K);
    check_status(repalign_knn_search(&queries, &db, K, NULL, idx, Q * K, sc, Q * K, NULL), REPALIGN_STATUS_OK,
                 "search 3 queries in 7 rows");
    check(same_indices(idx, want_idx, Q * K), "search indices equal the naive loop");
    check(close_scores(sc, want_sc, Q * K), "search scores equal the naive loop");

    /* Shards [0, 4) and [4, 7): search each, make indices global, merge. */
    check_status(repalign_knn_search(&queries, &shard0, K, NULL, i0, Q * K, s0, Q * K, NULL), REPALIGN_STATUS_OK,
                 "search shard 0");
    check_status(repalign_knn_search(&queries, &shard1, N - S0, NULL, i1, Q * (N - S0), s1, Q * (N - S0), NULL),
                 REPALIGN_STATUS_OK, "search shard 1");
    for (i = 0; i < Q * (N - S0); i++) i1[i] += S0;
    part_idx[0] = i0;
    part_idx[1] = i1;
    part_sc[0] = s0;
    part_sc[1] = s1;
    check_status(repalign_knn_merge(part_idx, part_sc, widths, 2, Q, K, merged, merged_sc, Q * K), REPALIGN_STATUS_OK,
                 "merge 2 shards");
    check(same_indices(merged, idx, Q * K) && memcmp(merged_sc, sc, sizeof sc) == 0,
          "merged shards equal the single search");
    check_status(repalign_knn_merge(part_idx, part_sc, widths, 2, Q, K, merged, NULL, Q * K - 1),
                 REPALIGN_STATUS_OUTPUT_TOO_SHORT, "merge into a short buffer -> OUTPUT_TOO_SHORT");
    check_status(repalign_knn_merge(NULL, NULL, NULL, 0, Q, K, merged, NULL, Q * K), REPALIGN_STATUS_GRAPH_MISMATCH,
                 "merge of 0 parts -> GRAPH_MISMATCH");
}

static void test_mutual(void) {
    RepalignMatrix a = f32_matrix(A, N, DA), b = f32_matrix(B, N, DB);
    uint32_t ga[N * 3], gb[N * 3];
    double m2 = -1, m3 = -1, from_graphs = -1;
    check_status(repalign_mutual_knn(&a, &b, 2, NULL, &m2), REPALIGN_STATUS_OK, "mutual_knn k=2");
    check(fabs(m2 - naive_mutual(A, DA, B, DB, N, 2)) < 1e-12, "mutual_knn k=2 equals the naive computation");
    check(fabs(m2 - 3.0 / 14.0) < 1e-12, "mutual_knn k=2 is 3/14");
    check_status(repalign_mutual_knn(&a, &b, 3, NULL, &m3), REPALIGN_STATUS_OK, "mutual_knn k=3");
    check(fabs(m3 - naive_mutual(A, DA, B, DB, N, 3)) < 1e-12 && fabs(m3 - 13.0 / 21.0) < 1e-12,
          "mutual_knn k=3 is 13/21 (naive and literal)");

    /* The same from graphs computed once with k = 3, used at k = 2. */
    repalign_knn_graph(&a, 3, NULL, ga, N * 3, NULL, 0, NULL);
    repalign_knn_graph(&b, 3, NULL, gb, N * 3, NULL, 0, NULL);
    check_status(repalign_mutual_knn_graphs(ga, 3, gb, 3, N, 2, &from_graphs), REPALIGN_STATUS_OK,
                 "mutual_knn_graphs k=2 from k=3 graphs");
    check(from_graphs == m2, "mutual_knn_graphs equals mutual_knn");
    check_status(repalign_mutual_knn(&a, &a, 2, NULL, &m2), REPALIGN_STATUS_OK, "mutual_knn of a with itself");
    check(m2 == 1.0, "mutual_knn of a with itself is 1");
    ga[4] = 99;
    check_status(repalign_mutual_knn_graphs(ga, 3, gb, 3, N, 2, &from_graphs), REPALIGN_STATUS_INVALID_GRAPH,
                 "index 99 in a graph -> INVALID_GRAPH");
}

static void test_half_precision(void) {
    enum { K = 3 };
    uint16_t h[NZ * DZ], bh[NZ * DZ];
    RepalignMatrix z = f32_matrix(Z, NZ, DZ), zh = z, zb = z;
    uint32_t idx[NZ * K], hidx[NZ * K], bidx[NZ * K], want_idx[NZ * K];
    float sc[NZ * K], hsc[NZ * K], bsc[NZ * K];
    double want_sc[NZ * K];
    size_t i;

    for (i = 0; i < NZ * DZ; i++) {
        h[i] = f16_bits(Z[i]);
        bh[i] = bf16_bits(Z[i]);
    }
    zh.data = h;
    zh.dtype = REPALIGN_DTYPE_F16;
    zb.data = bh;
    zb.dtype = REPALIGN_DTYPE_BF16;
    naive_graph(Z, NZ, DZ, 0, K, want_idx, want_sc);
    check_status(repalign_knn_graph(&z, K, NULL, idx, NZ * K, sc, NZ * K, NULL), REPALIGN_STATUS_OK, "f32 6x4 graph");
    check(same_indices(idx, want_idx, NZ * K), "ties broken by lower index (naive loop agrees)");
    check(idx[0] == 2 && idx[1] == 3 && idx[2] == 4, "row 0: three scores of 1.0 in index order 2, 3, 4");
    check_status(repalign_knn_graph(&zh, K, NULL, hidx, NZ * K, hsc, NZ * K, NULL), REPALIGN_STATUS_OK, "f16 graph");
    check(same_indices(hidx, idx, NZ * K) && memcmp(hsc, sc, sizeof sc) == 0, "f16 graph equals f32 bit for bit");
    check_status(repalign_knn_graph(&zb, K, NULL, bidx, NZ * K, bsc, NZ * K, NULL), REPALIGN_STATUS_OK, "bf16 graph");
    check(same_indices(bidx, idx, NZ * K) && memcmp(bsc, sc, sizeof sc) == 0, "bf16 graph equals f32 bit for bit");
    check_status(repalign_knn_search(&zh, &z, 1, NULL, idx, NZ * K, NULL, 0, NULL), REPALIGN_STATUS_DTYPE_MISMATCH,
                 "f16 queries vs f32 database -> DTYPE_MISMATCH");
}

static void test_errors(void) {
    enum { K = 2 };
    RepalignMatrix a = f32_matrix(A, N, DA), m;
    uint32_t idx[N * N];
    float sc[N * N], with_nan[N * DA], raw[N * DA + 1];
    double out;

    check_status(repalign_knn_graph(&a, 0, NULL, idx, N * N, NULL, 0, NULL), REPALIGN_STATUS_INVALID_K, "k = 0");
    check_status(repalign_knn_graph(&a, N, NULL, idx, N * N, NULL, 0, NULL), REPALIGN_STATUS_INVALID_K,
                 "k = N (self excluded) -> INVALID_K");
    check(strstr(repalign_last_error(), "k = 7") != NULL, "last_error names k");
    check_status(repalign_knn_graph(NULL, K, NULL, idx, N * K, NULL, 0, NULL), REPALIGN_STATUS_NULL_POINTER,
                 "x = NULL");
    check_status(repalign_knn_graph(&a, K, NULL, NULL, N * K, NULL, 0, NULL), REPALIGN_STATUS_NULL_POINTER,
                 "indices = NULL");
    check_status(repalign_mutual_knn(&a, &a, K, NULL, NULL), REPALIGN_STATUS_NULL_POINTER, "out = NULL");
    m = a;
    m.data = NULL;
    check_status(repalign_knn_graph(&m, K, NULL, idx, N * K, NULL, 0, NULL), REPALIGN_STATUS_NULL_POINTER,
                 "data = NULL with rows > 0");
    m = a;
    m.dtype = 99;
    check_status(repalign_knn_graph(&m, K, NULL, idx, N * K, NULL, 0, NULL), REPALIGN_STATUS_INVALID_DTYPE,
                 "dtype 99 -> INVALID_DTYPE");

    memcpy(with_nan, A, sizeof A);
    with_nan[2 * DA + 3] = NAN;
    m = f32_matrix(with_nan, N, DA);
    check_status(repalign_knn_graph(&m, K, NULL, idx, N * K, NULL, 0, NULL), REPALIGN_STATUS_NON_FINITE,
                 "NaN -> NON_FINITE");
    check(strstr(repalign_last_error(), "row 2") != NULL && strstr(repalign_last_error(), "column 3") != NULL,
          "last_error names row 2, column 3 of the NaN");
    printf("     last_error: %s\n", repalign_last_error());

    m = a;
    m.row_stride = DA - 1;
    check_status(repalign_knn_graph(&m, K, NULL, idx, N * K, NULL, 0, NULL), REPALIGN_STATUS_STRIDE_TOO_SMALL,
                 "row_stride < cols -> STRIDE_TOO_SMALL");
    m = a;
    m.len = N * DA - 1;
    check_status(repalign_knn_graph(&m, K, NULL, idx, N * K, NULL, 0, NULL), REPALIGN_STATUS_BUFFER_TOO_SHORT,
                 "len too short -> BUFFER_TOO_SHORT");
    m = a;
    m.rows = (size_t)-1;
    m.row_stride = (size_t)-1 / 2;
    check_status(repalign_knn_graph(&m, K, NULL, idx, N * K, NULL, 0, NULL), REPALIGN_STATUS_SHAPE_OVERFLOW,
                 "rows * row_stride overflows -> SHAPE_OVERFLOW");
    m = a;
    m.data = (const unsigned char *)raw + 1;
    check_status(repalign_knn_graph(&m, K, NULL, idx, N * K, NULL, 0, NULL), REPALIGN_STATUS_MISALIGNED,
                 "f32 data at an odd address -> MISALIGNED");
    check_status(repalign_knn_graph(&a, K, NULL, idx, N * K - 1, NULL, 0, NULL), REPALIGN_STATUS_OUTPUT_TOO_SHORT,
                 "indices_len < rows * k -> OUTPUT_TOO_SHORT");
    check_status(repalign_knn_graph(&a, K, NULL, idx, N * K, sc, 1, NULL), REPALIGN_STATUS_OUTPUT_TOO_SHORT,
                 "scores_len < rows * k -> OUTPUT_TOO_SHORT");
    m = f32_matrix(B, N - 1, DB);
    check_status(repalign_mutual_knn(&a, &m, K, NULL, &out), REPALIGN_STATUS_ROW_COUNT_MISMATCH,
                 "6 rows vs 7 rows -> ROW_COUNT_MISMATCH");
    m = f32_matrix(B, N, DB);
    check_status(repalign_knn_search(&a, &m, K, NULL, idx, N * K, NULL, 0, NULL), REPALIGN_STATUS_DIMENSION_MISMATCH,
                 "5 vs 4 columns -> DIMENSION_MISMATCH");
    m = f32_matrix(NULL, 0, DA);
    check_status(repalign_knn_graph(&m, K, NULL, idx, N * K, NULL, 0, NULL), REPALIGN_STATUS_EMPTY_MATRIX,
                 "0 rows -> EMPTY_MATRIX");
    check(strcmp(repalign_last_error(), "") != 0, "last_error is set after a failure");
    check_status(repalign_knn_graph(&a, K, NULL, idx, N * K, NULL, 0, NULL), REPALIGN_STATUS_OK, "a good call");
    check(strcmp(repalign_last_error(), "") == 0, "... clears last_error");
}

int main(void) {
    test_info();
    test_graph();
    test_options();
    test_search_and_merge();
    test_mutual();
    test_half_precision();
    test_errors();
    /* Kept buffers freed, so that valgrind finds no block still reachable at exit. */
    repalign_release_memory();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
