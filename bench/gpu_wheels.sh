#!/usr/bin/env bash
# The wheels the lent GPU machines' image lacks (it has torch, torchvision, Lightning, ONNX and
# onnxruntime; not PyAV, simplejpeg or jsonargparse), for its Python 3.12, into .whl/ (ignored
# by git). Run here, where pip reaches the registries; then name .whl in the device run's carry:
#
#   bash bench/gpu_wheels.sh
#   (device) carry [".whl"], command: bash bench/gpu.sh "$OUT"
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl \
    av==18.1.0 simplejpeg==1.9.0 jsonargparse==4.53.0 docstring_parser==0.18.0 typeshed_client==2.15.0
ls -1 .whl
