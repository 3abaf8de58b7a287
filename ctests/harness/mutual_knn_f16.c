/*
 * An evaluation harness in C: the mutual-kNN alignment of The Platonic Representation
 * Hypothesis between two float16 feature matrices, through the repalign C ABI.
 *
 * Features of N samples from two models: A is N x 64, B is N x 48, both row-major IEEE
 * binary16 stored as uint16_t bit patterns (what numpy's float16 and torch.half hold).
 * Here B is a noisy linear map of A, so the two agree; a harness would read its own.
 * The paper's metric ranks neighbours by the inner product of L2-normalised rows, which is
 * cosine similarity: no normalised copy is needed.
 *
 *   cc -std=c99 mutual_knn_f16.c $(pkg-config --cflags --libs repalign)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repalign.h"

enum { N = 500, DA = 64, DB = 48, K = 10 };

/* float -> binary16 bits, rounding to nearest even (finite, normal-range inputs). */
static uint16_t f16_bits(float f) {
    uint32_t x, rest, h;
    int32_t exp;
    memcpy(&x, &f, sizeof x);
    exp = (int32_t)((x >> 23) & 0xffu) - 127 + 15;
    if (exp <= 0) return (uint16_t)((x >> 16) & 0x8000u); /* tiny: signed zero */
    h = ((x >> 16) & 0x8000u) | ((uint32_t)exp << 10) | ((x >> 13) & 0x3ffu);
    rest = x & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++; /* may carry into exp */
    return (uint16_t)h;
}

/* A reproducible value in [-1, 1). */
static float uniform(uint32_t *state) {
    *state = *state * 1664525u + 1013904223u;
    return (float)(*state >> 8) / 8388608.0f - 1.0f;
}

int main(void) {
    static uint16_t a[N * DA], b[N * DB];
    static float w[DA * DB], xa[DA];
    uint32_t seed = 42u;
    size_t i, j, d;
    for (i = 0; i < DA * DB; i++) w[i] = uniform(&seed) / 8.0f;
    for (i = 0; i < N; i++) {
        for (d = 0; d < DA; d++) a[i * DA + d] = f16_bits(xa[d] = uniform(&seed));
        for (j = 0; j < DB; j++) { /* b = a W + noise */
            float v = 0.25f * uniform(&seed);
            for (d = 0; d < DA; d++) v += xa[d] * w[d * DB + j];
            b[i * DB + j] = f16_bits(v);
        }
    }

    {
        /* {data, dtype, rows, cols, row_stride, len}: stride and len count elements. */
        RepalignMatrix ma = {a, REPALIGN_DTYPE_F16, N, DA, DA, N * DA};
        RepalignMatrix mb = {b, REPALIGN_DTYPE_F16, N, DB, DB, N * DB};
        RepalignKnnOptions opts = repalign_knn_options_default(); /* all cores, best ISA */
        double score = 0.0;
        RepalignStatus st;
        opts.similarity = REPALIGN_SIMILARITY_COSINE;
        st = repalign_mutual_knn(&ma, &mb, K, &opts, &score);
        if (st != REPALIGN_STATUS_OK) {
            fprintf(stderr, "repalign: %s: %s\n", repalign_status_message(st), repalign_last_error());
            return 1;
        }
        printf("repalign %s: mutual kNN (k = %d, N = %d) = %.4f (chance %.4f)\n", repalign_version(), K, N,
               score, (double)K / (N - 1));
    }
    return 0;
}
