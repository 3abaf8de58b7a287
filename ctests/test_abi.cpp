// C++17 test of the whole repalign C ABI (include/repalign.h): every exported function on
// a success path, checked against what this file computes itself (sorts and loops in
// double), and on at least one error path. Also what C++ makes easy to check: the header's
// typed enums, and calls from several threads at once (same results, a last error per
// thread). run.sh fails if an exported function is not named here.
// Prints one line per check, then "N passed, M failed"; exits non-zero on any failure.
//
//   g++ -std=c++17 -Wall -Wextra -Wpedantic -Werror -pthread -Iinclude ctests/test_abi.cpp
//       target/release/librepalign.a -lpthread -ldl -lm
#include "repalign.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>
#include <string>
#include <thread>
#include <type_traits>
#include <unistd.h>
#include <vector>

namespace {

int passed = 0;
int failed = 0;

void check(bool ok, const std::string &name) {
    (ok ? passed : failed)++;
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", name.c_str());
    if (!ok) std::printf("     last error: \"%s\"\n", repalign_last_error());
}

void check_status(RepalignStatus got, RepalignStatus want, const std::string &name) {
    if (got != want)
        std::printf("     got %d (%s), want %d\n", int(got), repalign_status_message(uint32_t(got)), int(want));
    check(got == want, name);
}

bool close(double got, double want, double tol) {
    bool ok = std::fabs(got - want) <= tol * (1.0 + std::fabs(want));
    if (!ok) std::printf("     got %.17g, want %.17g\n", got, want);
    return ok;
}

bool has(const char *text, const char *part) { return std::strstr(text, part) != nullptr; }

// The header's enums are uint32_t in C++ (so they match the uint32_t fields), and the
// descriptors are plain C structs.
static_assert(std::is_same_v<std::underlying_type_t<RepalignDtype>, uint32_t>);
static_assert(std::is_same_v<std::underlying_type_t<RepalignIsa>, uint32_t>);
static_assert(std::is_same_v<std::underlying_type_t<RepalignSimilarity>, uint32_t>);
static_assert(std::is_same_v<std::underlying_type_t<RepalignMetricKind>, uint32_t>);
static_assert(std::is_same_v<std::underlying_type_t<RepalignKernel>, uint32_t>);
static_assert(std::is_same_v<std::underlying_type_t<RepalignPrepare>, uint32_t>);
static_assert(std::is_trivially_copyable_v<RepalignMatrix> && std::is_standard_layout_v<RepalignMatrix>);
static_assert(std::is_trivially_copyable_v<RepalignTensor3> && std::is_standard_layout_v<RepalignMetric>);

// ---- data ------------------------------------------------------------------------------

// Multiples of 0.5 in [-2, 2]: exact in f32, f16 and bf16, so every inner product is exact
// in the library's f32 and in double here, ties included (and ties are frequent).
std::vector<float> halves(size_t rows, size_t cols, uint32_t seed) {
    std::vector<float> v(rows * cols);
    for (float &x : v) {
        seed = seed * 1664525u + 1013904223u;
        x = float(int((seed >> 24) % 9) - 4) * 0.5f;
    }
    return v;
}

uint16_t f16_bits(float v) {  // v is 0 or a half-integer of magnitude <= 2: exact
    if (v == 0.0f) return 0;
    int e = 0;
    double m = std::frexp(std::fabs(double(v)), &e);  // |v| = m 2^e, m in [0.5, 1)
    return uint16_t((v < 0 ? 0x8000u : 0u) | unsigned(e - 1 + 15) << 10 | unsigned((2.0 * m - 1.0) * 1024.0));
}

uint16_t bf16_bits(float v) {
    uint32_t u = 0;
    std::memcpy(&u, &v, sizeof u);
    return uint16_t(u >> 16);
}

RepalignMatrix matrix(const void *data, uint32_t dtype, size_t rows, size_t cols, size_t stride, size_t len) {
    RepalignMatrix m{};
    m.data = data;
    m.dtype = dtype;
    m.rows = rows;
    m.cols = cols;
    m.row_stride = stride;
    m.len = len;
    return m;
}

RepalignMatrix f32(const std::vector<float> &x, size_t rows, size_t cols) {
    return matrix(x.data(), REPALIGN_DTYPE_F32, rows, cols, cols, x.size());
}

RepalignTensor3 tensor(const std::vector<float> &x, size_t samples, size_t layers, size_t dim) {
    return RepalignTensor3{x.data(), REPALIGN_DTYPE_F32, samples, layers, dim, x.size()};
}

RepalignKnnOptions cosine_options() {
    RepalignKnnOptions o = repalign_knn_options_default();
    o.similarity = REPALIGN_SIMILARITY_COSINE;
    return o;
}

// ---- references ------------------------------------------------------------------------

double dot(const float *x, const float *y, size_t d) {
    double s = 0.0;
    for (size_t i = 0; i < d; i++) s += double(x[i]) * double(y[i]);
    return s;
}

// The top k of each query row among the database rows, by a full sort: higher similarity
// first, then lower index. `self` skips row q of the database for query q (a graph).
struct Knn {
    std::vector<uint32_t> idx;
    std::vector<double> score;
};

Knn naive_knn(const std::vector<float> &q, size_t nq, const std::vector<float> &db, size_t n, size_t d, size_t k,
              bool self, bool cosine) {
    Knn out;
    for (size_t i = 0; i < nq; i++) {
        std::vector<std::pair<double, uint32_t>> c;
        for (size_t j = 0; j < n; j++) {
            if (self && j == i) continue;
            double s = dot(&q[i * d], &db[j * d], d);
            if (cosine) s /= std::sqrt(dot(&q[i * d], &q[i * d], d) * dot(&db[j * d], &db[j * d], d));
            c.emplace_back(-s, uint32_t(j));
        }
        std::sort(c.begin(), c.end());
        for (size_t p = 0; p < k; p++) {
            out.idx.push_back(c[p].second);
            out.score.push_back(-c[p].first);
        }
    }
    return out;
}

size_t common(const uint32_t *x, const uint32_t *y, size_t k) {
    size_t n = 0;
    for (size_t p = 0; p < k; p++) n += size_t(std::count(y, y + k, x[p]));
    return n;
}

size_t lcs(const uint32_t *x, const uint32_t *y, size_t k) {
    std::vector<size_t> t((k + 1) * (k + 1), 0);
    for (size_t i = 1; i <= k; i++)
        for (size_t j = 1; j <= k; j++)
            t[i * (k + 1) + j] = x[i - 1] == y[j - 1] ? t[(i - 1) * (k + 1) + j - 1] + 1
                                                      : std::max(t[(i - 1) * (k + 1) + j], t[i * (k + 1) + j - 1]);
    return t[k * (k + 1) + k];
}

size_t levenshtein(const uint32_t *x, const uint32_t *y, size_t k) {
    std::vector<size_t> prev(k + 1), cur(k + 1);
    std::iota(prev.begin(), prev.end(), size_t(0));
    for (size_t i = 1; i <= k; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= k; j++)
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] != y[j - 1])});
        std::swap(prev, cur);
    }
    return prev[k];
}

// A kNN metric of two graphs of n rows of k, as the header defines it. Mutual kNN is an
// exact count divided once by n k, as the library promises.
double naive_knn_metric(uint32_t kind, const std::vector<uint32_t> &ga, const std::vector<uint32_t> &gb, size_t n,
                        size_t k) {
    double total = 0.0;
    size_t shared = 0;
    for (size_t i = 0; i < n; i++) {
        const uint32_t *a = &ga[i * k], *b = &gb[i * k];
        size_t s = common(a, b, k);
        shared += s;
        switch (kind) {
        case REPALIGN_METRIC_KIND_MUTUAL_KNN: break;
        case REPALIGN_METRIC_KIND_CYCLE_KNN:
            total += std::any_of(b, b + k, [&](uint32_t j) {
                return std::count(&ga[j * k], &ga[j * k] + k, uint32_t(i)) > 0;
            });
            break;
        case REPALIGN_METRIC_KIND_LCS_KNN: total += double(lcs(a, b, k)); break;
        case REPALIGN_METRIC_KIND_EDIT_DISTANCE_KNN: total += 1.0 - double(levenshtein(a, b, k)) / double(k); break;
        default: total += double(s) / double(2 * k - s); break;  // jaccard
        }
    }
    return kind == REPALIGN_METRIC_KIND_MUTUAL_KNN ? double(shared) / double(n * k) : total / double(n);
}

using Square = std::vector<double>;  // n x n, row-major

Square gram(const std::vector<float> &x, size_t n, size_t d, double rbf_sigma) {
    Square k(n * n);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            if (rbf_sigma <= 0.0) {
                k[i * n + j] = dot(&x[i * d], &x[j * d], d);
                continue;
            }
            double d2 = 0.0;
            for (size_t c = 0; c < d; c++) d2 += std::pow(double(x[i * d + c]) - double(x[j * d + c]), 2);
            k[i * n + j] = std::exp(-d2 / (2.0 * rbf_sigma * rbf_sigma));
        }
    return k;
}

