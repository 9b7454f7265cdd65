#!/usr/bin/env bash
# The GPU work in two device calls, made back to back while the machine stays warm (each call
# carries at most 64 MiB: torch + transformers are there, trl and its needs come as wheels, and
# the default model's GGUF, 94 MB, comes in two parts).
# Here, once:   bash benchmarks/gpu/fetch_wheels.sh      (fills .whl/, ignored by git)
#               bash benchmarks/gpu/stage_model.sh       (splits the cached GGUF into .gpu/part-aa, -ab)
# Then:
#   bash benchmarks/gpu/run_on_device.sh first     carry [".whl", ".gpu/part-aa"]
#       installs the wheels, keeps the first half of the model, and measures generated tokens/s
#       of our trainer against plain TRL and the speed paths (gpu_check.py; it needs no GGUF:
#       a random Qwen2.5-0.5B-shaped model, so every completion runs to the same length)
#   bash benchmarks/gpu/run_on_device.sh second    carry [".gpu/part-ab"]
#       prepares the default model and runs experiments/srl_comparison.py at a larger budget,
#       one process per seed on the one GPU, tarring what finished into $OUT as it goes.
set -euo pipefail
# The target folder must be named site-packages: dill (datasets' fingerprinting) pickles
# modules found anywhere else by value, which fails on pyarrow's types.
site=/tmp/wheels/site-packages
export PYTHONPATH=$site:$PWD PYTHONUNBUFFERED=1 SRL_SWE_CACHE=/tmp/srl-swe-cache TOKENIZERS_PARALLELISM=false
out=${OUT:-/tmp/gpu-out}
mkdir -p "$out" /tmp/gguf-parts
compare=/tmp/compare

pack() {  # everything but model weights, atomically, so a kill leaves the last whole archive
    tar -czf "$out/compare.tgz.tmp" -C "$compare" --exclude='*.safetensors' --exclude='*.pt' --exclude='*.bin' \
        --exclude='*.pth' --exclude='tokenizer*' . 2>/dev/null && mv "$out/compare.tgz.tmp" "$out/compare.tgz"
}

case "${1:?first|second}" in
    first)
        nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl
        cp .gpu/part-aa /tmp/gguf-parts/
        python3 -c "import torch, transformers, trl, datasets, pyarrow; print('torch', torch.__version__, 'transformers', transformers.__version__, 'trl', trl.__version__, 'datasets', datasets.__version__, 'pyarrow', pyarrow.__version__)"  || true
        python3 benchmarks/gpu/gpu_check.py --shape qwen05b --no-dynamic-sampling --run-timeout "${RUN_TIMEOUT:-90}" --steps "${STEPS:-3}" --warmup 1 --completion-tokens "${TOKENS:-256}" \
            --runs "${RUNS:-plain-trl,ours,ours-gen128,ours-static,ours-cb-graphs}" 2>&1 | tee "$out/gpu_check.log" ;;
    second)
        cp .gpu/part-ab /tmp/gguf-parts/
        cat /tmp/gguf-parts/part-aa /tmp/gguf-parts/part-ab > /tmp/SmolLM2-135M-Instruct.Q4_1.gguf
        python3 -m srl_swe.cli models prepare smollm2-135m --source /tmp/SmolLM2-135M-Instruct.Q4_1.gguf 2>&1 | tail -2
        flags=(--out "$compare" --arms sft sft-srl sft-long --sft-steps "${SFT_STEPS:-40}" --steps "${SRL_STEPS:-8}" --batch 8
               --generations 4 --skip-validation
               --points 1 --eval-batch 96 --machine "1x NVIDIA H200, one process per seed")
        for seed in ${SEEDS:-0 1 2}; do
            python3 experiments/srl_comparison.py "${flags[@]}" --seeds "$seed" > "/tmp/compare-seed$seed.log" 2>&1 &
        done
        while [[ -n "$(jobs -r)" ]]; do sleep 20; cp /tmp/compare-seed*.log "$compare/" 2>/dev/null || true; pack; done
        wait || true
        cp /tmp/compare-seed*.log "$compare/"
        python3 experiments/srl_comparison.py "${flags[@]}" --seeds ${SEEDS:-0 1 2} --summary-only 2>&1 | tail -12
        pack ;;
esac
