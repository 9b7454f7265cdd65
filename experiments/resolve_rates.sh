#!/usr/bin/env bash
# Resolve rates of trained models on the 60 registered tasks, in oracle-file and agentic modes:
# each model rolls out (`srl-swe rollout`), the harness grades the predictions (`srl-swe evaluate`),
# and `srl-swe report` writes the model x mode table (OUT/table.md, OUT/table.png).
#   make demo && srl-swe images build --tasks
#   experiments/resolve_rates.sh OUT base=smollm2-135m sft=runs/demo/01-sft/final srl=runs/demo/02-srl/final
# Greedy decoding, the demo's scaffold (openhands_compact) in agentic mode. Resumable: rollout skips
# tasks already in its predictions, and a finished evaluation is not run again.
# Knobs: MODES (default "oracle-file agentic"), MAX_STEPS (agentic tool calls, default 10),
# MAX_NEW_TOKENS (default 512), BATCH (tasks in flight, default 8), LIMIT (at most N tasks per run).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: experiments/resolve_rates.sh OUT_DIR NAME=MODEL...}; shift
mkdir -p "$OUT"
ROWS=$OUT/tasks.jsonl
# the 60 tasks of srl-swe:default's environments, not the whole shipped pool
ENVS=$(.venv/bin/python -c 'from srl_swe.data import DEFAULT_ENVS; print(*DEFAULT_ENVS)')
for env in $ENVS; do cat "srl_swe/resources/envs/tasks/$env.jsonl"; done > "$ROWS.tmp" && mv "$ROWS.tmp" "$ROWS"
LIMIT_FLAGS=()
if [[ -n ${LIMIT:-} ]]; then LIMIT_FLAGS=(--limit "$LIMIT"); fi
for mode in ${MODES:-oracle-file agentic}; do
    for named in "$@"; do
        name=${named%%=*} model=${named#*=} run=$name.$mode
        [[ -e $OUT/$run.evaluated ]] && continue
        start=$(date +%s)
        .venv/bin/srl-swe rollout --model "$model" --model-name "$name" --mode "$mode" --instances "$ROWS" \
            --out "$OUT/$run.jsonl" --batch-size "${BATCH:-8}" --max-new-tokens "${MAX_NEW_TOKENS:-512}" \
            --max-steps "${MAX_STEPS:-10}" --scaffold openhands_compact --max-consecutive-failures 0 "${LIMIT_FLAGS[@]}" \
            > "$OUT/$run.rollout.log" 2>&1
        rolled=$(date +%s)
        .venv/bin/srl-swe evaluate --instances "$ROWS" --predictions "$OUT/$run.jsonl" --run-id "$run" \
            --output-dir "$OUT/eval" --setting "$mode" > "$OUT/$run.evaluate.log" 2>&1
        echo "$run rollout $((rolled - start))s evaluate $(($(date +%s) - rolled))s" >> "$OUT/times.txt"
        touch "$OUT/$run.evaluated"
    done
done
.venv/bin/srl-swe report "$OUT/eval" --out "$OUT" --title "the 60 registered tasks (srl-swe:default)"