// Biased HSIC: sum_ij (HKH)_ij (HLH)_ij with H = I - 11'/n (both kernels symmetric).
double hsic_biased(const Square &k, const Square &l, size_t n) {
    auto centre = [n](const Square &m) {
        std::vector<double> row(n, 0.0);
        double all = 0.0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++) row[i] += m[i * n + j] / double(n);
        for (double r : row) all += r / double(n);
        Square c(n * n);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++) c[i * n + j] = m[i * n + j] - row[i] - row[j] + all;
        return c;
    };
    Square kc = centre(k), lc = centre(l);
    return std::inner_product(kc.begin(), kc.end(), lc.begin(), 0.0);
}

// Song et al. (2012), with zero diagonals: [tr(KL) + 1'K1 1'L1/((n-1)(n-2)) - 2/(n-2) 1'KL1] / (n(n-3)).
double hsic_unbiased(Square k, Square l, size_t n) {
    for (size_t i = 0; i < n; i++) k[i * n + i] = l[i * n + i] = 0.0;
    double tr = 0.0, sk = 0.0, sl = 0.0, cross = 0.0, m = double(n);
    std::vector<double> lrow(n, 0.0);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) lrow[i] += l[i * n + j];
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            tr += k[i * n + j] * l[j * n + i];
            sk += k[i * n + j];
            sl += l[i * n + j];
            cross += k[i * n + j] * lrow[j];
        }
    return (tr + sk * sl / ((m - 1) * (m - 2)) - 2.0 / (m - 2) * cross) / (m * (m - 3));
}

double hsic(const Square &k, const Square &l, size_t n, bool unbiased) {
    return unbiased ? hsic_unbiased(k, l, n) : hsic_biased(k, l, n);
}

double naive_cka(const Square &k, const Square &l, size_t n, bool unbiased) {
    return hsic(k, l, n, unbiased) / (std::sqrt(hsic(k, k, n, unbiased) * hsic(l, l, n, unbiased)) + 1e-6);
}

// CKNNA (the reference's `cknna`, unbiased): kernels masked to mutual top-k neighbours
// (self excluded); the denominator in float32 as the reference computes it.
double naive_cknna(const Square &k, const Square &l, size_t n, size_t topk) {
    auto mask = [n, topk](const Square &m) {
        Square out(n * n, 0.0);
        for (size_t i = 0; i < n; i++) {
            std::vector<std::pair<double, size_t>> c;
            for (size_t j = 0; j < n; j++)
                if (j != i) c.emplace_back(-m[i * n + j], j);
            std::sort(c.begin(), c.end());
            for (size_t p = 0; p < topk; p++) out[i * n + c[p].second] = 1.0;
        }
        return out;
    };
    Square mk = mask(k), ml = mask(l), kb(n * n), lb(n * n), km(n * n), lm(n * n);
    for (size_t i = 0; i < n * n; i++) {
        kb[i] = k[i] * mk[i] * ml[i];
        lb[i] = l[i] * mk[i] * ml[i];
        km[i] = k[i] * mk[i];
        lm[i] = l[i] * ml[i];
    }
    float denom = std::sqrt(float(hsic_unbiased(km, km, n) * hsic_unbiased(lm, lm, n))) + 1e-6f;
    return hsic_unbiased(kb, lb, n) / double(denom);
}

// The leading left singular vector of x with standardised columns (n - 1 denominator,
// + 1e-8), by power iteration on Z Z'.
std::vector<double> leading_direction(const std::vector<float> &x, size_t n, size_t d) {
    std::vector<double> z(n * d), u(n), v(n);
    for (size_t c = 0; c < d; c++) {
        double mean = 0.0, var = 0.0;
        for (size_t i = 0; i < n; i++) mean += double(x[i * d + c]) / double(n);
        for (size_t i = 0; i < n; i++) var += std::pow(double(x[i * d + c]) - mean, 2);
        for (size_t i = 0; i < n; i++) z[i * d + c] = (double(x[i * d + c]) - mean) / (std::sqrt(var / double(n - 1)) + 1e-8);
    }
    std::iota(u.begin(), u.end(), 1.0);
    for (int it = 0; it < 3000; it++) {
        std::vector<double> t(d, 0.0);  // v = Z (Z' u)
        for (size_t i = 0; i < n; i++)
            for (size_t c = 0; c < d; c++) t[c] += z[i * d + c] * u[i];
        for (size_t i = 0; i < n; i++) v[i] = std::inner_product(&z[i * d], &z[i * d] + d, t.begin(), 0.0);
        double norm = std::sqrt(std::inner_product(v.begin(), v.end(), v.begin(), 0.0));
        for (size_t i = 0; i < n; i++) u[i] = v[i] / norm;
    }
    return u;
}

// ---- tests -----------------------------------------------------------------------------

constexpr size_t N = 24, DA = 6, DB = 5;
const std::vector<float> A = halves(N, DA, 1), B = halves(N, DB, 2);

void test_info() {
    const std::string version = repalign_version();
    check(!version.empty() && std::count(version.begin(), version.end(), '.') >= 2 && std::isdigit(static_cast<unsigned char>(version[0])),
          "repalign_version is x.y.z: " + version);
    std::vector<std::string> messages;
    for (uint32_t s = REPALIGN_STATUS_OK; s <= REPALIGN_STATUS_CANCELLED; s++)
        messages.emplace_back(repalign_status_message(s));
    std::vector<std::string> sorted = messages;
    std::sort(sorted.begin(), sorted.end());
    check(messages[0] == "ok" && std::unique(sorted.begin(), sorted.end()) == sorted.end() && !sorted[0].empty(),
          "repalign_status_message: 29 distinct messages, OK is \"ok\"");
    check(std::string(repalign_status_message(29)) == "unrecognised status code" &&
              std::string(repalign_status_message(UINT32_MAX)) == "unrecognised status code",
          "repalign_status_message of 29 and UINT32_MAX: the generic message");

    const uint32_t best = repalign_isa_best();
    bool ok = false;
    check(best != REPALIGN_ISA_AUTO && best <= REPALIGN_ISA_EMULATED_512, "repalign_isa_best is a concrete ISA");
    check_status(repalign_isa_available(best, &ok), REPALIGN_STATUS_OK, "repalign_isa_available(best)");
    check(ok, "... is true");
    const char *names[] = {"auto", "scalar", "x86-v3", "x86-v4", "neon", "emulated-128", "emulated-256", "emulated-512"};
    bool all = true;
    for (uint32_t isa = 0; isa < 8; isa++) {
        bool avail = false;
        all &= repalign_isa_name(isa) != nullptr && std::string(repalign_isa_name(isa)) == names[isa];
        all &= repalign_isa_available(isa, &avail) == REPALIGN_STATUS_OK;
        // Auto, scalar and the emulations run everywhere; x86-v3 and NEON cannot both.
        if (isa <= REPALIGN_ISA_SCALAR || isa >= REPALIGN_ISA_EMULATED_128) all &= avail;
    }
    check(all, "repalign_isa_name / repalign_isa_available of every ISA");
    bool v3 = false, neon = false;
    repalign_isa_available(REPALIGN_ISA_X86_V3, &v3);
    repalign_isa_available(REPALIGN_ISA_NEON, &neon);
    check(!(v3 && neon), "x86-v3 and NEON are not both available");
    check(repalign_isa_name(8) == nullptr, "repalign_isa_name(8) is NULL");
    check_status(repalign_isa_available(8, &ok), REPALIGN_STATUS_INVALID_ENUM, "repalign_isa_available(8)");
    check(has(repalign_last_error(), "8"), "... last_error names the value");
    check_status(repalign_isa_available(REPALIGN_ISA_SCALAR, nullptr), REPALIGN_STATUS_NULL_POINTER,
                 "repalign_isa_available(out = NULL)");
    check_status(repalign_isa_available(REPALIGN_ISA_SCALAR, &ok), REPALIGN_STATUS_OK, "a good call");
    check(std::string(repalign_last_error()).empty(), "... clears repalign_last_error");
    std::printf("     version %s, best ISA %s\n", version.c_str(), repalign_isa_name(best));
}

