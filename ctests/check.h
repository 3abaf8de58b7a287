/*
 * Shared by the C tests: pass/fail counting and status checks. Header-only; each test
 * program is one translation unit. The program prints "N passed, M failed" at the end.
 */
#ifndef REPALIGN_CTESTS_CHECK_H
#define REPALIGN_CTESTS_CHECK_H

#include <stdio.h>

#include "repalign.h"

static int passed, failed;

static void check(int ok, const char *name) {
    if (ok) {
        passed++;
        printf("ok   %s\n", name);
    } else {
        failed++;
        printf("FAIL %s  (last error: \"%s\")\n", name, repalign_last_error());
    }
}

/* A status check that names the expected and actual codes on failure. */
static void check_status(RepalignStatus got, RepalignStatus want, const char *name) {
    if (got != want) {
        printf("     got %d (%s), want %d (%s)\n", (int)got, repalign_status_message((uint32_t)got), (int)want,
               repalign_status_message((uint32_t)want));
    }
    check(got == want, name);
}

#endif
