/*
 * C99 test of the metrics, preparation and layer-sweep functions of the repalign C ABI
 * (include/repalign.h), against independent computations written here: the kNN metrics
 * from a naive kNN loop, linear and RBF CKA, unbiased CKA and CKNNA from literal
 * double-precision HSIC formulas, one-direction SVCCA by power iteration, clamp thresholds
 * by sorting, and the sweep against repalign_score per layer pair. Then the error paths.
 * Prints one line per check, then "N passed, M failed"; exits non-zero on any failure.
 *
 *   gcc -std=c99 -Wall -Wextra -Wpedantic -Werror -Iinclude ctests/test_metrics.c \
 *       target/release/librepalign.a -lpthread -ldl -lm
 */
#include "repalign.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* |got - want| <= tol * (1 + |want|), printing both on failure. */
static void check_close(double got, double want, double tol, const char *name) {
    int ok = fabs(got - want) <= tol * (1.0 + fabs(want));
    if (!ok) printf("     got %.17g, want %.17g\n", got, want);
    check(ok, name);
}

static int contains(const char *text, const char *part) { return strstr(text, part) != NULL; }

/* ---- data ---------------------------------------------------------------------------- */

enum { N = 7, DA = 5, DB = 4, KMAX = N - 1 };

/* The samples of test_knn.c: every row's similarities (inner product and cosine) are at
 * least 0.02 apart, so f32 and double neighbour rankings agree without ties. */
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

static RepalignTensor3 f32_tensor(const float *data, size_t samples, size_t layers, size_t dim) {
    RepalignTensor3 t;
    t.data = data;
    t.dtype = REPALIGN_DTYPE_F32;
    t.samples = samples;
    t.layers = layers;
    t.dim = dim;
    t.len = samples * layers * dim;
    return t;
}

/* Layer l of an f32 tensor as a strided matrix (no copy). */
static RepalignMatrix layer_view(const RepalignTensor3 *t, size_t l) {
    RepalignMatrix m;
    m.data = (const float *)t->data + l * t->dim;
    m.dtype = t->dtype;
    m.rows = t->samples;
    m.cols = t->dim;
    m.row_stride = t->layers * t->dim;
    m.len = t->len - l * t->dim;
    return m;
}

static RepalignMetric metric_k(uint32_t kind, size_t k) {
    RepalignMetric m = repalign_metric_default(kind);
    m.k = k;
    return m;
}

static double score(const RepalignMatrix *a, const RepalignMatrix *b, const RepalignMetric *m,
                    const RepalignKnnOptions *opts, RepalignStatus *status) {
    double out = NAN;
    *status = repalign_score(a, b, m, opts, &out);
    return out;
}

/* ---- naive kNN metrics --------------------------------------------------------------- */

static double dot(const float *x, const float *y, size_t d) {
    double s = 0.0;
    size_t i;
    for (i = 0; i < d; i++) s += (double)x[i] * (double)y[i];
    return s;
}