void test_graph() {
    constexpr size_t K = 4;
    const RepalignMatrix a = f32(A, N, DA);
    const Knn want = naive_knn(A, N, A, N, DA, K, true, false);
    std::vector<uint32_t> idx(N * K);
    std::vector<float> sc(N * K);
    uint32_t isa = 99;
    check_status(repalign_knn_graph(&a, K, nullptr, idx.data(), idx.size(), sc.data(), sc.size(), &isa),
                 REPALIGN_STATUS_OK, "repalign_knn_graph 24 x 6, k = 4");
    check(idx == want.idx, "... indices equal a full sort (ties by lower index)");
    check(std::equal(sc.begin(), sc.end(), want.score.begin()), "... scores are the exact inner products");
    check(isa == repalign_isa_best(), "... isa_used is the best ISA");

    // f16, bf16 and a padded f32 copy give the same bits.
    constexpr size_t S = DA + 3;
    std::vector<uint16_t> h(N * DA), b(N * DA);
    std::vector<float> padded(N * S, 99.0f);
    for (size_t i = 0; i < N * DA; i++) {
        h[i] = f16_bits(A[i]);
        b[i] = bf16_bits(A[i]);
        padded[i / DA * S + i % DA] = A[i];
    }
    const RepalignMatrix views[] = {matrix(h.data(), REPALIGN_DTYPE_F16, N, DA, DA, h.size()),
                                    matrix(b.data(), REPALIGN_DTYPE_BF16, N, DA, DA, b.size()),
                                    matrix(padded.data(), REPALIGN_DTYPE_F32, N, DA, S, (N - 1) * S + DA)};
    const char *what[] = {"f16", "bf16", "f32 with row_stride 9"};
    for (int v = 0; v < 3; v++) {
        std::vector<uint32_t> i2(N * K);
        std::vector<float> s2(N * K);
        RepalignStatus st = repalign_knn_graph(&views[v], K, nullptr, i2.data(), i2.size(), s2.data(), s2.size(), nullptr);
        check(st == REPALIGN_STATUS_OK && i2 == idx && s2 == sc, std::string("repalign_knn_graph, ") + what[v] +
                                                                     ": identical");
    }

    // Cosine: scores within 1e-6 of double, and each listed neighbour has its rank's score.
    const RepalignKnnOptions cos = cosine_options();
    const Knn wc = naive_knn(A, N, A, N, DA, K, true, true);
    check_status(repalign_knn_graph(&a, K, &cos, idx.data(), idx.size(), nullptr, 0, nullptr), REPALIGN_STATUS_OK,
                 "repalign_knn_graph cosine, scores NULL");
    bool ok = true;
    for (size_t i = 0; i < N; i++)
        for (size_t p = 0; p < K; p++) {
            size_t j = idx[i * K + p];
            double s = dot(&A[i * DA], &A[j * DA], DA) /
                       std::sqrt(dot(&A[i * DA], &A[i * DA], DA) * dot(&A[j * DA], &A[j * DA], DA));
            ok &= j != i && std::fabs(s - wc.score[i * K + p]) < 1e-6;
        }
    check(ok, "... the listed neighbours are a true cosine top-k");

    // Every ISA and thread count: bit-identical.
    bool same = true;
    for (uint32_t v = REPALIGN_ISA_SCALAR; v <= REPALIGN_ISA_EMULATED_512; v++) {
        bool avail = false;
        repalign_isa_available(v, &avail);
        RepalignKnnOptions o = repalign_knn_options_default();
        o.isa = v;
        o.threads = v % 4;
        std::vector<uint32_t> i2(N * K);
        std::vector<float> s2(N * K);
        uint32_t used = 0;
        RepalignStatus st = repalign_knn_graph(&a, K, &o, i2.data(), i2.size(), s2.data(), s2.size(), &used);
        if (!avail)
            check_status(st, REPALIGN_STATUS_ISA_UNAVAILABLE, std::string("forcing ") + repalign_isa_name(v));
        else
            same &= st == REPALIGN_STATUS_OK && used == v && i2 == want.idx && std::equal(s2.begin(), s2.end(),
                                                                                            want.score.begin());
    }
    check(same, "every available ISA, 0 to 3 threads: identical results, isa_used reports it");

    // Errors: one per validated property.
    std::vector<uint32_t> big(N * N);  // room for every len claimed below
    auto graph = [&](const RepalignMatrix *m, size_t k, const RepalignKnnOptions *o, size_t len) {
        return repalign_knn_graph(m, k, o, big.data(), len, nullptr, 0, nullptr);
    };
    std::vector<float> bad = A;
    RepalignMatrix m = a;
    check_status(graph(nullptr, K, nullptr, N * K), REPALIGN_STATUS_NULL_POINTER, "x NULL");
    check_status(repalign_knn_graph(&a, K, nullptr, nullptr, N * K, nullptr, 0, nullptr),
                 REPALIGN_STATUS_NULL_POINTER, "indices NULL");
    m.data = nullptr;
    check_status(graph(&m, K, nullptr, N * K), REPALIGN_STATUS_NULL_POINTER, "x->data NULL");
    m = a;
    m.dtype = 3;
    check_status(graph(&m, K, nullptr, N * K), REPALIGN_STATUS_INVALID_DTYPE, "dtype 3");
    m.dtype = UINT32_MAX;
    check_status(graph(&m, K, nullptr, N * K), REPALIGN_STATUS_INVALID_DTYPE, "dtype UINT32_MAX");
    m = matrix(reinterpret_cast<const char *>(A.data()) + 1, REPALIGN_DTYPE_F32, N - 1, DA, DA, (N - 1) * DA);
    check_status(graph(&m, K, nullptr, N * K), REPALIGN_STATUS_MISALIGNED, "f32 data 1 byte off");
    m = a;
    m.rows = 0;
    check_status(graph(&m, K, nullptr, N * K), REPALIGN_STATUS_EMPTY_MATRIX, "0 rows");
    m = matrix(A.data(), REPALIGN_DTYPE_F32, N, 0, 0, A.size());
    check_status(graph(&m, K, nullptr, N * K), REPALIGN_STATUS_ZERO_DIMENSION, "0 columns");
    m = matrix(A.data(), REPALIGN_DTYPE_F32, N, DA, DA - 1, A.size());
    check_status(graph(&m, K, nullptr, N * K), REPALIGN_STATUS_STRIDE_TOO_SMALL, "row_stride < cols");
    m = matrix(A.data(), REPALIGN_DTYPE_F32, N, DA, DA, A.size() - 1);
    check_status(graph(&m, K, nullptr, N * K), REPALIGN_STATUS_BUFFER_TOO_SHORT, "len one short");
    m = matrix(A.data(), REPALIGN_DTYPE_F32, N, DA, SIZE_MAX / 4, A.size());
    check_status(graph(&m, K, nullptr, N * K), REPALIGN_STATUS_SHAPE_OVERFLOW, "(rows - 1) * row_stride overflows");
    check_status(graph(&a, 0, nullptr, N * K), REPALIGN_STATUS_INVALID_K, "k = 0");
    check_status(graph(&a, N, nullptr, N * N), REPALIGN_STATUS_INVALID_K, "k = N");
    check(has(repalign_last_error(), "k = 24"), "... last_error names k");
    check_status(graph(&a, K, nullptr, N * K - 1), REPALIGN_STATUS_OUTPUT_TOO_SHORT, "indices_len one short");
    check_status(repalign_knn_graph(&a, K, nullptr, idx.data(), N * K, sc.data(), 1, nullptr),
                 REPALIGN_STATUS_OUTPUT_TOO_SHORT, "scores_len 1");
    RepalignKnnOptions o = repalign_knn_options_default();
    o.similarity = 2;
    check_status(graph(&a, K, &o, N * K), REPALIGN_STATUS_INVALID_ENUM, "similarity 2");
    o = repalign_knn_options_default();
    o.isa = 8;
    check_status(graph(&a, K, &o, N * K), REPALIGN_STATUS_INVALID_ENUM, "isa 8");
    bad[3 * DA + 2] = std::numeric_limits<float>::infinity();
    check_status(graph(&(m = f32(bad, N, DA)), K, nullptr, N * K), REPALIGN_STATUS_NON_FINITE, "an infinity");
    check(has(repalign_last_error(), "row 3") && has(repalign_last_error(), "column 2"), "... named by row and column");
    bad = A;
    std::fill(&bad[5 * DA], &bad[6 * DA], 0.0f);
    check_status(graph(&(m = f32(bad, N, DA)), K, &cos, N * K), REPALIGN_STATUS_ZERO_NORM, "cosine of a zero row");
    bad[5 * DA] = 3e19f;
    check_status(graph(&(m = f32(bad, N, DA)), K, nullptr, N * K), REPALIGN_STATUS_MAGNITUDE_TOO_LARGE,
                 "a row whose squared norm overflows f32");
}

