#!/usr/bin/env bash
# Run on the lent GPU machine (torch + transformers present; no trl, no network).
# Prepare here first:  bash benchmarks/gpu/fetch_wheels.sh   (fills .whl/, ignored by git)
# Then call the device tool with carry [".whl"] and command: bash benchmarks/gpu/run_on_device.sh
set -euo pipefail
# The target folder must be named site-packages: dill (datasets' fingerprinting) pickles
# modules found anywhere else by value, which fails on pyarrow's types.
site=/tmp/wheels/site-packages
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl
export PYTHONPATH=$site:$PWD PYTHONUNBUFFERED=1
python3 benchmarks/gpu/gpu_check.py --steps "${STEPS:-24}" --runs "${RUNS:-plain-trl,ours,ours-nods}" 2>&1 | tee "${OUT:-/tmp}/gpu_check.log"
