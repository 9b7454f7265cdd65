"""Training in more than one process (torchrun, gloo on CPU) and the dynamic-sampling rules that make it right."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from srl_swe.models import resolve_model
from srl_swe.steps import StepConfig
from srl_swe.train.data import load_data, select_split, split_by_trajectory, step_dataset
from srl_swe.train.dynamic_sampling import DynamicSamplingGRPOTrainer, RefillSampler

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
WORKER = Path(__file__).parent / "distributed" / "dynamic_sampling_worker.py"
DEADLOCK_GUARD_S = 900  # a deadlocked run never ends; this only keeps CI from hanging


def run_torchrun(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    resolve_model("tiny-random")  # build the cached model once, outside the race
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(TORCHRUN + args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=DEADLOCK_GUARD_S)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc


@pytest.mark.slow
def test_two_ranks_leave_the_refill_loop_together_and_draw_different_prompts(tmp_path):
    """Rank 0's groups are always informative, rank 1's never: rank 1 keeps refilling, rank 0 must follow."""
    run_torchrun([str(WORKER), str(tmp_path)], tmp_path)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2] and [r["global_step"] for r in ranks] == [2, 2]
    assert ranks[0]["steps"] == ranks[1]["steps"]  # the same number of rounds on every rank
    assert all(step["rounds"] == 4 and step["unfilled"] == 4 for step in ranks[0]["steps"])  # rank 1's 4 rows stay empty
    shard = 28 // 2  # 4 trajectories x 7 steps, split over 2 ranks
    first_epoch = [r["drawn"][:shard] for r in ranks]
    assert all(len(set(d)) == shard for d in first_epoch)  # without replacement within an epoch
    assert not set(first_epoch[0]) & set(first_epoch[1])  # each rank its own prompts
    checkpoint = tmp_path / "run" / "checkpoint-1"
    states = [json.loads((checkpoint / f"refill_sampler_{r}.json").read_text()) for r in (0, 1)]
    assert [s["rank"] for s in states] == [0, 1] and all(s["world"] == 2 for s in states)


@pytest.mark.slow
def test_train_srl_runs_to_completion_in_two_cpu_processes(tmp_path):
    out = tmp_path / "run"
    run_torchrun(["-m", "srl_swe.cli", "train", "srl", "--model", "tiny-random", "--max-steps", "2",
                  "--output-dir", str(out), "--set", "num_generations=2", "prompts_per_step=1", "max_completion_length=8",
                  "context=last:0", "max_observation_chars=200", "save_steps=1", "max_refill_rounds=1",
                  "eval_heldout=false"], tmp_path)
    assert (out / "final" / "model.safetensors").is_file()
    assert {p.name for p in (out / "checkpoint-2").glob("refill_sampler_*.json")} == {"refill_sampler_0.json",
                                                                                       "refill_sampler_1.json"}
    assert [r["step"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "reward_mean" in r] == [1, 2]


def test_refill_sampler_is_without_replacement_per_epoch_disjoint_per_rank_and_resumable():
    ranks = [RefillSampler(10, seed=3, rank=r, world=2) for r in (0, 1)]
    first = [s.draw(5) for s in ranks]
    assert sorted(first[0] + first[1]) == list(range(10))
    assert ranks[0].epoch == 1
    epoch_one = ranks[0]._shard()
    assert sorted(ranks[0].draw(5)) == sorted(epoch_one) and epoch_one != first[0]  # a fresh order, again whole
    copy = RefillSampler(10, seed=3, rank=0, world=2)
    copy.load_state_dict(ranks[0].state_dict())
    assert copy.draw(3) == ranks[0].draw(3)
    with pytest.raises(ValueError, match="10 prompts on 2 processes"):
        RefillSampler(12, seed=3, rank=0, world=2).load_state_dict(ranks[0].state_dict())


def informative_then_flat(prompts, completions, trainer_state, **_):
    """Reward spread at step 1, none afterwards."""
    return [float(torch.rand(1)) if trainer_state.global_step == 0 else 0.5 for _ in completions]


def test_a_step_without_informative_groups_does_not_move_the_weights(tmp_path):
    from transformers import TrainerCallback
    from trl import GRPOConfig

    snapshots: list[dict[str, torch.Tensor]] = []

    class Snapshot(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            snapshots.append({k: v.detach().clone() for k, v in model.state_dict().items()})

        def on_step_end(self, args, state, control, model=None, **kwargs):
            snapshots.append({k: v.detach().clone() for k, v in model.state_dict().items()})

    dataset = step_dataset(load_data(None)[:2], StepConfig(context="last:0", max_observation_chars=200))
    args = GRPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, num_generations=2, max_completion_length=4,
                      max_steps=3, learning_rate=1e-2, weight_decay=0.1, report_to="none", bf16=False, use_cpu=True,
                      remove_unused_columns=False, seed=0, save_strategy="no", disable_tqdm=True)
    trainer = DynamicSamplingGRPOTrainer(model=resolve_model("tiny-random"), reward_funcs=[informative_then_flat], args=args,
                                         train_dataset=dataset, max_refill_rounds=1, callbacks=[Snapshot()])
    trainer.train()
    initial, first, second, third = snapshots
    assert any(not torch.equal(initial[k], first[k]) for k in initial)  # the informative step trained
    # AdamW's momentum and weight decay would move every weight in steps 2 and 3; skipped steps move none
    assert all(torch.equal(first[k], second[k]) and torch.equal(second[k], third[k]) for k in first)
    assert trainer.skipped_optimizer_steps == 2


def test_split_seed_fixes_the_heldout_set_and_validation_never_overlaps_it():
    trajectories = load_data(None)
    heldout = {t.id for t in select_split(trajectories, "heldout", 0.2, seed=5)}
    for validation_fraction in (0.0, 0.1, 0.3):
        assert {t.id for t in select_split(trajectories, "heldout", 0.2, 5, validation_fraction)} == heldout
    validation = {t.id for t in select_split(trajectories, "validation", 0.2, 5, 0.1)}
    train = {t.id for t in select_split(trajectories, "train", 0.2, 5, 0.1)}
    assert len(heldout) == 12 and len(validation) == 6 and len(train) == 42
    assert not (heldout & validation) and not (train & (heldout | validation))
    assert {t.id for t in split_by_trajectory(trajectories, 0.2, 5, 0.1)[0]} == train
