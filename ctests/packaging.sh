#!/usr/bin/env bash
# Checks the install step as a harness sees it: installs into a scratch prefix with
# ctests/install.sh, then builds ctests/harness/mutual_knn_f16.c (mutual kNN of two f16
# matrices) four ways and runs each: pkg-config shared and static, CMake find_package
# shared and static. Each must print the same line, name the version pkg-config reports,
# and link the library it asked for.
#
#   bash ctests/packaging.sh [LIB_DIR]      # default: target/release, after cargo build --release
#
# cmake is optional locally (that half is skipped with a notice) and required when CI=true.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LIB_DIR="$(cd "${1:-$ROOT/target/release}" && pwd)"
WORK="$LIB_DIR/packaging"
PREFIX="$WORK/prefix"
HARNESS="$ROOT/ctests/harness"
CC="${CC:-cc}"
rm -rf "$WORK"
mkdir -p "$WORK"

bash "$ROOT/ctests/install.sh" "$PREFIX" "$LIB_DIR"
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
VERSION="$(pkg-config --modversion repalign)"
[[ "$(pkg-config --static --libs repalign)" == *"-lrepalign -lpthread -ldl -lm"* ]] ||
  { echo "repalign.pc: Libs.private missing"; exit 1; }

# name, binary, "shared" | "static"
check() {
  local out
  out="$("$2")"
  printf '%-22s %s\n' "$1:" "$out"
  [[ "$out" == "repalign $VERSION: mutual kNN"* ]] || { echo "FAIL $1: expected repalign $VERSION"; exit 1; }
  if [[ "$3" == shared ]]; then
    readelf -d "$2" | grep -q 'NEEDED.*\[librepalign\.so\]' || { echo "FAIL $1: not linked to librepalign.so"; exit 1; }
  elif readelf -d "$2" | grep -q 'librepalign'; then
    echo "FAIL $1: linked to librepalign.so"
    exit 1
  fi
  echo "$out" >>"$WORK/outputs"
}

CFLAGS=(-std=c99 -Wall -Wextra -Wpedantic -Werror)
# shellcheck disable=SC2046 # pkg-config output is a list of flags
"$CC" "${CFLAGS[@]}" "$HARNESS/mutual_knn_f16.c" $(pkg-config --cflags --libs repalign) \
  -Wl,-rpath,"$(pkg-config --variable=libdir repalign)" -o "$WORK/pc_shared"
# shellcheck disable=SC2046
"$CC" "${CFLAGS[@]}" "$HARNESS/mutual_knn_f16.c" $(pkg-config --cflags --libs repalign-static) -o "$WORK/pc_static"
check "pkg-config, shared" "$WORK/pc_shared" shared
check "pkg-config, static" "$WORK/pc_static" static

if command -v cmake >/dev/null; then
  cmake -S "$HARNESS" -B "$WORK/cmake" -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_C_COMPILER="$CC" \
    -DCMAKE_C_FLAGS="-Wall -Wextra -Wpedantic -Werror" >/dev/null
  cmake --build "$WORK/cmake" >/dev/null
  check "CMake, shared" "$WORK/cmake/mutual_knn_f16" shared
  check "CMake, static" "$WORK/cmake/mutual_knn_f16_static" static
elif [[ "${CI:-}" == true ]]; then
  echo "cmake is not installed (required in CI)"
  exit 1
else
  echo "cmake not installed: find_package check skipped"
fi

[[ "$(sort -u "$WORK/outputs" | wc -l)" == 1 ]] || { echo "FAIL: the builds disagree"; exit 1; }
echo "packaging: $(wc -l <"$WORK/outputs") builds agree"