void test_search_merge() {
    constexpr size_t Q = 5, K = 6, S0 = 10;
    const RepalignMatrix q = f32(B, Q, DB), db = f32(B, N, DB);
    const Knn want = naive_knn(B, Q, B, N, DB, K, false, false);
    std::vector<uint32_t> idx(Q * K);
    std::vector<float> sc(Q * K);
    check_status(repalign_knn_search(&q, &db, K, nullptr, idx.data(), idx.size(), sc.data(), sc.size(), nullptr),
                 REPALIGN_STATUS_OK, "repalign_knn_search 5 queries in 24 rows, k = 6");
    check(idx == want.idx && std::equal(sc.begin(), sc.end(), want.score.begin()),
          "... equals a full sort (each query finds itself first or tied)");

    // Two shards [0, 10) and [10, 24), searched separately, indices made global, merged.
    const RepalignMatrix s0 = matrix(B.data(), REPALIGN_DTYPE_F32, S0, DB, DB, S0 * DB);
    const RepalignMatrix s1 = matrix(&B[S0 * DB], REPALIGN_DTYPE_F32, N - S0, DB, DB, (N - S0) * DB);
    std::vector<uint32_t> i0(Q * K), i1(Q * K), merged(Q * K);
    std::vector<float> c0(Q * K), c1(Q * K), merged_sc(Q * K);
    repalign_knn_search(&q, &s0, K, nullptr, i0.data(), i0.size(), c0.data(), c0.size(), nullptr);
    repalign_knn_search(&q, &s1, K, nullptr, i1.data(), i1.size(), c1.data(), c1.size(), nullptr);
    for (uint32_t &i : i1) i += S0;
    const uint32_t *parts[] = {i0.data(), i1.data()};
    const float *part_sc[] = {c0.data(), c1.data()};
    const size_t widths[] = {K, K};
    check_status(repalign_knn_merge(parts, part_sc, widths, 2, Q, K, merged.data(), merged_sc.data(), Q * K),
                 REPALIGN_STATUS_OK, "repalign_knn_merge of 2 shards");
    check(merged == idx && merged_sc == sc, "... equals the single search, ties included");

    // Errors.
    std::vector<uint32_t> out(Q * (2 * K + 1));  // room for every len claimed below
    const RepalignMatrix narrow = f32(A, N, DA);
    std::vector<uint16_t> h(N * DB, 0x3c00);
    const RepalignMatrix half_db = matrix(h.data(), REPALIGN_DTYPE_F16, N, DB, DB, h.size());
    check_status(repalign_knn_search(&q, &narrow, K, nullptr, out.data(), out.size(), nullptr, 0, nullptr),
                 REPALIGN_STATUS_DIMENSION_MISMATCH, "search: 5 vs 6 columns");
    check_status(repalign_knn_search(&q, &half_db, K, nullptr, out.data(), out.size(), nullptr, 0, nullptr),
                 REPALIGN_STATUS_DTYPE_MISMATCH, "search: f32 queries, f16 database");
    check_status(repalign_knn_search(&q, &s0, S0 + 1, nullptr, out.data(), Q * (S0 + 1), nullptr, 0, nullptr),
                 REPALIGN_STATUS_INVALID_K, "search: k > database rows");
    check_status(repalign_knn_search(&q, nullptr, K, nullptr, out.data(), out.size(), nullptr, 0, nullptr),
                 REPALIGN_STATUS_NULL_POINTER, "search: database NULL");
    check_status(repalign_knn_merge(nullptr, nullptr, nullptr, 0, Q, K, out.data(), nullptr, out.size()),
                 REPALIGN_STATUS_GRAPH_MISMATCH, "merge of 0 parts");
    check_status(repalign_knn_merge(parts, part_sc, widths, 2, Q, 2 * K + 1, out.data(), nullptr, Q * (2 * K + 1)),
                 REPALIGN_STATUS_INVALID_K, "merge: k > sum of widths");
    check_status(repalign_knn_merge(parts, part_sc, widths, 2, Q, K, out.data(), nullptr, Q * K - 1),
                 REPALIGN_STATUS_OUTPUT_TOO_SHORT, "merge: out_len one short");
    const uint32_t *twice[] = {i0.data(), i0.data()};  // every index twice, with equal scores
    const float *twice_sc[] = {c0.data(), c0.data()};
    check_status(repalign_knn_merge(twice, twice_sc, widths, 2, Q, K, out.data(), nullptr, out.size()),
                 REPALIGN_STATUS_INVALID_GRAPH, "merge: an index in two parts");
    check_status(repalign_knn_merge(parts, part_sc, nullptr, 2, Q, K, out.data(), nullptr, out.size()),
                 REPALIGN_STATUS_NULL_POINTER, "merge: widths NULL");
}

void test_knn_metrics() {
    const RepalignMatrix a = f32(A, N, DA), b = f32(B, N, DB);
    constexpr size_t W = 7;  // graphs computed once with k = 7 serve every k <= 7
    std::vector<uint32_t> ga(N * W), gb(N * W);
    repalign_knn_graph(&a, W, nullptr, ga.data(), ga.size(), nullptr, 0, nullptr);
    repalign_knn_graph(&b, W, nullptr, gb.data(), gb.size(), nullptr, 0, nullptr);
    for (size_t k : {1, 3, 7}) {
        const Knn na = naive_knn(A, N, A, N, DA, k, true, false), nb = naive_knn(B, N, B, N, DB, k, true, false);
        double mutual = -1.0, from_graphs = -1.0;
        const std::string kk = " k = " + std::to_string(k);
        check_status(repalign_mutual_knn(&a, &b, k, nullptr, &mutual), REPALIGN_STATUS_OK, "repalign_mutual_knn" + kk);
        check(mutual == naive_knn_metric(REPALIGN_METRIC_KIND_MUTUAL_KNN, na.idx, nb.idx, N, k),
              "... equals the count from sorted lists, exactly");
        check_status(repalign_mutual_knn_graphs(ga.data(), W, gb.data(), W, N, k, &from_graphs), REPALIGN_STATUS_OK,
                     "repalign_mutual_knn_graphs" + kk + " of width-7 graphs");
        check(from_graphs == mutual, "... equals repalign_mutual_knn");
        for (uint32_t kind = REPALIGN_METRIC_KIND_MUTUAL_KNN; kind <= REPALIGN_METRIC_KIND_JACCARD_KNN; kind++) {
            RepalignMetric m = repalign_metric_default(kind);
            m.k = k;
            double s = -1.0, g = -2.0;
            const double want = naive_knn_metric(kind, na.idx, nb.idx, N, k);
            RepalignStatus st = repalign_score(&a, &b, &m, nullptr, &s);
            RepalignStatus sg = repalign_knn_metric_graphs(kind, ga.data(), W, gb.data(), W, N, k, &g);
            const std::string name = repalign_metric_kind_name(kind) + kk;
            check(st == REPALIGN_STATUS_OK && close(s, want, 1e-12), "repalign_score " + name + " equals the reference");
            check(sg == REPALIGN_STATUS_OK && g == s, "repalign_knn_metric_graphs " + name + " equals repalign_score");
        }
    }
    const RepalignKnnOptions cos = cosine_options();
    double self = -1.0;
    check(repalign_mutual_knn(&a, &a, 5, &cos, &self) == REPALIGN_STATUS_OK && self == 1.0,
          "repalign_mutual_knn of A with itself, cosine: 1");

    double out = 0.0;
    const RepalignMatrix short_b = f32(B, N - 1, DB);
    check_status(repalign_mutual_knn(&a, &short_b, 3, nullptr, &out), REPALIGN_STATUS_ROW_COUNT_MISMATCH,
                 "mutual_knn: 24 vs 23 rows");
    check_status(repalign_mutual_knn(&a, &b, 3, nullptr, nullptr), REPALIGN_STATUS_NULL_POINTER, "mutual_knn: out NULL");
    check_status(repalign_mutual_knn(&a, &b, N, nullptr, &out), REPALIGN_STATUS_INVALID_K, "mutual_knn: k = N");
    check_status(repalign_mutual_knn_graphs(ga.data(), W, gb.data(), W, N, W + 1, &out), REPALIGN_STATUS_INVALID_K,
                 "mutual_knn_graphs: k > width");
    check_status(repalign_mutual_knn_graphs(ga.data(), SIZE_MAX, gb.data(), W, N, 1, &out),
                 REPALIGN_STATUS_SHAPE_OVERFLOW, "mutual_knn_graphs: rows * a_width overflows");
    std::vector<uint32_t> broken = ga;
    broken[3 * W + 1] = uint32_t(N);
    check_status(repalign_mutual_knn_graphs(broken.data(), W, gb.data(), W, N, 3, &out), REPALIGN_STATUS_INVALID_GRAPH,
                 "mutual_knn_graphs: index = rows");
    broken[3 * W + 1] = broken[3 * W];
    check_status(repalign_knn_metric_graphs(REPALIGN_METRIC_KIND_LCS_KNN, broken.data(), W, gb.data(), W, N, 3, &out),
                 REPALIGN_STATUS_INVALID_GRAPH, "knn_metric_graphs: index repeated in a row");
    check_status(repalign_knn_metric_graphs(REPALIGN_METRIC_KIND_CKA, ga.data(), W, gb.data(), W, N, 3, &out),
                 REPALIGN_STATUS_INVALID_ENUM, "knn_metric_graphs: CKA needs features");
    check_status(repalign_knn_metric_graphs(9, ga.data(), W, gb.data(), W, N, 3, &out), REPALIGN_STATUS_INVALID_ENUM,
                 "knn_metric_graphs: kind 9");
}

