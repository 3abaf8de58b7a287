#!/usr/bin/env bash
# Builds and runs the C and C++ tests of the repalign C ABI against an already built
# librepalign.a / librepalign.so.
#
#   bash ctests/run.sh [PROFILE_DIR]          # default: target/release
#
# Native mode: C99 against the static library, C++17 against the static library, C99
# against the shared library, C99 under ASan + UBSan, and C99 under valgrind memcheck when
# valgrind is installed.
#
# Cross mode (RUNNER set): only the C99 test against the static library, built with $CC
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
CXXFLAGS=(-std=c++17 -Wall -Wextra -Wpedantic -Werror -I"$ROOT/include")
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

if [[ -n "$RUNNER" ]]; then
  "$CC" "${CFLAGS[@]}" "$ROOT/ctests/test_knn.c" "$STATIC" "${LIBS[@]}" -o "$OUT/c_static_cross"
  # shellcheck disable=SC2086 # RUNNER is a command line with arguments
  run "C99, static library, through $RUNNER" $RUNNER "$OUT/c_static_cross"
  exit 0
fi

"$CC" "${CFLAGS[@]}" "$ROOT/ctests/test_knn.c" "$STATIC" "${LIBS[@]}" -o "$OUT/c_static"
"$CXX" "${CXXFLAGS[@]}" "$ROOT/ctests/test_knn.cpp" "$STATIC" "${LIBS[@]}" -o "$OUT/cpp_static"
"$CC" "${CFLAGS[@]}" "$ROOT/ctests/test_knn.c" -L"$LIB_DIR" -lrepalign -lm -Wl,-rpath,"$LIB_DIR" -o "$OUT/c_shared"
"$CC" "${CFLAGS[@]}" -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
  "$ROOT/ctests/test_knn.c" "$STATIC" "${LIBS[@]}" -o "$OUT/c_asan"

run "C99, static library" "$OUT/c_static"
run "C++17, static library" "$OUT/cpp_static"
run "C99, shared library" "$OUT/c_shared"
run "C99, static library, ASan + UBSan" \
  env ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$OUT/c_asan"
if command -v valgrind >/dev/null; then
  run "C99, static library, valgrind memcheck" \
    valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite "$OUT/c_static"
else
  printf '\n=== valgrind not installed: memcheck skipped\n'
fi
