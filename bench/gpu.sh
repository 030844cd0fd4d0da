#!/usr/bin/env bash
# The GPU benchmark, ready for a lent machine with an accelerator: layers, RNN steps, the
# training feed's CPU and device paths and a short bf16-mixed fit (bench/bench_gpu.py), in
# under 8 minutes. Uses the python that has a CUDA build of torch (PYTHON, else python3), the
# project from this checkout (PYTHONPATH=src), the wheels of .whl/ where bench/gpu_wheels.sh put
# them (what the GPU image lacks: PyAV, simplejpeg, jsonargparse), and writes gpu.json / gpu.md
# to OUT (default bench/results).
#
#   bash bench/gpu.sh            # results in bench/results
#   bash bench/gpu.sh "$OUT"     # results where the device tool collects them
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-bench/results}"
PYTHON="${PYTHON:-python3}"
"$PYTHON" - <<'PY'
import sys
import torch
if not torch.cuda.is_available():
    sys.exit(f"error: torch {torch.__version__} sees no CUDA device; expected a machine with a GPU and a CUDA build of torch")
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}")
PY
nvidia-smi --query-gpu=name,memory.total,utilization.gpu --format=csv,noheader || true
if [ -d .whl ]; then  # the packages the GPU image lacks (bench/gpu_wheels.sh made them here)
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
timeout 470 "$PYTHON" bench/bench_gpu.py --device cuda --out "$OUT"
