#!/usr/bin/env bash
# Builds the kernels' WebAssembly from C (npm run build:kernels). Needs Debian's clang and lld
# (apt-get install -y clang lld). The outputs are committed, so users never need a compiler; CI
# rebuilds them and checks the committed bytes match (test/kernels-wasm-build.test.ts).
#   merge-kernels.wasm: the merge engine's per-element kernels (wasm-kernels.ts).
#     -matomics -mbulk-memory + --shared-memory: the memory is a shared one, only so that growing
#     it leaves the views JavaScript holds intact (each thread owns its instance).
#   forward-kernels.wasm: the dense layers of the scoring forward pass (forward-pass.ts); a plain
#     memory, sized once per data set before any view is taken.
#   -msimd128: 128-bit SIMD. -ffp-contract=off: no fused multiply-adds (wasm SIMD has none anyway):
#   results stay bit-exact.
# Usage: build-kernels.sh [OUT_DIR]   (default: this script's folder)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here}"
clang="${CLANG:-clang}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# Compile from inside the folder with a relative path, so no absolute path reaches the binary.
build() { # NAME EXTRA_CFLAGS EXTRA_LDFLAGS
  (cd "$here" && "$clang" --target=wasm32 -O3 -msimd128 $2 -ffp-contract=off -nostdlib \
    -fno-builtin -ffile-prefix-map="$here"=. -c "$1.c" -o "$tmp/$1.o")
  "${WASM_LD:-wasm-ld}" --no-entry --import-memory $3 --max-memory=4294967296 \
    --strip-all --export=__heap_base -z stack-size=65536 --global-base=1024 \
    "$tmp/$1.o" -o "$out/$1.wasm"
  echo "wrote $out/$1.wasm ($(wc -c <"$out/$1.wasm") bytes)"
}
build merge-kernels "-matomics -mbulk-memory" "--shared-memory"
build forward-kernels "" ""
