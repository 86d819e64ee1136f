#!/usr/bin/env bash
# Triton check for mediqa-sdk (never run in CI): export the model repository, serve it with a real Triton
# Inference Server, score the examples through Assessor(engine="triton://...") against the local CPU engine,
# measure latency and throughput for batches of 1..64, stop the server. Results: $OUT/triton_check.md/.json.
#
#   bash bench/triton_check.sh              # where `tritonserver` runs (e.g. inside the NGC container
#                                           # nvcr.io/nvidia/tritonserver:<yy.mm>-py3 on a GPU machine)
#   bash bench/triton_check.sh --fp16       # the repository with TensorRT FP16 (tolerance 1e-2)
#   bash bench/triton_check.sh --dry-run    # anywhere: the tests' stand-in server on CPU (plumbing only)
#
# Environment: PYTHON (default python3), OUT (default bench/out), TRITONSERVER (default: tritonserver on
# PATH), GRPC_PORT (default 8001), KIND (gpu|cpu, default gpu), WAIT_S (seconds to wait for the server to
# be ready, default 900: the warm-up builds the TensorRT engines), SECONDS_PER_BATCH (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT_DIR=${OUT:-bench/out}
PORT=${GRPC_PORT:-8001}
DRY=0
FP16=()
TOL=1e-4
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY=1 ;;
    --fp16) FP16=(--fp16); TOL=1e-2 ;;
    *) echo "unknown argument: $arg (use --dry-run, --fp16)" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT_DIR"

if ! "$PY" -c "import tritonclient.grpc, mediqa_sdk" 2>/dev/null; then
  echo "== installing mediqa-sdk with the [triton] extra" >&2
  "$PY" -m pip install --quiet -e ".[triton]"
fi

if [ "$DRY" = 1 ]; then
  echo "== dry run: the tests' stand-in server (onnxruntime on this CPU), not Triton" >&2
  exec "$PY" bench/triton_check.py --standin --out "$OUT_DIR" --batches 1,4 --seconds 0.5
fi

SERVER=${TRITONSERVER:-tritonserver}
if ! command -v "$SERVER" >/dev/null 2>&1; then
  echo "error: '$SERVER' not found: run this where Triton Inference Server is installed (e.g. inside" \
    "nvcr.io/nvidia/tritonserver:<yy.mm>-py3) or set TRITONSERVER=/path/to/tritonserver" >&2
  exit 2
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv

REPO_DIR="$OUT_DIR/triton_repository"
echo "== exporting the model repository to $REPO_DIR" >&2
"$PY" -m mediqa_sdk.cli export triton "$REPO_DIR" --force --kind "${KIND:-gpu}" "${FP16[@]}"

LOG="$OUT_DIR/tritonserver.log"
echo "== starting $SERVER (log: $LOG)" >&2
"$SERVER" --model-repository "$(cd "$REPO_DIR" && pwd)" --grpc-port "$PORT" --http-port 0 \
  --metrics-port 0 --log-verbose 0 >"$LOG" 2>&1 &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true' EXIT

echo "== waiting for the server and both models to be ready (up to ${WAIT_S:-900} s)" >&2
"$PY" - "$PORT" "${WAIT_S:-900}" "$SERVER_PID" "$REPO_DIR/mediqa.json" <<'PYEOF'
import json, os, sys, time
import tritonclient.grpc as g
port, limit, pid, manifest = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
with open(manifest) as fh:
    exported = json.load(fh)
names = [exported[task]["model_name"] for task in ("scorer", "classifier")]
client, start = g.InferenceServerClient(f"127.0.0.1:{port}"), time.time()
while time.time() - start < limit:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("error: tritonserver exited; see its log")
    try:
        if client.is_server_ready() and all(client.is_model_ready(n) for n in names):
            print(f"ready after {time.time() - start:.0f} s", file=sys.stderr)
            sys.exit(0)
    except Exception:
        pass
    time.sleep(2)
sys.exit(f"error: not ready after {limit:.0f} s; see the server's log")
PYEOF

echo "== scoring and timing" >&2
"$PY" bench/triton_check.py --url "triton://127.0.0.1:$PORT" --out "$OUT_DIR" --tolerance "$TOL" \
  --seconds "${SECONDS_PER_BATCH:-2}"