/* The k most similar other rows of row q (higher first, ties by lower index). */
static void naive_neighbours(const float *x, size_t n, size_t d, size_t q, int cosine, size_t k, uint32_t *idx) {
    double sc[N];
    size_t filled = 0, j, p;
    for (j = 0; j < n; j++) {
        double s;
        if (j == q) continue;
        s = dot(x + q * d, x + j * d, d);
        if (cosine) s /= sqrt(dot(x + q * d, x + q * d, d)) * sqrt(dot(x + j * d, x + j * d, d));
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

static void naive_graph(const float *x, size_t n, size_t d, int cosine, size_t k, uint32_t *idx) {
    size_t i;
    for (i = 0; i < n; i++) naive_neighbours(x, n, d, i, cosine, k, idx + i * k);
}

static int in_list(const uint32_t *list, size_t k, uint32_t v) {
    size_t i;
    for (i = 0; i < k; i++)
        if (list[i] == v) return 1;
    return 0;
}

static size_t shared(const uint32_t *x, const uint32_t *y, size_t k) {
    size_t i, s = 0;
    for (i = 0; i < k; i++) s += (size_t)in_list(y, k, x[i]);
    return s;
}

static size_t lcs(const uint32_t *x, const uint32_t *y, size_t k) {
    size_t t[KMAX + 1][KMAX + 1], i, j;
    for (i = 0; i <= k; i++)
        for (j = 0; j <= k; j++) {
            if (i == 0 || j == 0)
                t[i][j] = 0;
            else if (x[i - 1] == y[j - 1])
                t[i][j] = t[i - 1][j - 1] + 1;
            else
                t[i][j] = t[i - 1][j] > t[i][j - 1] ? t[i - 1][j] : t[i][j - 1];
        }
    return t[k][k];
}

static size_t levenshtein(const uint32_t *x, const uint32_t *y, size_t k) {
    size_t t[KMAX + 1][KMAX + 1], i, j;
    for (i = 0; i <= k; i++)
        for (j = 0; j <= k; j++) {
            if (i == 0 || j == 0) {
                t[i][j] = i + j;
            } else {
                size_t best = t[i - 1][j - 1] + (x[i - 1] != y[j - 1]);
                if (t[i - 1][j] + 1 < best) best = t[i - 1][j] + 1;
                if (t[i][j - 1] + 1 < best) best = t[i][j - 1] + 1;
                t[i][j] = best;
            }
        }
    return t[k][k];
}

/* The kNN metric `kind` of the graphs ga, gb (n rows of k), literally as defined. */
static double naive_knn_metric(uint32_t kind, const uint32_t *ga, const uint32_t *gb, size_t n, size_t k) {
    double total = 0.0;
    size_t i, j;
    for (i = 0; i < n; i++) {
        const uint32_t *ra = ga + i * k, *rb = gb + i * k;
        size_t s = shared(ra, rb, k);
        switch (kind) {
        case REPALIGN_METRIC_KIND_MUTUAL_KNN: total += (double)s / (double)k; break;
        case REPALIGN_METRIC_KIND_CYCLE_KNN:
            for (j = 0; j < k; j++)
                if (in_list(ga + rb[j] * k, k, (uint32_t)i)) break;
            total += j < k;
            break;
        case REPALIGN_METRIC_KIND_LCS_KNN: total += (double)lcs(ra, rb, k); break;
        case REPALIGN_METRIC_KIND_EDIT_DISTANCE_KNN: total += 1.0 - (double)levenshtein(ra, rb, k) / (double)k; break;
        default: total += (double)s / (double)(2 * k - s); break; /* jaccard */
        }
    }
    return total / (double)n;
}

/* ---- naive kernel metrics ------------------------------------------------------------ */

static void linear_kernel(const float *x, size_t n, size_t d, double *k) {
    size_t i, j;
    for (i = 0; i < n; i++)
        for (j = 0; j < n; j++) k[i * n + j] = dot(x + i * d, x + j * d, d);
}

static void rbf_kernel(const float *x, size_t n, size_t d, double sigma, double *k) {
    size_t i, j, c;
    for (i = 0; i < n; i++)
        for (j = 0; j < n; j++) {
            double d2 = 0.0;
            for (c = 0; c < d; c++) {
                double diff = (double)x[i * d + c] - (double)x[j * d + c];
                d2 += diff * diff;
            }
            k[i * n + j] = exp(-d2 / (2.0 * sigma * sigma));
        }
}

/* trace(K H L H), H = I - 11^T/n, as sum_ij (HKH)_ij (HLH)_ji with double centring. */
static double hsic_biased(const double *k, const double *l, size_t n) {
    double kc[N * N], lc[N * N], s = 0.0;
    const double *m[2];
    double *c[2];
    size_t i, j, t;
    m[0] = k, m[1] = l, c[0] = kc, c[1] = lc;
    for (t = 0; t < 2; t++) {
        double row[N] = {0}, col[N] = {0}, all = 0.0;
        for (i = 0; i < n; i++)
            for (j = 0; j < n; j++) {
                row[i] += m[t][i * n + j] / (double)n;
                col[j] += m[t][i * n + j] / (double)n;
                all += m[t][i * n + j] / (double)(n * n);
            }
        for (i = 0; i < n; i++)
            for (j = 0; j < n; j++) c[t][i * n + j] = m[t][i * n + j] - row[i] - col[j] + all;
    }
    for (i = 0; i < n; i++)
        for (j = 0; j < n; j++) s += kc[i * n + j] * lc[j * n + i];
    return s;
}

/* Song et al. (2012): K~, L~ with zero diagonals,
 * [tr(K~L~) + 1'K~1 1'L~1 / ((n-1)(n-2)) - 2/(n-2) 1'K~L~1] / (n(n-3)). */
static double hsic_unbiased(const double *k, const double *l, size_t n) {
    double tr = 0.0, sk = 0.0, sl = 0.0, cross = 0.0, m = (double)n;
    size_t i, j, p;
    for (i = 0; i < n; i++)
        for (j = 0; j < n; j++) {
            double kij = i == j ? 0.0 : k[i * n + j];
            tr += kij * (i == j ? 0.0 : l[j * n + i]);
            sk += kij;
            sl += i == j ? 0.0 : l[i * n + j];
            for (p = 0; p < n; p++) cross += kij * (j == p ? 0.0 : l[j * n + p]);
        }
    return (tr + sk * sl / ((m - 1.0) * (m - 2.0)) - 2.0 / (m - 2.0) * cross) / (m * (m - 3.0));
}

static double hsic(const double *k, const double *l, size_t n, int unbiased) {
    return unbiased ? hsic_unbiased(k, l, n) : hsic_biased(k, l, n);
}

static double naive_cka(const double *k, const double *l, size_t n, int unbiased) {
    return hsic(k, l, n, unbiased) / (sqrt(hsic(k, k, n, unbiased) * hsic(l, l, n, unbiased)) + 1e-6);
}

/* Row-wise top-k mask of K (diagonal excluded when unbiased). */
static void topk_mask(const double *k, size_t n, size_t topk, int unbiased, double *mask) {
    size_t i, j, p;
    for (i = 0; i < n; i++)
        for (j = 0; j < n; j++) {
            size_t better = 0;
            if (unbiased && i == j) {
                mask[i * n + j] = 0.0;
                continue;
            }
            for (p = 0; p < n; p++)
                if (!(unbiased && p == i) && (k[i * n + p] > k[i * n + j] || (k[i * n + p] == k[i * n + j] && p < j)))
                    better++;
            mask[i * n + j] = better < topk ? 1.0 : 0.0;
        }
}

static double naive_cknna(const double *k, const double *l, size_t n, size_t topk, int unbiased) {
    double mk[N * N], ml[N * N], kb[N * N], lb[N * N], km[N * N], lm[N * N];
    size_t i;
    float denom;
    topk_mask(k, n, topk, unbiased, mk);
    topk_mask(l, n, topk, unbiased, ml);
    for (i = 0; i < n * n; i++) {
        kb[i] = k[i] * mk[i] * ml[i];
        lb[i] = l[i] * mk[i] * ml[i];
        km[i] = k[i] * mk[i];
        lm[i] = l[i] * ml[i];
    }
    /* The reference takes the square root and adds 1e-6 in float32. */
    denom = sqrtf((float)(hsic(km, km, n, unbiased) * hsic(lm, lm, n, unbiased))) + 1e-6f;
    return hsic(kb, lb, n, unbiased) / (double)denom;
}

/* The leading left singular vector of x (n x d) with standardised columns (N - 1
 * denominator, + 1e-8), by power iteration on X X^T. */
static void leading_vector(const float *x, size_t n, size_t d, double *u) {
    double z[N * DA], g[N * N], v[N];
    size_t i, j, c, it;
    for (c = 0; c < d; c++) {
        double mean = 0.0, var = 0.0;
        for (i = 0; i < n; i++) mean += (double)x[i * d + c] / (double)n;
        for (i = 0; i < n; i++) var += ((double)x[i * d + c] - mean) * ((double)x[i * d + c] - mean);
        for (i = 0; i < n; i++) z[i * d + c] = ((double)x[i * d + c] - mean) / (sqrt(var / (double)(n - 1)) + 1e-8);
    }
    for (i = 0; i < n; i++)
        for (j = 0; j < n; j++) {
            g[i * n + j] = 0.0;
            for (c = 0; c < d; c++) g[i * n + j] += z[i * d + c] * z[j * d + c];
        }
    for (i = 0; i < n; i++) u[i] = 1.0 + (double)i;
    for (it = 0; it < 5000; it++) {
        double norm = 0.0;
        for (i = 0; i < n; i++) {
            v[i] = 0.0;
            for (j = 0; j < n; j++) v[i] += g[i * n + j] * u[j];
            norm += v[i] * v[i];
        }
        for (i = 0; i < n; i++) u[i] = v[i] / sqrt(norm);
    }
}

/* ---- tests: metrics ------------------------------------------------------------------ */

static void test_names_and_defaults(void) {
    static const char *const names[14] = {"mutual_knn", "cycle_knn",    "lcs_knn", "edit_distance_knn", "jaccard_knn",
                                          "cka",        "unbiased_cka", "cknna",   "svcca",             "rsa",
                                          "procrustes", "cca",          "pwcca",   "rv_coefficient"};
    RepalignMetric m = repalign_metric_default(REPALIGN_METRIC_KIND_CKNNA);
    uint32_t kind;
    int all = 1;
    for (kind = 0; kind < 14; kind++) {
        const char *got = repalign_metric_kind_name(kind);
        all &= got != NULL && strcmp(got, names[kind]) == 0;
    }
    check(all, "metric kind names are the reference's");
    check(repalign_metric_kind_name(14) == NULL, "metric_kind_name(14) is NULL");
    check(m.kind == REPALIGN_METRIC_KIND_CKNNA && m.k == 10 && m.kernel == REPALIGN_KERNEL_LINEAR && m.sigma == 1.0 &&
              m.unbiased == 1 && m.cca_dim == 10 && m.rdm == REPALIGN_RDM_EUCLIDEAN && m.corr == REPALIGN_CORR_SPEARMAN,
          "metric defaults: k 10, linear, sigma 1, unbiased, cca_dim 10, euclidean, spearman");
    check(strcmp(repalign_status_message(REPALIGN_STATUS_TOO_FEW_SAMPLES), "unrecognised status code") != 0 &&
              strcmp(repalign_status_message(REPALIGN_STATUS_INVALID_PARAMETER), "unrecognised status code") != 0,
          "the new status codes have messages");
    check(REPALIGN_STATUS_TOO_FEW_SAMPLES == 24 && REPALIGN_STATUS_INVALID_PARAMETER == 25, "new codes are 24 and 25");
}

static void test_knn_metrics(void) {
    RepalignMatrix a = f32_matrix(A, N, DA), b = f32_matrix(B, N, DB);
    RepalignKnnOptions cosine = repalign_knn_options_default();
    uint32_t ga[N * KMAX], gb[N * KMAX], fa[N * 3], fb[N * 3];
    uint32_t kind;
    size_t k;
    char name[96];
    cosine.similarity = REPALIGN_SIMILARITY_COSINE;
    for (kind = REPALIGN_METRIC_KIND_MUTUAL_KNN; kind <= REPALIGN_METRIC_KIND_JACCARD_KNN; kind++) {
        for (k = 1; k <= 4; k++) {
            RepalignMetric m = metric_k(kind, k);
            RepalignStatus st;
            double got = score(&a, &b, &m, NULL, &st), want;
            naive_graph(A, N, DA, 0, k, ga);
            naive_graph(B, N, DB, 0, k, gb);
            want = naive_knn_metric(kind, ga, gb, N, k);
            sprintf(name, "%s k=%u equals the naive computation", repalign_metric_kind_name(kind), (unsigned)k);
            check(st == REPALIGN_STATUS_OK && fabs(got - want) < 1e-12, name);
            if (fabs(got - want) >= 1e-12) printf("     got %.17g, want %.17g\n", got, want);
        }
        {
            RepalignMetric m = metric_k(kind, 3);
            RepalignStatus st;
            double got = score(&a, &b, &m, &cosine, &st), from_graphs = -1.0;
            naive_graph(A, N, DA, 1, 3, ga);
            naive_graph(B, N, DB, 1, 3, gb);
            sprintf(name, "%s k=3, cosine, equals the naive computation", repalign_metric_kind_name(kind));
            check(st == REPALIGN_STATUS_OK && fabs(got - naive_knn_metric(kind, ga, gb, N, 3)) < 1e-12, name);
            /* From graphs computed once with a larger k. */
            repalign_knn_graph(&a, 3, &cosine, fa, N * 3, NULL, 0, NULL);
            repalign_knn_graph(&b, 3, &cosine, fb, N * 3, NULL, 0, NULL);
            st = repalign_knn_metric_graphs(kind, fa, 3, fb, 3, N, 3, &from_graphs);
            sprintf(name, "%s from graphs equals repalign_score", repalign_metric_kind_name(kind));
            check(st == REPALIGN_STATUS_OK && from_graphs == got, name);
        }
    }
}

static void test_kernel_metrics(void) {
    RepalignMatrix a = f32_matrix(A, N, DA), b = f32_matrix(B, N, DB);
    double ka[N * N], kb[N * N];
    RepalignMetric m;
    RepalignStatus st;
    double got;
    int unbiased;
    size_t topk;
    char name[96];

    linear_kernel(A, N, DA, ka);
    linear_kernel(B, N, DB, kb);
    m = repalign_metric_default(REPALIGN_METRIC_KIND_CKA);
    got = score(&a, &b, &m, NULL, &st);
    check_status(st, REPALIGN_STATUS_OK, "cka (linear)");
    check_close(got, naive_cka(ka, kb, N, 0), 1e-6, "cka (linear) equals the naive double HSIC");
    printf("     cka = %.9f\n", got);
    m = repalign_metric_default(REPALIGN_METRIC_KIND_UNBIASED_CKA);
    got = score(&a, &b, &m, NULL, &st);
    check_status(st, REPALIGN_STATUS_OK, "unbiased_cka (linear)");
    check_close(got, naive_cka(ka, kb, N, 1), 1e-6, "unbiased_cka (linear) equals the naive unbiased HSIC");
    got = score(&a, &a, &m, NULL, &st);
    check_close(got, 1.0, 1e-5, "unbiased_cka of a with itself is 1");

    for (unbiased = 0; unbiased < 2; unbiased++) {
        double kr[N * N], lr[N * N];
        m = repalign_metric_default(unbiased ? REPALIGN_METRIC_KIND_UNBIASED_CKA : REPALIGN_METRIC_KIND_CKA);
        m.kernel = REPALIGN_KERNEL_RBF;
        m.sigma = 0.8;
        rbf_kernel(A, N, DA, 0.8, kr);
        rbf_kernel(B, N, DB, 0.8, lr);
        got = score(&a, &b, &m, NULL, &st);
        sprintf(name, "%s (rbf, sigma 0.8) equals the naive computation", repalign_metric_kind_name(m.kind));
        check(st == REPALIGN_STATUS_OK, "rbf cka status");
        check_close(got, naive_cka(kr, lr, N, unbiased), 1e-6, name);
    }

    for (unbiased = 0; unbiased < 2; unbiased++)
        for (topk = 2; topk <= N; topk += 2) {
            m = metric_k(REPALIGN_METRIC_KIND_CKNNA, topk);
            m.unbiased = (uint32_t)unbiased;
            got = score(&a, &b, &m, NULL, &st);
            sprintf(name, "cknna topk=%u %s equals the naive computation", (unsigned)topk,
                    unbiased ? "unbiased" : "biased");
            check(st == REPALIGN_STATUS_OK, "cknna status");
            check_close(got, naive_cknna(ka, kb, N, topk, unbiased), 1e-6, name);
        }
}

static void test_svcca(void) {
    RepalignMatrix a = f32_matrix(A, N, DA), b = f32_matrix(B, N, DB);
    RepalignMetric m = repalign_metric_default(REPALIGN_METRIC_KIND_SVCCA);
    RepalignStatus st;
    double ua[N], ub[N], want = 0.0, got, ab, ba;
    size_t i;
    leading_vector(A, N, DA, ua);
    leading_vector(B, N, DB, ub);
    for (i = 0; i < N; i++) want += ua[i] * ub[i];
    m.cca_dim = 1;
    got = score(&a, &b, &m, NULL, &st);
    check_status(st, REPALIGN_STATUS_OK, "svcca cca_dim=1");
    check_close(got, fabs(want), 1e-10, "svcca cca_dim=1 is |<u_a, u_b>| of the power-iteration vectors");
    m.cca_dim = 3;
    ab = score(&a, &b, &m, NULL, &st);
    ba = score(&b, &a, &m, NULL, &st);
    check(st == REPALIGN_STATUS_OK && ab >= 0.0 && ab <= 1.0 && fabs(ab - ba) < 1e-9,
          "svcca cca_dim=3 is in [0, 1] and symmetric");
    got = score(&a, &a, &m, NULL, &st);
    check_close(got, 1.0, 1e-9, "svcca of a with itself is 1");
    m.cca_dim = DB;
    check_status(repalign_score(&a, &b, &m, NULL, &got), REPALIGN_STATUS_OK, "svcca cca_dim = min(N, D) = 4");
}

/* ---- tests: preparation -------------------------------------------------------------- */

enum { PS = 2, PL = 2, PD = 3, PN = PS * PL * PD };
static const float P[PN] = {0.5f, -2.0f, 1.0f, 3.0f, -0.25f, 4.0f, -1.5f, 0.75f, 6.0f, -5.0f, 2.5f, 0.125f};

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static double exact_threshold(const float *x, size_t len, double q) {
    double s[PN];
    size_t i;
    for (i = 0; i < len; i++) s[i] = fabs((double)x[i]);
    qsort(s, len, sizeof s[0], cmp_double);
    return s[(size_t)(q * (double)len)];
}

static double per_sample_threshold(const float *x, size_t samples, size_t per, double q) {
    double total = 0.0;
    size_t i;
    for (i = 0; i < samples; i++) {
        double s[PN], pos = q * (double)(per - 1);
        size_t lo = (size_t)pos, j;
        for (j = 0; j < per; j++) s[j] = fabs((double)x[i * per + j]);
        qsort(s, per, sizeof s[0], cmp_double);
        total += s[lo] + (pos - (double)lo) * (s[lo + 1 < per ? lo + 1 : lo] - s[lo]);
    }
    return total / (double)samples;
}

/* Clamp to [-t, t] and L2-normalise each run of d values as the library does. */
static void naive_prepare(const float *x, size_t len, size_t d, float t, int normalize, float *out) {
    size_t i, j;
    for (i = 0; i < len; i++) out[i] = x[i] < -t ? -t : x[i] > t ? t : x[i];
    if (!normalize) return;
    for (i = 0; i < len; i += d) {
        double s = 0.0;
        float norm;
        for (j = 0; j < d; j++) s += (double)out[i + j] * (double)out[i + j];
        norm = (float)sqrt(s);
        if (norm < 1e-12f) norm = 1e-12f;
        for (j = 0; j < d; j++) out[i + j] /= norm;
    }
}

static int close_floats(const float *x, const float *y, size_t len) {
    size_t i;
    for (i = 0; i < len; i++)
        if (fabs((double)x[i] - (double)y[i]) > 1e-6 * (1.0 + fabs((double)y[i]))) return 0;
    return 1;
}

static void test_prepare(void) {
    RepalignTensor3 x = f32_tensor(P, PS, PL, PD);
    float t = 0.0f, out[PN], want[PN];
    uint32_t mode;

    check(exact_threshold(P, PN, 0.5) == 2.0 && per_sample_threshold(P, PS, PL * PD, 0.5) == 1.75,
          "hand values: exact 2.0, per-sample 1.75 at q = 0.5");
    check_status(repalign_clamp_threshold(&x, 0.5, 0, NULL, &t), REPALIGN_STATUS_OK, "clamp_threshold exact q=0.5");
    check(t == 2.0f, "exact threshold is |x| at index floor(q * 12) of the sorted values");
    check_status(repalign_clamp_threshold(&x, 0.95, 0, NULL, &t), REPALIGN_STATUS_OK, "clamp_threshold exact q=0.95");
    check(t == (float)exact_threshold(P, PN, 0.95), "exact threshold q=0.95 equals the sort");
    check_status(repalign_clamp_threshold(&x, 0.5, 1, NULL, &t), REPALIGN_STATUS_OK,
                 "clamp_threshold per-sample q=0.5");
    check(t == 1.75f, "per-sample threshold is the mean of interpolated quantiles");
    check_status(repalign_clamp_threshold(&x, 0.9, 1, NULL, &t), REPALIGN_STATUS_OK,
                 "clamp_threshold per-sample q=0.9");
    check_close(t, per_sample_threshold(P, PS, PL * PD, 0.9), 1e-6, "per-sample threshold q=0.9 equals the sort");
    check_status(repalign_clamp_threshold(&x, 1.0, 0, NULL, &t), REPALIGN_STATUS_OK, "clamp_threshold q=1");
    check(isinf(t) && t > 0, "q = 1 clamps nothing (infinity)");

    for (mode = REPALIGN_PREPARE_NONE; mode <= REPALIGN_PREPARE_PAPER_PER_SAMPLE; mode++) {
        static const char *const names[4] = {"NONE", "NORMALIZE", "PAPER", "PAPER_PER_SAMPLE"};
        float threshold = mode == REPALIGN_PREPARE_PAPER              ? 2.0f
                          : mode == REPALIGN_PREPARE_PAPER_PER_SAMPLE ? 1.75f
                                                                      : (float)INFINITY;
        char name[96];
        naive_prepare(P, PN, PD, threshold, mode != REPALIGN_PREPARE_NONE, want);
        memset(out, 0xff, sizeof out);
        t = 0.0f;
        sprintf(name, "prepare %s q=0.5", names[mode]);
        check_status(repalign_prepare(&x, mode, 0.5, NULL, out, PN, &t), REPALIGN_STATUS_OK, name);
        sprintf(name, "prepare %s: values and threshold as computed by hand", names[mode]);
        check(close_floats(out, want, PN) && t == threshold, name);
    }
    /* Options: 1 or 3 threads (and the unused similarity) give the NULL options' bits; a
     * forced ISA this CPU lacks is an error, not a silent fallback. */
    {
        RepalignKnnOptions opts = repalign_knn_options_default();
        float ref[PN], ref_t = 0.0f;
        uint32_t isa, missing = REPALIGN_ISA_AUTO, per_sample;
        size_t threads;
        int same = 1;
        opts.similarity = REPALIGN_SIMILARITY_COSINE;
        for (threads = 1; threads <= 3; threads += 2) {
            opts.threads = threads;
            for (mode = REPALIGN_PREPARE_NONE; mode <= REPALIGN_PREPARE_PAPER_PER_SAMPLE; mode++) {
                same &= repalign_prepare(&x, mode, 0.5, NULL, ref, PN, &ref_t) == REPALIGN_STATUS_OK;
                same &= repalign_prepare(&x, mode, 0.5, &opts, out, PN, &t) == REPALIGN_STATUS_OK;
                same &= memcmp(out, ref, sizeof ref) == 0 && t == ref_t;
            }
            for (per_sample = 0; per_sample <= 1; per_sample++) {
                same &= repalign_clamp_threshold(&x, 0.9, per_sample, NULL, &ref_t) == REPALIGN_STATUS_OK;
                same &= repalign_clamp_threshold(&x, 0.9, per_sample, &opts, &t) == REPALIGN_STATUS_OK;
                same &= t == ref_t;
            }
        }
        check(same, "prepare and clamp_threshold with 1 and 3 threads equal NULL options, bit for bit");
        for (isa = REPALIGN_ISA_SCALAR; isa <= REPALIGN_ISA_EMULATED_512; isa++) {
            bool available = true;
            repalign_isa_available(isa, &available);
            if (!available) missing = isa;
        }
        check(missing != REPALIGN_ISA_AUTO, "some ISA is missing on this CPU (NEON on x86-64, x86 on AArch64)");
        opts.isa = missing;
        check_status(repalign_prepare(&x, REPALIGN_PREPARE_PAPER, 0.5, &opts, out, PN, NULL),
                     REPALIGN_STATUS_ISA_UNAVAILABLE, "prepare with a forced ISA this CPU lacks");
        check_status(repalign_clamp_threshold(&x, 0.5, 0, &opts, &t), REPALIGN_STATUS_ISA_UNAVAILABLE,
                     "clamp_threshold with a forced ISA this CPU lacks");
        opts.isa = 99;
        check_status(repalign_prepare(&x, REPALIGN_PREPARE_NONE, 0.5, &opts, out, PN, NULL),
                     REPALIGN_STATUS_INVALID_ENUM, "prepare with opts->isa 99");
    }
    /* One value by hand: sample 1, layer 0 is (-1.5, 0.75, 6) -> clamp 2 -> (-1.5, 0.75, 2) / 2.6101... */
    repalign_prepare(&x, REPALIGN_PREPARE_PAPER, 0.5, NULL, out, PN, NULL);
    check(fabs(out[8] - 2.0 / sqrt(1.5 * 1.5 + 0.75 * 0.75 + 4.0)) < 1e-6, "PAPER: 6 clamps to 2, then normalises");
}

/* ---- tests: sweep -------------------------------------------------------------------- */

enum { LA = 2, LB = 3 };

/* Two models for the sweep and the zoo. ta (N x LA x DA): layer 0 = A, layer 1 = A with
 * rotated, scaled columns. tb (N x LB x DB): B, A's first 4 columns, -B. */
static void sweep_tensors(float *ta, float *tb) {
    size_t s, c;
    for (s = 0; s < N; s++) {
        for (c = 0; c < DA; c++) {
            ta[(s * LA + 0) * DA + c] = A[s * DA + c];
            ta[(s * LA + 1) * DA + c] = A[s * DA + (c + 1) % DA] * (float)(c + 1);
        }
        for (c = 0; c < DB; c++) {
            tb[(s * LB + 0) * DB + c] = B[s * DB + c];
            tb[(s * LB + 1) * DB + c] = A[s * DA + c];
            tb[(s * LB + 2) * DB + c] = c % 2 ? -B[s * DB + c] : B[s * DB + c];
        }
    }
}

static void test_sweep(void) {
    float ta[N * LA * DA], tb[N * LB * DB], pa[N * LA * DA], pb[N * LB * DB], ra[N * LA * DA], rb[N * LB * DB];
    RepalignTensor3 a, b, qa, qb, pqa, pqb;
    RepalignMetric metrics[4];
    double scores[LA * LB];
    size_t i, j, bi = 99, bj = 99, mi;
    bool has = false;
    double best = -1.0;

    sweep_tensors(ta, tb);
    a = f32_tensor(ta, N, LA, DA);
    b = f32_tensor(tb, N, LB, DB);
    qa = f32_tensor(pa, N, LA, DA);
    qb = f32_tensor(pb, N, LB, DB);
    pqa = f32_tensor(ra, N, LA, DA);
    pqb = f32_tensor(rb, N, LB, DB);
    metrics[0] = metric_k(REPALIGN_METRIC_KIND_MUTUAL_KNN, 2);
    metrics[1] = repalign_metric_default(REPALIGN_METRIC_KIND_CKA);
    metrics[2] = metric_k(REPALIGN_METRIC_KIND_CKNNA, 3);
    metrics[3] = repalign_metric_default(REPALIGN_METRIC_KIND_SVCCA);
    metrics[3].cca_dim = 2;
    check_status(repalign_prepare(&a, REPALIGN_PREPARE_PAPER, 0.95, NULL, pa, N * LA * DA, NULL), REPALIGN_STATUS_OK,
                 "prepare a (PAPER, q 0.95)");
    check_status(repalign_prepare(&b, REPALIGN_PREPARE_PAPER, 0.95, NULL, pb, N * LB * DB, NULL), REPALIGN_STATUS_OK,
                 "prepare b (PAPER, q 0.95)");
    check_status(repalign_prepare(&a, REPALIGN_PREPARE_PAPER_PER_SAMPLE, 0.8, NULL, ra, N * LA * DA, NULL),
                 REPALIGN_STATUS_OK, "prepare a (PAPER_PER_SAMPLE, q 0.8)");
    check_status(repalign_prepare(&b, REPALIGN_PREPARE_PAPER_PER_SAMPLE, 0.8, NULL, rb, N * LB * DB, NULL),
                 REPALIGN_STATUS_OK, "prepare b (PAPER_PER_SAMPLE, q 0.8)");

    for (mi = 0; mi < 4; mi++) {
        /* The sweep prepares as repalign_prepare does, at the q it is given. */
        struct {
            uint32_t mode;
            double q;
            const RepalignTensor3 *a, *b;
            const char *label;
        } cases[3] = {{REPALIGN_PREPARE_NONE, REPALIGN_SWEEP_Q, NULL, NULL, "NONE"},
                      {REPALIGN_PREPARE_PAPER, REPALIGN_SWEEP_Q, NULL, NULL, "PAPER, q REPALIGN_SWEEP_Q"},
                      {REPALIGN_PREPARE_PAPER_PER_SAMPLE, 0.8, NULL, NULL, "PAPER_PER_SAMPLE, q 0.8"}};
        size_t ci;
        cases[0].a = &a, cases[0].b = &b;
        cases[1].a = &qa, cases[1].b = &qb;
        cases[2].a = &pqa, cases[2].b = &pqb;
        for (ci = 0; ci < 3; ci++) {
            const RepalignTensor3 *va = cases[ci].a, *vb = cases[ci].b;
            double want_best = 0.0;
            size_t want_i = 0, want_j = 0;
            int same = 1, found = 0;
            char name[128];
            RepalignStatus st = repalign_sweep(&a, &b, &metrics[mi], cases[ci].mode, cases[ci].q, NULL, scores,
                                               LA * LB, &best, &bi, &bj, &has);
            sprintf(name, "sweep %s, prepare %s", repalign_metric_kind_name(metrics[mi].kind), cases[ci].label);
            check_status(st, REPALIGN_STATUS_OK, name);
            for (i = 0; i < LA; i++)
                for (j = 0; j < LB; j++) {
                    RepalignMatrix x = layer_view(va, i), y = layer_view(vb, j);
                    double want = -99.0;
                    same &= repalign_score(&x, &y, &metrics[mi], NULL, &want) == REPALIGN_STATUS_OK &&
                            scores[i * LB + j] == want;
                    if (want > want_best) {
                        want_best = want;
                        want_i = i;
                        want_j = j;
                        found = 1;
                    }
                }
            check(same, "... every score equals repalign_score of the (prepared) layer pair");
            check(best == want_best && has == found && bi == want_i && bj == want_j,
                  "... best is the first strict maximum above 0");
        }
    }
    /* Layer 1 of b holds A's first 4 columns: mutual kNN of a's layer 0 with it is high. */
    repalign_sweep(&a, &b, &metrics[0], REPALIGN_PREPARE_NONE, REPALIGN_SWEEP_Q, NULL, scores, LA * LB, &best, &bi,
                   &bj, &has);
    printf("     mutual_knn k=2 scores: %.3f %.3f %.3f / %.3f %.3f %.3f, best (%u, %u)\n", scores[0], scores[1],
           scores[2], scores[3], scores[4], scores[5], (unsigned)bi, (unsigned)bj);

    {
        /* Nearest neighbours never agree: (0, 1), (2, 3) in x; (0, 2), (1, 3) in y. */
        static const float x4[8] = {1.0f, 0.1f, 1.0f, 0.2f, 0.1f, 1.0f, 0.2f, 1.0f};
        static const float y4[8] = {1.0f, 0.1f, 0.1f, 1.0f, 1.0f, 0.2f, 0.2f, 1.0f};
        RepalignTensor3 x = f32_tensor(x4, 4, 1, 2), y = f32_tensor(y4, 4, 1, 2);
        RepalignMetric m = metric_k(REPALIGN_METRIC_KIND_MUTUAL_KNN, 1);
        bi = bj = 99;
        has = true;
        best = -1.0;
        check_status(
            repalign_sweep(&x, &y, &m, REPALIGN_PREPARE_NONE, REPALIGN_SWEEP_Q, NULL, scores, 1, &best, &bi, &bj, &has),
            REPALIGN_STATUS_OK, "sweep where every pair scores 0");
        check(scores[0] == 0.0 && !has && best == 0.0 && bi == 0 && bj == 0, "... has_best false, best 0 at (0, 0)");
    }
}

/* ---- tests: the zoo ------------------------------------------------------------------ */

static void test_zoo(void) {
    float ta[N * LA * DA], tb[N * LB * DB];
    RepalignTensor3 models[3];
    RepalignMetric m = metric_k(REPALIGN_METRIC_KIND_MUTUAL_KNN, 2);
    RepalignCalibrationOptions cal = repalign_calibration_options_default();
    RepalignZooPair pairs[3];
    double scores[LA * LB + LA * LA + LB * LA], one[LA * LB], best;
    size_t p, np = 0, ns = 0, bi, bj;
    bool has;
    int same = 1, calibrated = 1;

    sweep_tensors(ta, tb);
    models[0] = f32_tensor(ta, N, LA, DA);
    models[1] = f32_tensor(tb, N, LB, DB);
    models[2] = f32_tensor(ta, N, LA, DA);
    cal.permutations = 20;
    check_status(repalign_zoo_sizes(models, 3, 0, &np, &ns), REPALIGN_STATUS_OK, "zoo sizes, all pairs");
    check(np == 3 && ns == LA * LB + LA * LA + LB * LA, "... 3 pairs and their scores");
    check_status(repalign_zoo(models, 3, 0, &m, REPALIGN_PREPARE_NONE, REPALIGN_SWEEP_Q, NULL, &cal, pairs, 3, scores,
                              ns),
                 REPALIGN_STATUS_OK, "zoo of three models, calibrated");
    for (p = 0; p < 3; p++) {
        const RepalignZooPair *z = &pairs[p];
        RepalignCalibration want;
        size_t la = models[z->a].layers, lb = models[z->b].layers, i;
        same &= repalign_sweep(&models[z->a], &models[z->b], &m, REPALIGN_PREPARE_NONE, REPALIGN_SWEEP_Q, NULL, one,
                               la * lb, &best, &bi, &bj, &has) == REPALIGN_STATUS_OK;
        for (i = 0; i < la * lb; i++)
            same &= scores[z->scores_offset + i] == one[i];
        same &= z->best == best && z->has_best == has && z->best_i == bi && z->best_j == bj;
        calibrated &= repalign_calibrate_sweep(&models[z->a], &models[z->b], &m, REPALIGN_PREPARE_NONE,
                                               REPALIGN_SWEEP_Q, NULL, &cal, &want) == REPALIGN_STATUS_OK;
        calibrated &= z->has_calibration && z->calibration.p_value == want.p_value &&
                      z->calibration.raw == want.raw && z->q_value >= z->calibration.p_value && z->holm <= 1.0;
    }
    check(pairs[0].a == 0 && pairs[0].b == 1 && pairs[2].a == 1 && pairs[2].b == 2, "... pairs in row-major order");
    check(same, "... every pair's scores and best equal repalign_sweep's");
    check(calibrated, "... every pair's calibration equals repalign_calibrate_sweep's, q >= p");
    check_status(repalign_zoo(models, 3, 1, &m, REPALIGN_PREPARE_NONE, REPALIGN_SWEEP_Q, NULL, NULL, pairs, 3, scores,
                              ns),
                 REPALIGN_STATUS_OK, "zoo, model 0 against models 1 and 2, uncalibrated");
    check(pairs[0].b == 1 && pairs[1].b == 2 && !pairs[0].has_calibration, "... two pairs, no calibration");
    check_status(repalign_zoo_sizes(models, 1, 0, &np, &ns), REPALIGN_STATUS_INVALID_PARAMETER, "zoo of one model");
    check_status(repalign_zoo_sizes(models, 3, 3, &np, &ns), REPALIGN_STATUS_INVALID_PARAMETER, "zoo, group B empty");
    check_status(repalign_zoo(models, 3, 0, &m, REPALIGN_PREPARE_NONE, REPALIGN_SWEEP_Q, NULL, NULL, pairs, 3, scores,
                              LA * LB),
                 REPALIGN_STATUS_OUTPUT_TOO_SHORT, "zoo, scores too short");
    check_status(repalign_zoo(models, 3, 0, &m, REPALIGN_PREPARE_NONE, REPALIGN_SWEEP_Q, NULL, NULL, NULL, 3, scores,
                              LA * LB + LA * LA + LB * LA),
                 REPALIGN_STATUS_NULL_POINTER, "zoo, pairs NULL");
}

/* ---- tests: errors ------------------------------------------------------------------- */

static void test_errors(void) {
    RepalignMatrix a = f32_matrix(A, N, DA), b = f32_matrix(B, N, DB), three = f32_matrix(A, 3, DA);
    RepalignMetric m;
    RepalignTensor3 x = f32_tensor(P, PS, PL, PD), t;
    uint32_t g[N * 2];
    float out[PN], nan_tensor[PN], thr;
    double v, scores[LA * LB], best;
    size_t bi, bj;
    bool has;

    check_status(repalign_score(&a, &b, NULL, NULL, &v), REPALIGN_STATUS_NULL_POINTER, "score: metric NULL");
    check(contains(repalign_last_error(), "`metric`"), "... named in last_error");
    m = repalign_metric_default(99);
    check_status(repalign_score(&a, &b, &m, NULL, &v), REPALIGN_STATUS_INVALID_ENUM, "kind 99 -> INVALID_ENUM");
    m = repalign_metric_default(REPALIGN_METRIC_KIND_CKA);
    m.kernel = 7;
    check_status(repalign_score(&a, &b, &m, NULL, &v), REPALIGN_STATUS_INVALID_ENUM, "kernel 7 -> INVALID_ENUM");
    m.kernel = REPALIGN_KERNEL_RBF;
    m.sigma = 0.0;
    check_status(repalign_score(&a, &b, &m, NULL, &v), REPALIGN_STATUS_INVALID_PARAMETER, "sigma 0");
    m.sigma = NAN;
    check_status(repalign_score(&a, &b, &m, NULL, &v), REPALIGN_STATUS_INVALID_PARAMETER, "sigma NaN");
    check(contains(repalign_last_error(), "sigma"), "... named in last_error");
    m = metric_k(REPALIGN_METRIC_KIND_EDIT_DISTANCE_KNN, N);
    check_status(repalign_score(&a, &b, &m, NULL, &v), REPALIGN_STATUS_INVALID_K, "kNN k = N -> INVALID_K");
    m = metric_k(REPALIGN_METRIC_KIND_CKNNA, 1);
    check_status(repalign_score(&a, &b, &m, NULL, &v), REPALIGN_STATUS_INVALID_K, "cknna topk 1 -> INVALID_K");
    m = metric_k(REPALIGN_METRIC_KIND_CKNNA, 3);
    m.unbiased = 2;
    check_status(repalign_score(&a, &b, &m, NULL, &v), REPALIGN_STATUS_INVALID_PARAMETER, "cknna unbiased 2");
    m = repalign_metric_default(REPALIGN_METRIC_KIND_SVCCA);
    m.cca_dim = DB + 1;
    check_status(repalign_score(&a, &b, &m, NULL, &v), REPALIGN_STATUS_INVALID_PARAMETER,
                 "svcca cca_dim > min(N, D) -> INVALID_PARAMETER");
    m = repalign_metric_default(REPALIGN_METRIC_KIND_UNBIASED_CKA);
    check_status(repalign_score(&three, &three, &m, NULL, &v), REPALIGN_STATUS_TOO_FEW_SAMPLES,
                 "unbiased_cka with N = 3 -> TOO_FEW_SAMPLES");
    three = f32_matrix(B, 3, DB);
    m = repalign_metric_default(REPALIGN_METRIC_KIND_CKA);
    check_status(repalign_score(&a, &three, &m, NULL, &v), REPALIGN_STATUS_ROW_COUNT_MISMATCH, "7 vs 3 rows");

    repalign_knn_graph(&a, 2, NULL, g, N * 2, NULL, 0, NULL);
    check_status(repalign_knn_metric_graphs(REPALIGN_METRIC_KIND_CKA, g, 2, g, 2, N, 2, &v),
                 REPALIGN_STATUS_INVALID_ENUM, "knn_metric_graphs of CKA -> INVALID_ENUM");
    check_status(repalign_knn_metric_graphs(99, g, 2, g, 2, N, 2, &v), REPALIGN_STATUS_INVALID_ENUM,
                 "knn_metric_graphs kind 99");
    check_status(repalign_knn_metric_graphs(REPALIGN_METRIC_KIND_LCS_KNN, g, 2, g, 2, N, 3, &v),
                 REPALIGN_STATUS_INVALID_K, "knn_metric_graphs k > width");

    check_status(repalign_clamp_threshold(&x, 0.5, 2, NULL, &thr), REPALIGN_STATUS_INVALID_PARAMETER, "per_sample 2");
    check_status(repalign_clamp_threshold(&x, 0.0, 0, NULL, &thr), REPALIGN_STATUS_INVALID_PARAMETER, "q 0");
    check_status(repalign_prepare(&x, 4, 0.5, NULL, out, PN, NULL), REPALIGN_STATUS_INVALID_ENUM, "prepare mode 4");
    check_status(repalign_prepare(&x, REPALIGN_PREPARE_PAPER, 1.5, NULL, out, PN, NULL),
                 REPALIGN_STATUS_INVALID_PARAMETER, "prepare PAPER q 1.5");
    check_status(repalign_prepare(&x, REPALIGN_PREPARE_NONE, 0.5, NULL, out, PN - 1, NULL),
                 REPALIGN_STATUS_OUTPUT_TOO_SHORT, "prepare into a short buffer");
    memcpy(nan_tensor, P, sizeof P);
    nan_tensor[(1 * PL + 0) * PD + 2] = NAN;
    t = f32_tensor(nan_tensor, PS, PL, PD);
    check_status(repalign_prepare(&t, REPALIGN_PREPARE_PAPER_PER_SAMPLE, 0.5, NULL, out, PN, NULL),
                 REPALIGN_STATUS_NON_FINITE, "NaN in a tensor -> NON_FINITE");
    check(contains(repalign_last_error(), "sample 1, layer 0, feature 2"),
          "... last_error names sample, layer, feature");
    printf("     last_error: %s\n", repalign_last_error());
    t = x;
    t.dtype = 9;
    check_status(repalign_clamp_threshold(&t, 0.5, 0, NULL, &thr), REPALIGN_STATUS_INVALID_DTYPE, "tensor dtype 9");
    t = x;
    t.samples = 0;
    check_status(repalign_clamp_threshold(&t, 0.5, 0, NULL, &thr), REPALIGN_STATUS_EMPTY_MATRIX,
                 "tensor with 0 samples");
    t = x;
    t.len = PN - 1;
    check_status(repalign_clamp_threshold(&t, 0.5, 0, NULL, &thr), REPALIGN_STATUS_BUFFER_TOO_SHORT,
                 "tensor len short");
    t = x;
    t.layers = (size_t)-1;
    check_status(repalign_clamp_threshold(&t, 0.5, 0, NULL, &thr), REPALIGN_STATUS_SHAPE_OVERFLOW,
                 "tensor shape overflow");

    {
        float ta[N * LA * DA];
        RepalignTensor3 ea = f32_tensor(ta, N, LA, DA), eb = f32_tensor(B, N, 1, DB);
        RepalignTensor3 short_b = f32_tensor(B, N - 1, 1, DB);
        size_t i;
        for (i = 0; i < N * LA * DA; i++) ta[i] = A[i % (N * DA)];
        m = metric_k(REPALIGN_METRIC_KIND_MUTUAL_KNN, 2);
        const double q = REPALIGN_SWEEP_Q;
        check_status(repalign_sweep(&ea, &eb, &m, 0, q, NULL, scores, LA - 1, &best, &bi, &bj, &has),
                     REPALIGN_STATUS_OUTPUT_TOO_SHORT, "sweep: scores_len < layers_a * layers_b");
        check_status(repalign_sweep(&ea, &short_b, &m, 0, q, NULL, scores, LA, &best, &bi, &bj, &has),
                     REPALIGN_STATUS_ROW_COUNT_MISMATCH, "sweep: 7 vs 6 samples");
        check_status(repalign_sweep(&ea, &eb, &m, 9, q, NULL, scores, LA, &best, &bi, &bj, &has),
                     REPALIGN_STATUS_INVALID_ENUM, "sweep: prepare mode 9");
        check(contains(repalign_last_error(), "`prepare_mode` is 9"), "... named in last_error");
        check_status(repalign_sweep(&ea, &eb, &m, REPALIGN_PREPARE_PAPER, 0.0, NULL, scores, LA, &best, &bi, &bj, &has),
                     REPALIGN_STATUS_INVALID_PARAMETER, "sweep: q 0");
        check(contains(repalign_last_error(), "`q` is 0"), "... named in last_error");
        check_status(repalign_sweep(&ea, &eb, &m, REPALIGN_PREPARE_NONE, NAN, NULL, scores, LA, &best, &bi, &bj, &has),
                     REPALIGN_STATUS_INVALID_PARAMETER, "sweep: q NaN, checked also for NONE");
        check_status(repalign_sweep(&ea, &eb, &m, REPALIGN_PREPARE_PAPER, 1.5, NULL, scores, LA, &best, &bi, &bj, &has),
                     REPALIGN_STATUS_INVALID_PARAMETER, "sweep: q 1.5");
        check_status(repalign_sweep(&ea, &eb, &m, REPALIGN_PREPARE_PAPER, 1.0, NULL, scores, LA, &best, &bi, &bj, &has),
                     REPALIGN_STATUS_OK, "sweep: q 1 (no clamping)");
        check_status(repalign_sweep(&ea, &eb, &m, 0, q, NULL, scores, LA, &best, &bi, &bj, NULL),
                     REPALIGN_STATUS_NULL_POINTER, "sweep: has_best NULL");
        check_status(repalign_sweep(&ea, &eb, &m, 0, q, NULL, scores, LA, &best, &bi, &bj, &has), REPALIGN_STATUS_OK,
                     "sweep: a good call");
        check(strcmp(repalign_last_error(), "") == 0, "... clears last_error");
    }
}

int main(void) {
    test_names_and_defaults();
    test_knn_metrics();
    test_kernel_metrics();
    test_svcca();
    test_prepare();
    test_sweep();
    test_zoo();
    test_errors();
    /* Kept buffers freed, so that valgrind finds no block still reachable at exit. */
    repalign_release_memory();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
