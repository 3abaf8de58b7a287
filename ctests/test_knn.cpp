// C++17 smoke test of include/repalign.h: the header compiles as C++ (extern "C",
// typed enums), and a few calls work. Prints one line per check, then
// "N passed, M failed"; exits non-zero on any failure.
#include "repalign.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

int passed = 0;
int failed = 0;

void check(bool ok, const char *name) {
    (ok ? passed : failed)++;
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", name);
    if (!ok) std::printf("     last error: \"%s\"\n", repalign_last_error());
}

}  // namespace

int main() {
    // Four points on two lines through the origin: rows 0, 1 and rows 2, 3 pair up.
    const std::vector<float> x = {1.0f, 0.1f, 2.0f, 0.3f, -0.2f, 1.0f, -0.1f, 3.0f};
    RepalignMatrix m{};
    m.data = x.data();
    m.dtype = REPALIGN_DTYPE_F32;
    m.rows = 4;
    m.cols = 2;
    m.row_stride = 2;
    m.len = x.size();

    check(std::string(repalign_version()).size() > 0, "version");
    RepalignKnnOptions opts = repalign_knn_options_default();
    opts.similarity = REPALIGN_SIMILARITY_COSINE;
    std::vector<uint32_t> indices(4);
    std::vector<float> scores(4);
    uint32_t isa = REPALIGN_ISA_AUTO;
    RepalignStatus st = repalign_knn_graph(&m, 1, &opts, indices.data(), indices.size(), scores.data(), scores.size(), &isa);
    check(st == REPALIGN_STATUS_OK, "cosine graph k=1");
    check(indices == std::vector<uint32_t>({1, 0, 3, 2}), "nearest neighbours pair up");
    check(isa == repalign_isa_best() && repalign_isa_name(isa) != nullptr, "isa_used is the best ISA");

    double score = -1.0;
    check(repalign_mutual_knn(&m, &m, 1, &opts, &score) == REPALIGN_STATUS_OK && score == 1.0,
          "mutual_knn of a matrix with itself is 1");
    check(repalign_knn_graph(&m, 4, nullptr, indices.data(), indices.size(), nullptr, 0, nullptr) ==
              REPALIGN_STATUS_INVALID_K,
          "k = N -> INVALID_K");
    check(std::strstr(repalign_last_error(), "k = 4") != nullptr, "last_error names k");
    check(std::strcmp(repalign_status_message(REPALIGN_STATUS_INVALID_K), "k is out of range") == 0,
          "status message");

    // The metric descriptor and repalign_score: linear CKA of a matrix with itself is ~1.
    RepalignMetric metric = repalign_metric_default(REPALIGN_METRIC_KIND_CKA);
    metric.kernel = REPALIGN_KERNEL_LINEAR;
    check(repalign_score(&m, &m, &metric, nullptr, &score) == REPALIGN_STATUS_OK && score > 0.999 && score <= 1.0,
          "repalign_score: cka of a matrix with itself is 1");
    check(std::string(repalign_metric_kind_name(metric.kind)) == "cka", "metric kind name");
    metric.kind = REPALIGN_METRIC_KIND_UNBIASED_CKA;
    check(repalign_score(&m, &m, &metric, nullptr, &score) == REPALIGN_STATUS_OK, "unbiased cka with N = 4");

    // The tensor descriptor: the same 8 values as 2 samples x 2 layers x 2 features.
    const RepalignTensor3 tensor{x.data(), REPALIGN_DTYPE_F32, 2, 2, 2, x.size()};
    float prepared[8];
    RepalignStatus prep = repalign_prepare(&tensor, REPALIGN_PREPARE_NORMALIZE, 0.95, prepared, 8, nullptr);
    check(prep == REPALIGN_STATUS_OK, "repalign_prepare of a 2 x 2 x 2 tensor");

    std::printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
