#!/usr/bin/env bash
# Download, on a machine with PyPI access, the wheels bench/gpu.sh installs on the GPU machine (which has no
# network). They go to .whl/ at the repository root, which .git/info/exclude keeps out of git; the device
# call carries it (`carry: [".whl"]`). The GPU image has torch, numpy, pillow, scipy, pandas, pyarrow,
# tokenizers, safetensors, huggingface-hub (1.33) and tqdm; it lacks datasets (+ dill, multiprocess) and
# torch-fidelity, and its transformers (5.17) is older than the one this repository is tested with (5.24).
# About 15 MB. If the image's pyarrow is older than datasets needs, the bench falls back to synthetic
# GQA-shaped requests and says so in its JSON ("requests").
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
PIP="${PIP:-python3 -m pip}"
# Versions as in the development environment (.venv); the GPU image runs Python 3.12.
PACKAGES=(transformers==5.24.0 huggingface_hub==1.33.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19
          torch-fidelity==0.4.0)
$PIP download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "${PACKAGES[@]}"
ls -la .whl
du -sh .whl
