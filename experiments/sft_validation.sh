#!/usr/bin/env bash
# SFT with the demo's settings and overrides, scored on the VALIDATION split only (benchmarks/RESULTS.md,
# "SFT on batches of one trajectory"):
#   experiments/sft_validation.sh OUT NAME [KEY=VALUE ...]      # e.g. sft.group_by_trajectory=true
#   experiments/sft_validation.sh OUT NAME --model-dir DIR      # score a model trained elsewhere (e.g. make demo's SFT)
# One line per run goes to OUT/results.txt (train time, then reward, format rate, tool match and scoring time).
cd "$(dirname "$0")/.."
OUT=${1:?usage: experiments/sft_validation.sh OUT_DIR NAME [KEY=VALUE ... | --model-dir DIR]}; NAME=${2:?}; shift 2
mkdir -p "$OUT"
STEP="--context last:1 --max-observation-chars 300 --max-problem-chars 800 --scaffold openhands_compact --heldout-fraction 0.2 --validation-fraction 0.1 --split-seed 0"
if [ "$1" = "--model-dir" ]; then
  MODEL=$2
else
  start=$(date +%s)
  .venv/bin/srl-swe train pipeline sft --config demo --output-dir "$OUT/$NAME" --set eval_heldout=false "$@" > "$OUT/$NAME.log" 2>&1
  echo "$NAME rc=$? train $(( $(date +%s) - start ))s ($*)" >> "$OUT/results.txt"
  MODEL=$OUT/$NAME/01-sft/final
fi
.venv/bin/srl-swe score steps --model "$MODEL" --split validation --max-new-tokens 384 --json $STEP 2>/dev/null | python3 -c "import json,sys; d=json.load(sys.stdin); print('$NAME', 'reward %+.3f format %.3f tool %.3f n %d elapsed %.0fs dtype %s' % (d['mean_reward'], d['format_rate'], d['tool_match_rate'], d['count'], d['elapsed_s'], d.get('dtype')))" >> "$OUT/results.txt"
