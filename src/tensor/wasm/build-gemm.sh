#!/usr/bin/env bash
# Builds the float64 matrix-product kernel's WebAssembly from C (npm run build:gemm). Needs Debian's
# clang and lld. The output is committed, so users never need a compiler; a test rebuilds it and
# checks the committed bytes match (test/gemm-wasm.test.ts).
#   -msimd128: 128-bit SIMD. -ffp-contract=off: no fused multiply-adds (results stay bit-identical to
#   the JavaScript kernel). The memory is imported and private to one thread (not shared): gemm.ts
#   re-creates its views after every growth.
# Usage: build-gemm.sh [OUT.wasm]   (default: gemm-kernels.wasm next to this script)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/gemm-kernels.wasm}"
clang="${CLANG:-clang}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$here" && "$clang" --target=wasm32 -O3 -msimd128 -ffp-contract=off -nostdlib \
  -fno-builtin -ffile-prefix-map="$here"=. -c gemm-kernels.c -o "$tmp/gemm-kernels.o")
"${WASM_LD:-wasm-ld}" --no-entry --import-memory --max-memory=4294967296 \
  --strip-all --export=__heap_base -z stack-size=65536 --global-base=1024 \
  "$tmp/gemm-kernels.o" -o "$out"
echo "wrote $out ($(wc -c <"$out") bytes)"
