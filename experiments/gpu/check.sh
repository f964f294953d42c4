#!/usr/bin/env bash
# One-command GPU check for a machine with an NVIDIA GPU and no network (npm run check:gpu).
#
# Needs: this checkout with node_modules installed, and Node 20. Dawn (the `webgpu` package) reaches
# NVIDIA GPUs through Vulkan, which needs the Vulkan loader (libvulkan.so.1) and the driver's ICD
# file. When the machine has no loader, it is unpacked from Debian packages downloaded beforehand
# on a machine that reaches the package mirror:
#     mkdir -p experiments/gpu/debs && (cd experiments/gpu/debs && apt-get download libvulkan1)
# (or point VULKAN_DEBS at a folder holding libvulkan1_*.deb). NVIDIA's container runtime mounts
# the ICD at /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json; VK_DRIVER_FILES overrides it.
#
# Then: prints the adapter (fails if it is a software one), runs the GPU tests on it, and runs
# npm run bench:gpu (BENCH_ARGS, default: the 1 GB-per-checkpoint family; e.g.
# BENCH_ARGS="--llama 1b --methods ties_elect" for the 3 × 1.1 B bf16 merge), then
# npm run bench:gpu -- --scoring (candidates/s and gradient steps/s, GPU vs CPU).
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! { ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; } && [ -z "${VULKAN_LOADER_DIR:-}" ]; then
  debs="${VULKAN_DEBS:-experiments/gpu/debs}"
  if ! ls "$debs"/libvulkan1_*.deb >/dev/null 2>&1; then
    echo "no Vulkan loader (libvulkan.so.1) installed and no libvulkan1_*.deb in $debs;" >&2
    echo "on a machine with the package mirror: mkdir -p $debs && (cd $debs && apt-get download libvulkan1)" >&2
    exit 1
  fi
  unpack="$(mktemp -d)"
  trap 'rm -rf "$unpack"' EXIT
  for d in "$debs"/*.deb; do dpkg-deb -x "$d" "$unpack"; done
  VULKAN_LOADER_DIR="$(dirname "$(find "$unpack" -name 'libvulkan.so.1*' | head -n 1)")"
  echo "Vulkan loader unpacked from $debs into $VULKAN_LOADER_DIR"
fi
if [ -n "${VULKAN_LOADER_DIR:-}" ]; then export LD_LIBRARY_PATH="$VULKAN_LOADER_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; fi

icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$icd" ]; then export VK_DRIVER_FILES="$icd"; fi
echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-(unset: the default ICD search)}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "nvidia-smi not found"

npx tsx experiments/gpu/adapter.ts --require-hardware
CI=true npx vitest run test/gpu-device.test.ts test/gpu-combine.test.ts test/gpu-merge.test.ts test/gpu-statistics.test.ts test/gpu-scoring.test.ts
# shellcheck disable=SC2086
npm run bench:gpu -- ${BENCH_ARGS:-}
# Scoring and gradient steps on the GPU vs the CPU (builds a tiny mnist8 and a tiny skills4 zoo
# first unless SCORING_BENCH_ARGS names them: --mnist8 DIR --lm DIR).
# shellcheck disable=SC2086
npm run bench:gpu -- --scoring ${SCORING_BENCH_ARGS:-}
