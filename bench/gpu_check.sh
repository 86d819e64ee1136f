#!/usr/bin/env bash
# GPU check for mediqa-sdk (never run in CI): install the [gpu] extra (onnxruntime-gpu with the CUDA, cuDNN
# and TensorRT wheels of its CUDA version), check the runtime as installed, then measure.
# Results: $OUT/gpu_check.md and .json.
#
#   bash bench/gpu_check.sh                  # on a machine with an NVIDIA GPU
#   bash bench/gpu_check.sh --cpu-dry-run    # anywhere: the same Python code path on CPUExecutionProvider
#
# Environment: PYTHON (default python3), OUT (results folder, default bench/out), WHEELHOUSE (a folder of
# wheels for machines without network: pip then installs with --no-index --find-links; build it on a
# machine with network and the same platform and Python: `pip download ".[gpu]" setuptools wheel
# --extra-index-url https://pypi.nvidia.com -d WHEELHOUSE`, where NVIDIA's index provides the real TensorRT
# wheel instead of PyPI's stub, which downloads it at install time), SECONDS_PER_BATCH.
# Then: python bench/perf.py --gpu-json "$OUT/gpu_check.json" puts the table into docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT_DIR=${OUT:-bench/out}
mkdir -p "$OUT_DIR"
DRY=0
for arg in "$@"; do [ "$arg" = "--cpu-dry-run" ] && DRY=1; done

pip_install() {
  if [ -n "${WHEELHOUSE:-}" ]; then
    "$PY" -m pip install --quiet --no-index --find-links "$WHEELHOUSE" "$@"
  else
    "$PY" -m pip install --quiet "$@"
  fi
}

if [ "$DRY" = 0 ]; then
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  echo "== installing mediqa-sdk with the [gpu] extra" >&2
  pip_install -e ".[gpu]"
fi

# 1. the runtime exactly as installed: nothing preloaded, a fresh process
echo "== as shipped" >&2
"$PY" bench/gpu_check.py --stage shipped --out "$OUT_DIR" "$@" || true

# 2. libraries, providers, placement, agreement with CPU, throughput with IO binding, TensorRT engine cache
echo "== checks and throughput" >&2
"$PY" bench/gpu_check.py --out "$OUT_DIR" --shipped-json "$OUT_DIR/gpu_shipped.json" \
  --seconds "${SECONDS_PER_BATCH:-2}" "$@"