void test_kernel_metrics() {
    const RepalignMatrix a = f32(A, N, DA), b = f32(B, N, DB);
    const RepalignMetric d = repalign_metric_default(REPALIGN_METRIC_KIND_CKNNA);
    check(d.kind == REPALIGN_METRIC_KIND_CKNNA && d.k == 10 && d.kernel == REPALIGN_KERNEL_LINEAR && d.sigma == 1.0 &&
              d.unbiased == 1 && d.cca_dim == 10,
          "repalign_metric_default: the reference's defaults");
    const char *names[] = {"mutual_knn", "cycle_knn",    "lcs_knn", "edit_distance_knn", "jaccard_knn",
                           "cka",        "unbiased_cka", "cknna",   "svcca",             "rsa",
                           "procrustes", "cca",          "pwcca",   "rv_coefficient"};
    bool all = true;
    for (uint32_t k = 0; k < 14; k++) all &= repalign_metric_kind_name(k) && names[k] == std::string(repalign_metric_kind_name(k));
    check(all && repalign_metric_kind_name(14) == nullptr, "repalign_metric_kind_name: 14 names, then NULL");

    const Square ka = gram(A, N, DA, 0.0), kb = gram(B, N, DB, 0.0);
    const Square ra = gram(A, N, DA, 1.5), rb = gram(B, N, DB, 1.5);
    auto score = [&](RepalignMetric m, const RepalignMatrix &x, const RepalignMatrix &y) {
        double out = std::nan("");
        RepalignStatus st = repalign_score(&x, &y, &m, nullptr, &out);
        return st == REPALIGN_STATUS_OK ? out : std::nan("");
    };
    RepalignMetric m = repalign_metric_default(REPALIGN_METRIC_KIND_CKA);
    check(close(score(m, a, b), naive_cka(ka, kb, N, false), 1e-9), "cka (linear) equals the centred-Gram HSIC");
    m.kernel = REPALIGN_KERNEL_RBF;
    m.sigma = 1.5;
    check(close(score(m, a, b), naive_cka(ra, rb, N, false), 1e-6), "cka (rbf, sigma 1.5) equals the reference");
    m = repalign_metric_default(REPALIGN_METRIC_KIND_UNBIASED_CKA);
    check(close(score(m, a, b), naive_cka(ka, kb, N, true), 1e-9), "unbiased_cka equals Song et al.'s HSIC");
    m = repalign_metric_default(REPALIGN_METRIC_KIND_CKNNA);
    m.k = 6;
    // Ties within a kernel row would make the top-k mask depend on tie order: use
    // tie-free cosine-like data (A plus distinct small offsets) for CKNNA.
    std::vector<float> ta = A, tb = B;
    for (size_t i = 0; i < ta.size(); i++) ta[i] += float(i % 7) * 0.01f + float(i) * 1e-4f;
    for (size_t i = 0; i < tb.size(); i++) tb[i] += float(i % 5) * 0.013f + float(i) * 1e-4f;
    const RepalignMatrix xa = f32(ta, N, DA), xb = f32(tb, N, DB);
    check(close(score(m, xa, xb), naive_cknna(gram(ta, N, DA, 0.0), gram(tb, N, DB, 0.0), N, 6), 1e-6),
          "cknna (topk 6, unbiased) equals the masked HSIC");
    m = repalign_metric_default(REPALIGN_METRIC_KIND_SVCCA);
    m.cca_dim = 1;
    const std::vector<double> ua = leading_direction(A, N, DA), ub = leading_direction(B, N, DB);
    check(close(score(m, a, b), std::fabs(std::inner_product(ua.begin(), ua.end(), ub.begin(), 0.0)), 1e-9),
          "svcca (cca_dim 1) is |<u_a, u_b>| of the power-iteration directions");
    m.cca_dim = 4;
    check(close(score(m, a, a), 1.0, 1e-9), "svcca (cca_dim 4) of A with itself is 1");

    double out = 0.0;
    const RepalignMatrix three = f32(A, 3, DA);
    m = repalign_metric_default(99);
    check(m.kind == 99, "repalign_metric_default(99) keeps the kind...");
    check_status(repalign_score(&a, &b, &m, nullptr, &out), REPALIGN_STATUS_INVALID_ENUM, "... score reports it");
    check_status(repalign_score(&a, &b, nullptr, nullptr, &out), REPALIGN_STATUS_NULL_POINTER, "score: metric NULL");
    m = repalign_metric_default(REPALIGN_METRIC_KIND_CKA);
    m.kernel = 2;
    check_status(repalign_score(&a, &b, &m, nullptr, &out), REPALIGN_STATUS_INVALID_ENUM, "score: kernel 2");
    m.kernel = REPALIGN_KERNEL_RBF;
    m.sigma = -1.0;
    check_status(repalign_score(&a, &b, &m, nullptr, &out), REPALIGN_STATUS_INVALID_PARAMETER, "score: sigma -1");
    m = repalign_metric_default(REPALIGN_METRIC_KIND_CKNNA);
    m.unbiased = 2;
    m.k = 3;
    check_status(repalign_score(&a, &b, &m, nullptr, &out), REPALIGN_STATUS_INVALID_PARAMETER, "score: unbiased 2");
    m.unbiased = 1;
    m.k = 1;
    check_status(repalign_score(&a, &b, &m, nullptr, &out), REPALIGN_STATUS_INVALID_K, "score: cknna topk 1");
    m = repalign_metric_default(REPALIGN_METRIC_KIND_SVCCA);
    m.cca_dim = DB + 1;
    check_status(repalign_score(&a, &b, &m, nullptr, &out), REPALIGN_STATUS_INVALID_PARAMETER,
                 "score: cca_dim > min(N, D)");
    m = repalign_metric_default(REPALIGN_METRIC_KIND_UNBIASED_CKA);
    check_status(repalign_score(&three, &three, &m, nullptr, &out), REPALIGN_STATUS_TOO_FEW_SAMPLES,
                 "score: unbiased_cka with N = 3");
    RepalignKnnOptions o = repalign_knn_options_default();
    bool neon = false;
    repalign_isa_available(REPALIGN_ISA_NEON, &neon);
    o.isa = neon ? REPALIGN_ISA_X86_V3 : REPALIGN_ISA_NEON;  // one of them is missing
    check_status(repalign_score(&a, &b, &m, &o, &out), REPALIGN_STATUS_ISA_UNAVAILABLE,
                 "score: a forced ISA this CPU lacks");
}

