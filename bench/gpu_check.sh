#!/usr/bin/env bash
# GPU check for mediqa-sdk (never run in CI): install the [gpu] extra, check the runtime as installed,
# then measure with the NVIDIA libraries onnxruntime was built for. Results: $OUT/gpu_check.md and .json.
#
#   bash bench/gpu_check.sh                  # on a machine with an NVIDIA GPU
#   bash bench/gpu_check.sh --cpu-dry-run    # anywhere: the same Python code path on CPUExecutionProvider
#
# Environment: PYTHON (default python3), OUT (results folder, default bench/out), WHEELHOUSE (a folder of
# wheels for machines without network: pip then installs with --no-index --find-links), SECONDS_PER_BATCH.
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

if [ "$DRY" = 0 ]; then
  # 2. the CUDA/cuDNN wheels that match the CUDA major version this onnxruntime-gpu was built with
  #    (its own [cuda,cudnn] extras), so the measurements below run even where the [gpu] extra does not match
  ORT_VERSION=$("$PY" -c "import onnxruntime as o; print(o.__version__)")
  echo "== installing onnxruntime-gpu[cuda,cudnn]==$ORT_VERSION (libraries matching its CUDA build)" >&2
  pip_install "onnxruntime-gpu[cuda,cudnn]==$ORT_VERSION" || echo "could not install the matching libraries" >&2
fi

# 3. providers, placement, agreement with CPU, throughput with IO binding, TensorRT engine cache
echo "== checks and throughput" >&2
"$PY" bench/gpu_check.py --out "$OUT_DIR" --shipped-json "$OUT_DIR/gpu_shipped.json" \
  --seconds "${SECONDS_PER_BATCH:-2}" "$@"
