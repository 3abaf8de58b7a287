#!/usr/bin/env bash
# Builds and runs the C and C++ tests of the repalign C ABI against an already built
# librepalign.a / librepalign.so: test_knn.c (kNN graphs, search, merge, mutual kNN),
# test_metrics.c (every metric, preparation, the layer sweep) and test_abi.cpp (C++17:
# every exported function, success and error paths, calls from several threads).
#
#   bash ctests/run.sh [PROFILE_DIR]          # default: target/release
#
# Native mode: first a check that test_abi.cpp names every function librepalign.so
# exports; then each test against the static library, against the shared library, under
# ASan + UBSan (allocations ASan cannot make return NULL, as malloc's do: the tests check
# that the library reports them), and under valgrind memcheck (0 errors, no leak of any kind; the one known
# block of Rust std is suppressed, see valgrind.supp) when valgrind is installed.
#
# Cross mode (RUNNER set): only the C99 tests against the static library, built with $CC
# and run through $RUNNER, e.g.
#   cargo build --release -p repalign-capi --target aarch64-unknown-linux-gnu
#   CC=aarch64-linux-gnu-gcc RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu" \
#     bash ctests/run.sh target/aarch64-unknown-linux-gnu/release
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LIB_DIR="${1:-$ROOT/target/release}"
[[ -d "$LIB_DIR" ]] || { echo "no such directory: $LIB_DIR (build first: cargo build --release -p repalign-capi)" >&2; exit 1; }
LIB_DIR="$(cd "$LIB_DIR" && pwd)"
OUT="$LIB_DIR/ctests"
CC="${CC:-gcc}"
CXX="${CXX:-g++}"
RUNNER="${RUNNER:-}"
CFLAGS=(-std=c99 -Wall -Wextra -Wpedantic -Werror -I"$ROOT/include")
CXXFLAGS=(-std=c++17 -Wall -Wextra -Wpedantic -Werror -pthread -I"$ROOT/include")
LIBS=(-lpthread -ldl -lm)
STATIC="$LIB_DIR/librepalign.a"

[[ -f "$STATIC" ]] || { echo "missing $STATIC: build it first (cargo build --release -p repalign-capi)" >&2; exit 1; }
mkdir -p "$OUT"

# `-L dir -lrepalign` would pick the .so when both exist: the .a is passed by path.
run() {
  local name=$1; shift
  printf '\n=== %s\n' "$name"
  "$@"
}

C_TESTS=(test_knn test_metrics)

if [[ -n "$RUNNER" ]]; then
  for t in "${C_TESTS[@]}"; do
    "$CC" "${CFLAGS[@]}" "$ROOT/ctests/$t.c" "$STATIC" "${LIBS[@]}" -o "$OUT/${t}_static_cross"
  done
  for t in "${C_TESTS[@]}"; do
    # shellcheck disable=SC2086 # RUNNER is a command line with arguments
    run "$t: C99, static library, through $RUNNER" $RUNNER "$OUT/${t}_static_cross"
  done
  exit 0
fi

# Every exported function must be exercised by the C++ test (a new one without a test fails).
missing=()
while read -r sym; do
  grep -q "\b$sym(" "$ROOT/ctests/test_abi.cpp" || missing+=("$sym")
done < <(nm -D --defined-only "$LIB_DIR/librepalign.so" | awk '$2 == "T" && $3 ~ /^repalign_/ { print $3 }')
if ((${#missing[@]})); then
  echo "test_abi.cpp does not call: ${missing[*]}" >&2
  exit 1
fi

SAN=(-g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
SHARED=(-L"$LIB_DIR" -lrepalign -lm -Wl,-rpath,"$LIB_DIR")
TESTS=()
for t in "${C_TESTS[@]}"; do
  "$CC" "${CFLAGS[@]}" "$ROOT/ctests/$t.c" "$STATIC" "${LIBS[@]}" -o "$OUT/${t}_static"
  "$CC" "${CFLAGS[@]}" "$ROOT/ctests/$t.c" "${SHARED[@]}" -o "$OUT/${t}_shared"
  "$CC" "${CFLAGS[@]}" "${SAN[@]}" "$ROOT/ctests/$t.c" "$STATIC" "${LIBS[@]}" -o "$OUT/${t}_asan"
  TESTS+=("$t")
done
"$CXX" "${CXXFLAGS[@]}" "$ROOT/ctests/test_abi.cpp" "$STATIC" "${LIBS[@]}" -o "$OUT/test_abi_static"
"$CXX" "${CXXFLAGS[@]}" "$ROOT/ctests/test_abi.cpp" "${SHARED[@]}" -o "$OUT/test_abi_shared"
"$CXX" "${CXXFLAGS[@]}" "${SAN[@]}" "$ROOT/ctests/test_abi.cpp" "$STATIC" "${LIBS[@]}" -o "$OUT/test_abi_asan"
TESTS+=(test_abi)

# valgrind: any leak kind is an error; valgrind.supp holds the one known block of Rust std.
VALGRIND=(valgrind -q --error-exitcode=1 --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all
  --suppressions="$ROOT/ctests/valgrind.supp")
for t in "${TESTS[@]}"; do
  lang="C99"
  [[ $t == test_abi ]] && lang="C++17"
  run "$t: $lang, static library" "$OUT/${t}_static"
  run "$t: $lang, shared library" "$OUT/${t}_shared"
  run "$t: $lang, static library, ASan + UBSan" \
    env ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$OUT/${t}_asan"
  if command -v valgrind >/dev/null; then
    run "$t: $lang, static library, valgrind memcheck" "${VALGRIND[@]}" "$OUT/${t}_static"
  else
    printf '\n=== valgrind not installed: memcheck of %s skipped\n' "$t"
  fi
done