void test_prepare_sweep() {
    constexpr size_t S = 8, LA = 2, LB = 3, D = 4;
    const std::vector<float> ta = halves(S, LA * D, 3), tb = halves(S, LB * D, 4);
    const RepalignTensor3 a = tensor(ta, S, LA, D), b = tensor(tb, S, LB, D);

    // Thresholds: the order statistic at floor(q * numel) of |x|; per sample, the mean of
    // linearly interpolated quantiles.
    std::vector<double> mag(ta.size());
    std::transform(ta.begin(), ta.end(), mag.begin(), [](float v) { return std::fabs(double(v)); });
    std::vector<double> sorted = mag;
    std::sort(sorted.begin(), sorted.end());
    float t = 0.0f;
    check_status(repalign_clamp_threshold(&a, 0.7, 0, nullptr, &t), REPALIGN_STATUS_OK,
                 "repalign_clamp_threshold q 0.7");
    check(t == float(sorted[size_t(0.7 * double(sorted.size()))]), "... is the sorted |x| at floor(q * numel)");
    double per = 0.0;
    for (size_t s = 0; s < S; s++) {
        std::vector<double> row(&mag[s * LA * D], &mag[(s + 1) * LA * D]);
        std::sort(row.begin(), row.end());
        double pos = 0.7 * double(row.size() - 1);
        size_t lo = size_t(pos);
        per += row[lo] + (pos - double(lo)) * (row[std::min(lo + 1, row.size() - 1)] - row[lo]);
    }
    check_status(repalign_clamp_threshold(&a, 0.7, 1, nullptr, &t), REPALIGN_STATUS_OK,
                 "repalign_clamp_threshold per sample");
    check(close(t, per / double(S), 1e-6), "... is the mean of interpolated per-sample quantiles");

    // PAPER: clamp at that threshold, then L2-normalise every (sample, layer) run.
    std::vector<float> out(ta.size()), want(ta.size());
    const float th = float(sorted[size_t(0.7 * double(sorted.size()))]);
    for (size_t i = 0; i < ta.size(); i += D) {
        double norm = 0.0;
        for (size_t c = 0; c < D; c++) norm += std::pow(double(std::clamp(ta[i + c], -th, th)), 2);
        for (size_t c = 0; c < D; c++)
            want[i + c] = float(double(std::clamp(ta[i + c], -th, th)) / std::max(std::sqrt(norm), 1e-12));
    }
    float used = 0.0f;
    check_status(repalign_prepare(&a, REPALIGN_PREPARE_PAPER, 0.7, nullptr, out.data(), out.size(), &used),
                 REPALIGN_STATUS_OK, "repalign_prepare PAPER q 0.7");
    bool ok = used == th;
    for (size_t i = 0; i < out.size(); i++) ok &= std::fabs(out[i] - want[i]) <= 1e-6f;
    check(ok, "... clamps at the threshold, normalises each run of D values");
    check_status(repalign_prepare(&a, REPALIGN_PREPARE_NONE, 0.7, nullptr, out.data(), out.size(), &used),
                 REPALIGN_STATUS_OK, "repalign_prepare NONE");
    check(out == ta && std::isinf(used), "... copies, threshold infinity");

    // Options: 1 or 3 threads give the NULL options' bits; a forced ISA this CPU lacks is an
    // error for both functions.
    {
        RepalignKnnOptions o = repalign_knn_options_default();
        std::vector<float> ref(ta.size()), got(ta.size());
        float ref_t = 0.0f, got_t = 0.0f;
        bool same = true;
        for (size_t threads : {size_t(1), size_t(3)}) {
            o.threads = threads;
            same &= repalign_prepare(&a, REPALIGN_PREPARE_PAPER_PER_SAMPLE, 0.7, nullptr, ref.data(), ref.size(),
                                     &ref_t) == REPALIGN_STATUS_OK;
            same &= repalign_prepare(&a, REPALIGN_PREPARE_PAPER_PER_SAMPLE, 0.7, &o, got.data(), got.size(), &got_t) ==
                    REPALIGN_STATUS_OK;
            same &= got == ref && got_t == ref_t;
            same &= repalign_clamp_threshold(&a, 0.7, 0, nullptr, &ref_t) == REPALIGN_STATUS_OK;
            same &= repalign_clamp_threshold(&a, 0.7, 0, &o, &got_t) == REPALIGN_STATUS_OK && got_t == ref_t;
        }
        check(same, "repalign_prepare / repalign_clamp_threshold with 1 and 3 threads equal NULL options");
        bool neon = false;
        repalign_isa_available(REPALIGN_ISA_NEON, &neon);
        o.isa = neon ? REPALIGN_ISA_X86_V3 : REPALIGN_ISA_NEON;  // one of them is missing
        check_status(repalign_prepare(&a, REPALIGN_PREPARE_PAPER, 0.7, &o, got.data(), got.size(), nullptr),
                     REPALIGN_STATUS_ISA_UNAVAILABLE, "repalign_prepare: a forced ISA this CPU lacks");
        check_status(repalign_clamp_threshold(&a, 0.7, 1, &o, &got_t), REPALIGN_STATUS_ISA_UNAVAILABLE,
                     "repalign_clamp_threshold: a forced ISA this CPU lacks");
    }

    // The sweep without preparation: every pair is the mutual kNN of the two layers.
    RepalignMetric m = repalign_metric_default(REPALIGN_METRIC_KIND_MUTUAL_KNN);
    m.k = 2;
    std::vector<double> scores(LA * LB, -1.0);
    double best = -1.0, want_best = 0.0;
    size_t bi = 9, bj = 9, wi = 0, wj = 0;
    bool found = false, same = true;
    check_status(repalign_sweep(&a, &b, &m, REPALIGN_PREPARE_NONE, REPALIGN_SWEEP_Q, nullptr, scores.data(),
                                scores.size(), &best, &bi, &bj, &found),
                 REPALIGN_STATUS_OK, "repalign_sweep mutual_knn k = 2, 2 x 3 layers");
    for (size_t i = 0; i < LA; i++)
        for (size_t j = 0; j < LB; j++) {
            std::vector<float> x(S * D), y(S * D);
            for (size_t s = 0; s < S; s++) {
                std::copy_n(&ta[(s * LA + i) * D], D, &x[s * D]);
                std::copy_n(&tb[(s * LB + j) * D], D, &y[s * D]);
            }
            const Knn gx = naive_knn(x, S, x, S, D, 2, true, false), gy = naive_knn(y, S, y, S, D, 2, true, false);
            const double w = naive_knn_metric(REPALIGN_METRIC_KIND_MUTUAL_KNN, gx.idx, gy.idx, S, 2);
            same &= scores[i * LB + j] == w;
            if (w > want_best) {
                want_best = w;
                wi = i;
                wj = j;
            }
        }
    check(same, "... every score equals the reference on the layer pair");
    check(found == (want_best > 0.0) && best == want_best && bi == wi && bj == wj, "... best is the first strict maximum");

    // The sweep at another q prepares as repalign_prepare does at that q.
    std::vector<float> pa(ta.size()), pb(tb.size());
    check_status(repalign_prepare(&a, REPALIGN_PREPARE_PAPER, 0.7, nullptr, pa.data(), pa.size(), nullptr),
                 REPALIGN_STATUS_OK, "prepare a at q 0.7");
    check_status(repalign_prepare(&b, REPALIGN_PREPARE_PAPER, 0.7, nullptr, pb.data(), pb.size(), nullptr),
                 REPALIGN_STATUS_OK, "prepare b at q 0.7");
    const RepalignTensor3 qa = tensor(pa, S, LA, D), qb = tensor(pb, S, LB, D);
    std::vector<double> at_q(LA * LB, -1.0), prepared(LA * LB, -2.0);
    check_status(repalign_sweep(&a, &b, &m, REPALIGN_PREPARE_PAPER, 0.7, nullptr, at_q.data(), at_q.size(), &best, &bi,
                                &bj, &found),
                 REPALIGN_STATUS_OK, "repalign_sweep PAPER q 0.7");
    check_status(repalign_sweep(&qa, &qb, &m, REPALIGN_PREPARE_NONE, REPALIGN_SWEEP_Q, nullptr, prepared.data(),
                                prepared.size(), &best, &bi, &bj, &found),
                 REPALIGN_STATUS_OK, "repalign_sweep NONE of the tensors prepared at q 0.7");
    check(at_q == prepared, "... the same scores");

    // Errors.
    std::vector<uint16_t> h(ta.size(), 0x3c00);
    h[(5 * LA + 1) * D + 3] = 0x7c00;  // f16 +infinity at sample 5, layer 1, feature 3
    const RepalignTensor3 inf = {h.data(), REPALIGN_DTYPE_F16, S, LA, D, h.size()};
    RepalignTensor3 x = a;
    check_status(repalign_clamp_threshold(&a, 0.0, 0, nullptr, &t), REPALIGN_STATUS_INVALID_PARAMETER,
                 "threshold: q 0");
    check_status(repalign_clamp_threshold(&a, std::nan(""), 0, nullptr, &t), REPALIGN_STATUS_INVALID_PARAMETER,
                 "threshold: q NaN");
    check_status(repalign_clamp_threshold(&a, 0.5, 2, nullptr, &t), REPALIGN_STATUS_INVALID_PARAMETER,
                 "threshold: per_sample 2");
    check_status(repalign_clamp_threshold(nullptr, 0.5, 0, nullptr, &t), REPALIGN_STATUS_NULL_POINTER,
                 "threshold: x NULL");
    check_status(repalign_prepare(&inf, REPALIGN_PREPARE_PAPER, 0.9, nullptr, out.data(), out.size(), nullptr),
                 REPALIGN_STATUS_NON_FINITE, "prepare: an f16 infinity");
    check(has(repalign_last_error(), "sample 5, layer 1, feature 3"), "... named by sample, layer, feature");
    check_status(repalign_prepare(&a, 4, 0.9, nullptr, out.data(), out.size(), nullptr), REPALIGN_STATUS_INVALID_ENUM,
                 "prepare: mode 4");
    check_status(repalign_prepare(&a, REPALIGN_PREPARE_PAPER, 1.5, nullptr, out.data(), out.size(), nullptr),
                 REPALIGN_STATUS_INVALID_PARAMETER, "prepare: q 1.5");
    check_status(repalign_prepare(&a, REPALIGN_PREPARE_NORMALIZE, 0.9, nullptr, out.data(), out.size() - 1, nullptr),
                 REPALIGN_STATUS_OUTPUT_TOO_SHORT, "prepare: out_len one short");
    x.dtype = 5;
    check_status(repalign_prepare(&x, REPALIGN_PREPARE_NONE, 0.9, nullptr, out.data(), out.size(), nullptr),
                 REPALIGN_STATUS_INVALID_DTYPE, "prepare: dtype 5");
    x = a;
    x.dim = 0;
    check_status(repalign_prepare(&x, REPALIGN_PREPARE_NONE, 0.9, nullptr, out.data(), out.size(), nullptr),
                 REPALIGN_STATUS_ZERO_DIMENSION, "prepare: dim 0");
    x = a;
    x.len--;
    check_status(repalign_prepare(&x, REPALIGN_PREPARE_NONE, 0.9, nullptr, out.data(), out.size(), nullptr),
                 REPALIGN_STATUS_BUFFER_TOO_SHORT, "prepare: len one short");
    x = a;
    x.samples = SIZE_MAX / 2;
    check_status(repalign_prepare(&x, REPALIGN_PREPARE_NONE, 0.9, nullptr, out.data(), out.size(), nullptr),
                 REPALIGN_STATUS_SHAPE_OVERFLOW, "prepare: samples * layers * dim overflows");
    const RepalignTensor3 fewer = tensor(tb, S - 1, LB, D);
    const double q = REPALIGN_SWEEP_Q;
    check_status(repalign_sweep(&a, &fewer, &m, 0, q, nullptr, scores.data(), scores.size(), &best, &bi, &bj, &found),
                 REPALIGN_STATUS_ROW_COUNT_MISMATCH, "sweep: 8 vs 7 samples");
    check_status(repalign_sweep(&a, &b, &m, 0, q, nullptr, scores.data(), LA * LB - 1, &best, &bi, &bj, &found),
                 REPALIGN_STATUS_OUTPUT_TOO_SHORT, "sweep: scores_len one short");
    check_status(repalign_sweep(&a, &b, &m, 0, q, nullptr, scores.data(), scores.size(), &best, nullptr, &bj, &found),
                 REPALIGN_STATUS_NULL_POINTER, "sweep: best_i NULL");
    check_status(repalign_sweep(&a, &b, &m, 7, q, nullptr, scores.data(), scores.size(), &best, &bi, &bj, &found),
                 REPALIGN_STATUS_INVALID_ENUM, "sweep: prepare mode 7");
    for (const double bad_q : {0.0, -0.5, 1.25, std::nan(""), HUGE_VAL}) {
        check_status(repalign_sweep(&a, &b, &m, REPALIGN_PREPARE_PAPER_PER_SAMPLE, bad_q, nullptr, scores.data(),
                                    scores.size(), &best, &bi, &bj, &found),
                     REPALIGN_STATUS_INVALID_PARAMETER, ("sweep: q " + std::to_string(bad_q)).c_str());
    }
    check(has(repalign_last_error(), "`q`"), "... q named in last_error");
    check_status(repalign_sweep(&a, &b, &m, REPALIGN_PREPARE_NORMALIZE, 0.0, nullptr, scores.data(), scores.size(),
                                &best, &bi, &bj, &found),
                 REPALIGN_STATUS_INVALID_PARAMETER, "sweep: q checked for NORMALIZE too");
}

