#!/usr/bin/env bash
# The GPU work, in steps that fit the device tool's 64 MiB per call (torch + transformers are
# there; trl and its needs come as wheels; the default model's GGUF, 94 MB, comes in 2 parts).
# Here, once:   bash benchmarks/gpu/fetch_wheels.sh      (fills .whl/, ignored by git)
#               bash benchmarks/gpu/stage_model.sh       (splits the cached GGUF into .gpu/part-aa, -ab)
# Then, while the machine stays warm (each step is one device call, carry as listed):
#   bash benchmarks/gpu/run_on_device.sh wheels          carry [".whl"]
#   bash benchmarks/gpu/run_on_device.sh part aa         carry [".gpu/part-aa"]
#   bash benchmarks/gpu/run_on_device.sh part ab         carry [".gpu/part-ab"]   (then prepares the model)
#   bash benchmarks/gpu/run_on_device.sh check           throughput: ours vs plain TRL and the speed paths
#   bash benchmarks/gpu/run_on_device.sh compare         experiments/srl_comparison.py at a larger budget
set -euo pipefail
# The target folder must be named site-packages: dill (datasets' fingerprinting) pickles
# modules found anywhere else by value, which fails on pyarrow's types.
site=/tmp/wheels/site-packages
export PYTHONPATH=$site:$PWD PYTHONUNBUFFERED=1 SRL_SWE_CACHE=/tmp/srl-swe-cache
out=${OUT:-/tmp}
case "${1:?wheels|part NAME|check|compare}" in
    wheels)
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl ;;
    part)
        mkdir -p /tmp/gguf-parts && cp ".gpu/part-$2" /tmp/gguf-parts/
        if [[ -f /tmp/gguf-parts/part-aa && -f /tmp/gguf-parts/part-ab ]]; then
            cat /tmp/gguf-parts/part-* > /tmp/SmolLM2-135M-Instruct.Q4_1.gguf
            python3 -m srl_swe.cli models prepare smollm2-135m --source /tmp/SmolLM2-135M-Instruct.Q4_1.gguf
        fi ;;
    check)
        python3 benchmarks/gpu/gpu_check.py --steps "${STEPS:-16}" --runs "${RUNS:-plain-trl,ours,ours-nods,ours-spg4,ours-static,ours-paged}" \
            2>&1 | tee "$out/gpu_check.log" ;;
    compare)
        python3 experiments/srl_comparison.py --out "$out/compare" --steps "${COMPARE_STEPS:-100}" --batch 8 --generations 8 \
            --arms ${ARMS:-base sft srl sft-srl sft-long} 2>&1 | tee "$out/compare.log" ;;
esac
