#!/usr/bin/env bash
# Builds the float64 matrix-product kernel's WebAssembly from C (npm run build:dense). Needs Debian's
# clang and lld. The output is committed, so users never need a compiler; a test rebuilds it and
# checks the committed bytes match (test/dense-wasm.test.ts).
#   -msimd128: 128-bit SIMD. -ffp-contract=off: no fused multiply-adds (results stay bit-identical to
#   the JavaScript kernel). The memory is imported and private to one thread (not shared): dense-wasm.ts
#   re-creates its views after every growth.
# Usage: build-dense.sh [OUT.wasm]   (default: dense-kernels.wasm next to this script)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/dense-kernels.wasm}"
clang="${CLANG:-clang}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$here" && "$clang" --target=wasm32 -O3 -msimd128 -ffp-contract=off -nostdlib \
  -fno-builtin -ffile-prefix-map="$here"=. -c dense-kernels.c -o "$tmp/dense-kernels.o")
"${WASM_LD:-wasm-ld}" --no-entry --import-memory --max-memory=4294967296 \
  --strip-all --export=__heap_base -z stack-size=65536 --global-base=1024 \
  "$tmp/dense-kernels.o" -o "$out"
echo "wrote $out ($(wc -c <"$out") bytes)"