// Several threads call the library at once: results equal the single-threaded ones, and
// each thread's last error is its own even while the others fail differently.
void test_threads() {
    constexpr int T = 4;
    constexpr size_t K = 5;
    const RepalignMatrix a = f32(A, N, DA);
    std::vector<uint32_t> want(N * K);
    repalign_knn_graph(&a, K, nullptr, want.data(), want.size(), nullptr, 0, nullptr);
    std::atomic<int> failed_calls{0};
    bool same[T] = {}, own_error[T] = {}, cleared[T] = {};
    std::vector<std::thread> threads;
    for (int t = 0; t < T; t++)
        threads.emplace_back([&, t] {
            RepalignKnnOptions o = repalign_knn_options_default();
            o.threads = size_t(t);
            std::vector<uint32_t> idx(N * K);
            same[t] = true;
            for (int r = 0; r < 20; r++)
                same[t] &= repalign_knn_graph(&a, K, &o, idx.data(), idx.size(), nullptr, 0, nullptr) ==
                               REPALIGN_STATUS_OK && idx == want;
            const size_t bad_k = 100 + size_t(t);
            repalign_knn_graph(&a, bad_k, &o, idx.data(), idx.size(), nullptr, 0, nullptr);
            failed_calls++;
            while (failed_calls.load() < T) std::this_thread::yield();  // every thread has failed
            own_error[t] = has(repalign_last_error(), ("k = " + std::to_string(bad_k)).c_str());
            bool ok = false;
            repalign_isa_available(REPALIGN_ISA_SCALAR, &ok);
            cleared[t] = ok && repalign_last_error()[0] == '\0';
        });
    for (std::thread &t : threads) t.join();
    check(std::all_of(same, same + T, [](bool b) { return b; }), "4 threads x 20 graphs with 0-3 workers: identical");
    check(std::all_of(own_error, own_error + T, [](bool b) { return b; }), "each thread reads its own last error");
    check(std::all_of(cleared, cleared + T, [](bool b) { return b; }), "... and clears only its own");
}

}  // namespace

void test_calibration() {
    // Defaults.
    const RepalignCalibrationOptions d = repalign_calibration_options_default();
    check(d.permutations == 1000 && d.seed == 0 && d.alpha == 0.05, "repalign_calibration_options_default: 1000, 0, 0.05");

    // B is a copy of A: every permutation scores lower, so p reaches 1 / (P + 1).
    constexpr size_t N = 40, D = 6;
    const std::vector<float> x = halves(N, D, 7);
    const RepalignMatrix a = f32(x, N, D);
    RepalignMetric m = repalign_metric_default(REPALIGN_METRIC_KIND_MUTUAL_KNN);
    m.k = 5;
    RepalignCalibrationOptions cal = {99, 1, 0.05};
    RepalignCalibration c{};
    check_status(repalign_calibrate_score(&a, &a, &m, nullptr, &cal, &c), REPALIGN_STATUS_OK,
                 "repalign_calibrate_score mutual_knn(A, A), 99 permutations");
    double direct = 0.0;
    check_status(repalign_score(&a, &a, &m, nullptr, &direct), REPALIGN_STATUS_OK, "... and repalign_score");
    check(c.raw == direct && direct == 1.0 && c.p_value == 1.0 / 100.0 && c.permutations == 99,
          "... raw equals the score (1), p = 1/(P + 1)");
    check(c.null_mean < 0.5 && c.tau < 1.0 && c.calibrated == 1.0, "... null mean near chance, calibrated 1");
    RepalignCalibration again{};
    cal.seed = 1;
    check_status(repalign_calibrate_score(&a, &a, &m, nullptr, &cal, &again), REPALIGN_STATUS_OK, "... same seed");
    check(std::memcmp(&again, &c, sizeof c) == 0, "... reproduces the same null");
    cal.permutations = 0;
    check_status(repalign_calibrate_score(&a, &a, &m, nullptr, &cal, &c), REPALIGN_STATUS_INVALID_PARAMETER,
                 "repalign_calibrate_score with 0 permutations");
    cal.permutations = 10;
    check_status(repalign_calibrate_score(&a, &a, &m, nullptr, &cal, nullptr), REPALIGN_STATUS_NULL_POINTER,
                 "repalign_calibrate_score with a NULL output");

    // The sweep: raw is the best pair of repalign_sweep.
    constexpr size_t S = 30, LA = 2, LB = 2, DT = 4;
    const std::vector<float> ta = halves(S, LA * DT, 8), tb = halves(S, LB * DT, 9);
    const RepalignTensor3 ya = tensor(ta, S, LA, DT), yb = tensor(tb, S, LB, DT);
    std::vector<double> scores(LA * LB);
    double best = 0.0;
    size_t bi = 0, bj = 0;
    bool found = false;
    check_status(repalign_sweep(&ya, &yb, &m, REPALIGN_PREPARE_PAPER, REPALIGN_SWEEP_Q, nullptr, scores.data(),
                                scores.size(), &best, &bi, &bj, &found),
                 REPALIGN_STATUS_OK, "repalign_sweep for the calibration");
    check_status(repalign_calibrate_sweep(&ya, &yb, &m, REPALIGN_PREPARE_PAPER, REPALIGN_SWEEP_Q, nullptr, nullptr, &c),
                 REPALIGN_STATUS_OK, "repalign_calibrate_sweep, default options");
    check(c.raw == *std::max_element(scores.begin(), scores.end()) && c.permutations == 1000 && c.p_value > 0.0 &&
              c.p_value <= 1.0,
          "... raw is the sweep's maximum, 1000 permutations");
    check_status(repalign_sweep(&ya, &yb, &m, REPALIGN_PREPARE_PAPER, 0.5, nullptr, scores.data(), scores.size(), &best,
                                &bi, &bj, &found),
                 REPALIGN_STATUS_OK, "repalign_sweep at q 0.5");
    cal.permutations = 50;
    check_status(repalign_calibrate_sweep(&ya, &yb, &m, REPALIGN_PREPARE_PAPER, 0.5, nullptr, &cal, &c),
                 REPALIGN_STATUS_OK, "repalign_calibrate_sweep at q 0.5");
    check(c.raw == *std::max_element(scores.begin(), scores.end()), "... raw is that sweep's maximum");
    check_status(repalign_calibrate_sweep(&ya, &yb, &m, 77, REPALIGN_SWEEP_Q, nullptr, nullptr, &c),
                 REPALIGN_STATUS_INVALID_ENUM, "repalign_calibrate_sweep with prepare mode 77");
    check_status(repalign_calibrate_sweep(&ya, &yb, &m, REPALIGN_PREPARE_PAPER, 0.0, nullptr, nullptr, &c),
                 REPALIGN_STATUS_INVALID_PARAMETER, "repalign_calibrate_sweep with q 0");
}

