#!/usr/bin/env bash
# Builds the merge kernels' WebAssembly from C (npm run build:kernels). Needs Debian's clang and lld
# (apt-get install -y clang lld). The output is committed, so users never need a compiler; CI
# rebuilds it and checks the committed bytes match (test/kernels-wasm-build.test.ts).
#   -msimd128: 128-bit SIMD; -matomics -mbulk-memory + --shared-memory: the memory is a shared one,
#   only so that growing it leaves the views JavaScript holds intact (each thread owns its instance).
#   -ffp-contract=off: no fused multiply-adds (wasm SIMD has none anyway): results stay bit-exact.
# Usage: build-kernels.sh [OUT.wasm]   (default: merge-kernels.wasm next to this script)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/merge-kernels.wasm}"
clang="${CLANG:-clang}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# Compile from inside the folder with a relative path, so no absolute path reaches the binary.
(cd "$here" && "$clang" --target=wasm32 -O3 -msimd128 -matomics -mbulk-memory -ffp-contract=off -nostdlib \
  -fno-builtin -ffile-prefix-map="$here"=. -c merge-kernels.c -o "$tmp/merge-kernels.o")
"${WASM_LD:-wasm-ld}" --no-entry --import-memory --shared-memory --max-memory=4294967296 \
  --strip-all --export=__heap_base -z stack-size=65536 --global-base=1024 \
  "$tmp/merge-kernels.o" -o "$out"
echo "wrote $out ($(wc -c <"$out") bytes)"
