#!/usr/bin/env bash
# Builds the Cortex-M4F firmware, runs it under qemu-system-arm (the MPS2 AN386 board) and
# prints its JSON line, then the firmware's section sizes and the run time under emulation.
#   bash examples/cortex-m/run.sh           # install what is missing, build, run
#   bash examples/cortex-m/run.sh --check   # also compare with the host library, bit for bit
# Installs what it needs, idempotently: qemu-system-arm (Debian's, via apt-get; run as root
# or with sudo available) and the rustup target thumbv7em-none-eabihf.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

if ! command -v qemu-system-arm >/dev/null; then
  sudo=(); [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends qemu-system-arm >/dev/null
fi
rustup target list --installed | grep -qx thumbv7em-none-eabihf || rustup target add thumbv7em-none-eabihf

# The firmware's own workspace (and .cargo/config.toml: target, linker script); its build
# goes beside the main one's.
target_dir="${CARGO_TARGET_DIR:-$root/target}/cortex-m"
(cd "$here" && cargo build --release --quiet --target-dir "$target_dir")
elf="$target_dir/thumbv7em-none-eabihf/release/repalign-cortex-m"

start=$(date +%s.%N)
rc=0
out=$(timeout 120 qemu-system-arm -M mps2-an386 -cpu cortex-m4 -nographic -monitor none \
  -semihosting-config enable=on,target=native -kernel "$elf") || rc=$?
if ((rc)); then
  printf '%s\n' "$out"; echo "firmware failed: exit status $rc (124: timed out)" >&2; exit 1
fi
end=$(date +%s.%N)
json=$(grep -m1 '^{"n":' <<<"$out") || {
  printf '%s\n' "$out"; echo "the firmware printed no JSON line" >&2; exit 1
}
echo "$json"

sizes=$(size -A "$elf")
section() { awk -v s="$1" '$1 == s { print $2 }' <<<"$sizes"; }
printf 'firmware: .text %s bytes, .rodata %s (the two .npy files included), .bss %s (the 64 KiB heap and the graphs); %.2f s under qemu\n' \
  "$(section .text)" "$(section .rodata)" "$(section .bss)" "$(awk "BEGIN { print $end - $start }")"

if ((check)); then
  # The host test also checks the host's answer on every backend against expected.json.
  rc=0
  log=$(cd "$root" && cargo test -p repalign --quiet --features cli --test edge_host -- --nocapture 2>&1) || rc=$?
  if ((rc)); then
    printf '%s\n' "$log"; echo "the host test failed: exit status $rc" >&2; exit 1
  fi
  # Not anchored: the test harness's progress dots may precede the line.
  host=$(grep -o -m1 'edge-host: {.*}' <<<"$log" | cut -d' ' -f2-) || {
    printf '%s\n' "$log"; echo "the host test printed no edge-host line" >&2; exit 1
  }
  echo "host:     $host"
  python3 - "$json" "$host" <<'PY'
import json, sys
fw, host = (json.loads(s) for s in sys.argv[1:])
# The exact float: the same shortest round-trip decimal on both sides means the same bits.
for key in ["n", "k", "mutual_knn", "graph_a_checksum"]:
    assert fw[key] == host[key], (key, fw[key], host[key])
assert 0 < fw["heap_peak_bytes"] <= 64 * 1024, fw
print("firmware == host: mutual_knn", fw["mutual_knn"], "graph A checksum", fw["graph_a_checksum"],
      "; heap peak", fw["heap_peak_bytes"], "bytes of 65536")
PY
fi