void test_zoo() {
    // Three models of 30 samples (2, 3 and 2 layers): all pairs, then model 0 against 1 and 2.
    constexpr size_t S = 30, DT = 4;
    const std::vector<float> t0 = halves(S, 2 * DT, 11), t1 = halves(S, 3 * DT, 12), t2 = halves(S, 2 * DT, 13);
    const RepalignTensor3 models[3] = {tensor(t0, S, 2, DT), tensor(t1, S, 3, DT), tensor(t2, S, 2, DT)};
    RepalignMetric m = repalign_metric_default(REPALIGN_METRIC_KIND_MUTUAL_KNN);
    m.k = 4;
    size_t np = 0, ns = 0;
    check_status(repalign_zoo_sizes(models, 3, 0, &np, &ns), REPALIGN_STATUS_OK, "repalign_zoo_sizes, all pairs");
    check(np == 3 && ns == 2 * 3 + 2 * 2 + 3 * 2, "... 3 pairs, 16 scores");
    std::vector<RepalignZooPair> pairs(np);
    std::vector<double> scores(ns);
    RepalignCalibrationOptions cal = {25, 2, 0.05};
    check_status(repalign_zoo(models, 3, 0, &m, REPALIGN_PREPARE_NORMALIZE, REPALIGN_SWEEP_Q, nullptr, &cal,
                              pairs.data(), pairs.size(), scores.data(), scores.size()),
                 REPALIGN_STATUS_OK, "repalign_zoo, calibrated");
    bool same = true;
    for (const RepalignZooPair &z : pairs) {
        const size_t la = models[z.a].layers, lb = models[z.b].layers;
        std::vector<double> one(la * lb);
        double best = 0.0;
        size_t bi = 0, bj = 0;
        bool found = false;
        RepalignCalibration c{};
        same = same && repalign_sweep(&models[z.a], &models[z.b], &m, REPALIGN_PREPARE_NORMALIZE, REPALIGN_SWEEP_Q,
                                      nullptr, one.data(), one.size(), &best, &bi, &bj, &found) == REPALIGN_STATUS_OK;
        same = same && std::equal(one.begin(), one.end(), scores.begin() + z.scores_offset);
        same = same && z.best == best && z.has_best == found && z.best_i == bi && z.best_j == bj;
        same = same && repalign_calibrate_sweep(&models[z.a], &models[z.b], &m, REPALIGN_PREPARE_NORMALIZE,
                                                REPALIGN_SWEEP_Q, nullptr, &cal, &c) == REPALIGN_STATUS_OK;
        same = same && z.has_calibration && std::memcmp(&z.calibration, &c, sizeof c) == 0 &&
               z.q_value >= c.p_value && z.holm >= c.p_value && z.holm <= 1.0;
    }
    check(same, "... every pair equals repalign_sweep and repalign_calibrate_sweep");
    check_status(repalign_zoo_sizes(models, 3, 1, &np, &ns), REPALIGN_STATUS_OK, "repalign_zoo_sizes, two groups");
    check(np == 2 && ns == 2 * 3 + 2 * 2, "... 2 pairs");
    check_status(repalign_zoo(models, 3, 1, &m, REPALIGN_PREPARE_NONE, REPALIGN_SWEEP_Q, nullptr, nullptr,
                              pairs.data(), 1, scores.data(), scores.size()),
                 REPALIGN_STATUS_OUTPUT_TOO_SHORT, "repalign_zoo with room for one pair of two");
    check_status(repalign_zoo(models, 1, 0, &m, REPALIGN_PREPARE_NONE, REPALIGN_SWEEP_Q, nullptr, nullptr,
                              pairs.data(), pairs.size(), scores.data(), scores.size()),
                 REPALIGN_STATUS_INVALID_PARAMETER, "repalign_zoo of one model");
}

// Runs `calls` with this process's stderr (fd 2) sent to a temporary file; returns what was
// written there.
template <class F> std::string stderr_of(F calls) {
    std::fflush(stderr);
    FILE *capture = std::tmpfile();
    const int saved = dup(2);
    if (!capture || saved < 0 || dup2(fileno(capture), 2) < 0) return "(stderr could not be captured)";
    calls();
    std::fflush(stderr);
    dup2(saved, 2);
    close(saved);
    std::string text;
    std::rewind(capture);
    for (int c; (c = std::fgetc(capture)) != EOF;) text += char(c);
    std::fclose(capture);
    return text;
}

// Issue 13: buffers sized by the input that no allocator gives are an error status, never an
// abort (SIGABRT) or a panic, and nothing reaches the host's stderr.
void test_allocation_failures() {
    const std::vector<float> x = halves(40, 3, 5);
    const RepalignMatrix a = f32(x, 40, 3);
    RepalignMetric m = repalign_metric_default(REPALIGN_METRIC_KIND_MUTUAL_KNN);
    m.k = 5;
    RepalignCalibration c{};
    const std::string printed = stderr_of([&] {
        for (size_t p : {size_t(1) << 40, SIZE_MAX, size_t(1) << 61}) {
            RepalignCalibrationOptions cal = {p, 1, 0.05};
            check_status(repalign_calibrate_score(&a, &a, &m, nullptr, &cal, &c), REPALIGN_STATUS_OUT_OF_MEMORY,
                         "repalign_calibrate_score with " + std::to_string(p) + " permutations: out of memory");
            check(std::string(repalign_last_error()).find("permutations") != std::string::npos,
                  "... the last error names the permutations");
        }
        // CKA on N = 400,000 rows: an N x N f64 kernel of 1.28 TB.
        const size_t n = 400000;
        std::vector<float> big(n);
        for (size_t i = 0; i < n; i++) big[i] = float(i % 89) / 89.0f + 0.5f;
        const RepalignMatrix b = f32(big, n, 1);
        const RepalignMetric cka = repalign_metric_default(REPALIGN_METRIC_KIND_CKA);
        double score = 0.0;
        check_status(repalign_score(&b, &b, &cka, nullptr, &score), REPALIGN_STATUS_OUT_OF_MEMORY,
                     "repalign_score cka on 400000 rows: out of memory");
    });
    // Under ASan (allocator_may_return_null=1) the sanitizer itself warns of each refused
    // allocation: those lines are the tool's, not the library's.
    std::string library;
    for (size_t at = 0, end; at < printed.size(); at = end + 1) {
        end = printed.find('\n', at);
        if (end == std::string::npos) end = printed.size();
        const std::string line = printed.substr(at, end - at);
        if (line.find("AddressSanitizer failed to allocate") == std::string::npos) library += line + "\n";
    }
    check(library.empty(), "... and nothing is printed on stderr: \"" + library + "\"");
    check(std::string(repalign_status_message(REPALIGN_STATUS_OUT_OF_MEMORY)).find("allocated") != std::string::npos,
          "repalign_status_message(OUT_OF_MEMORY)");
}

// Issue 13: repalign_knn_merge refuses NaN scores and parts that are not best first.
void test_merge_refuses_bad_parts() {
    const uint32_t ia[] = {3, 1, 0, 4}, ib[] = {2, 5, 6, 7};
    float sa[] = {0.9f, 0.5f, 0.8f, 0.8f};
    const float sb[] = {0.7f, 0.6f, 0.9f, 0.1f};
    const uint32_t *parts[] = {ia, ib};
    const float *part_sc[] = {sa, sb};
    const size_t widths[] = {2, 2};
    uint32_t out[6];
    float out_sc[6];
    check_status(repalign_knn_merge(parts, part_sc, widths, 2, 2, 3, out, out_sc, 6), REPALIGN_STATUS_OK,
                 "repalign_knn_merge of sorted parts");
    sa[1] = std::numeric_limits<float>::quiet_NaN();
    check_status(repalign_knn_merge(parts, part_sc, widths, 2, 2, 3, out, out_sc, 6), REPALIGN_STATUS_NON_FINITE,
                 "repalign_knn_merge with a NaN score: NON_FINITE");
    sa[1] = 0.95f;
    check_status(repalign_knn_merge(parts, part_sc, widths, 2, 2, 3, out, out_sc, 6),
                 REPALIGN_STATUS_INVALID_PARAMETER, "repalign_knn_merge of a part not best first");
}

int main() {
    test_info();
    test_allocation_failures();
    test_merge_refuses_bad_parts();
    test_graph();
    test_search_merge();
    test_knn_metrics();
    test_kernel_metrics();
    test_prepare_sweep();
    test_threads();
    test_calibration();
    test_zoo();
    // The graphs above left their threads' buffers kept for a next call: freed here, so
    // that valgrind finds no block still reachable at exit.
    check(repalign_release_memory() > 0, "repalign_release_memory after graphs frees the kept buffers");
    check(repalign_release_memory() == 0, "... and a second call finds none");
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
