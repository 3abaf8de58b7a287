#!/usr/bin/env bash
# Builds the libFuzzer target ctests/fuzz/fuzz_abi.c (clang, -fsanitize=fuzzer,address,
# undefined) against the release static library as cargo built it (no sanitizer in the Rust
# code), replays the known crashes in regressions/, then fuzzes for SECONDS.
#
#   cargo build --release && bash ctests/fuzz/run.sh SECONDS [LIB_DIR]   # CI: 60
#
# Exits non-zero on a crash, a contract violation (the harness aborts), a timeout (10 s per
# input), a leak or an out-of-memory; the input is saved under LIB_DIR/fuzz/artifacts/.
# Inputs found while fuzzing go to LIB_DIR/fuzz/corpus (not committed); corpus/ holds the
# committed seeds, one successful call of each function. To keep a new crash as a
# regression, copy its artifact into regressions/ under a name that says what it was.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DURATION="${1:?usage: $0 SECONDS [LIB_DIR]}"
LIB_DIR="$(cd "${2:-$ROOT/target/release}" && pwd)"
CLANG="${CLANG:-clang}"
WORK="$LIB_DIR/fuzz"
mkdir -p "$WORK/corpus" "$WORK/artifacts"

# A Rust staticlib links into a libFuzzer binary as is: it defines no main and no libFuzzer
# or sanitizer symbols, and its allocations go through the malloc ASan intercepts.
"$CLANG" -std=gnu11 -Wall -Wextra -Werror -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -I"$ROOT/include" "$ROOT/ctests/fuzz/fuzz_abi.c" "$LIB_DIR/librepalign.a" -lpthread -ldl -lm -o "$WORK/fuzz_abi"

for f in "$ROOT"/ctests/fuzz/regressions/*; do
  [[ -f "$f" ]] || continue
  if ! "$WORK/fuzz_abi" "$f" >"$WORK/regression.log" 2>&1; then
    echo "fuzz regression $(basename "$f") fails again:"
    grep -m1 -E 'contract violated|ERROR:|panicked' "$WORK/regression.log" || tail -5 "$WORK/regression.log"
    exit 1
  fi
done
echo "fuzz: $(find "$ROOT/ctests/fuzz/regressions" -type f | wc -l) regression inputs pass"

# -malloc_limit_mb: the huge requests (see fuzz_abi.c) ask for up to 1 PiB, which the
# library must refuse with a status; 2048 MiB still bounds what a call may really hold.
"$WORK/fuzz_abi" -max_total_time="$DURATION" -timeout=10 -max_len=512 -rss_limit_mb=2048 \
  -malloc_limit_mb=2147483647 -print_final_stats=1 \
  -artifact_prefix="$WORK/artifacts/" "$WORK/corpus" "$ROOT/ctests/fuzz/corpus"
