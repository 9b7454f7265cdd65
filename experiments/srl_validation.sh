#!/usr/bin/env bash
# SRL from the demo's SFT-60 (make demo first), scored on the VALIDATION split only, one run per setting.
#   experiments/srl_validation.sh OUT "beta=0.0" "beta=0.04"          # benchmarks/RESULTS.md, "SRL with a KL term"
#   experiments/srl_validation.sh OUT "seed=1" "seed=2"               # "SRL from SFT-60 over training seeds"
# Each setting is a space-separated list of `train srl --set` overrides on top of the eighth session's setting
# (lr 1e-5, 2 prompts x 4, scale none, 8 steps, seed 0, beta 0). One line per model goes to OUT/results.txt.
cd "$(dirname "$0")/.."
OUT=${1:?usage: experiments/srl_validation.sh OUT_DIR SETTING...}; shift; mkdir -p "$OUT"
STEP="--context last:1 --max-observation-chars 300 --max-problem-chars 800 --scaffold openhands_compact --heldout-fraction 0.2 --validation-fraction 0.1 --split-seed 0"
SET="context=last:1 max_observation_chars=300 max_problem_chars=800 scaffold=openhands_compact heldout_fraction=0.2 validation_fraction=0.1 split_seed=0 learning_rate=1e-5 prompts_per_step=2 num_generations=4 scale_rewards=none max_refill_rounds=1 max_completion_length=384 gradient_checkpointing=true save_steps=8 seed=0 beta=0.0 eval_heldout=false"
score() { .venv/bin/srl-swe score steps --model "$1" --split validation --max-new-tokens 384 --json $STEP 2>/dev/null | python3 -c "import json,sys; d=json.load(sys.stdin); print('$2', 'reward %+.3f format %.3f tool %.3f n %d elapsed %.0fs' % (d['mean_reward'], d['format_rate'], d['tool_match_rate'], d['count'], d['elapsed_s']))" >> $OUT/results.txt; }
[ -e "$OUT/sft60.done" ] || { score runs/demo/01-sft/final "sft60"; touch "$OUT/sft60.done"; }
for setting in "$@"; do
  name=srl-$(echo "$setting" | tr ' =' '_-')
  out=$OUT/$name
  start=$(date +%s)
  .venv/bin/srl-swe train srl --model runs/demo/01-sft/final --max-steps 8 --output-dir $out --set $SET $setting > $out.log 2>&1
  echo "$name rc=$? train $(( $(date +%s) - start ))s" >> $OUT/results.txt
  score $out/final "$name"
done
echo DONE >> $OUT/results.txt
