"""Training on CPU with the tiny offline model: tokenizer, chat template, split, SFT, resume, step evaluation."""
from __future__ import annotations

import argparse
import json
import shutil
import threading
from pathlib import Path

import pytest

pytest.importorskip("trl")
transformers = pytest.importorskip("transformers")

from srl_swe.actions import parse_action  # noqa: E402
from srl_swe.errors import SRLSweError  # noqa: E402
from srl_swe.rewards import srl_reward  # noqa: E402
from srl_swe.train.data import load_data, sft_dataset, split_by_trajectory, step_dataset  # noqa: E402
from srl_swe.tiny_model import (  # noqa: E402
    IM_END, build_tiny_model, default_corpus, default_tiny_model, train_tokenizer,
)
from srl_swe.trajectory.model import Task, ToolCall, Trajectory, Turn  # noqa: E402

UNSEEN = [
    "def f(x):\r\n\treturn x  **  2   # tabs, CRLF and runs of spaces\n\n\n",
    "Ünïcödé naïve café — “quotes” 🚀 日本語テキスト ÅÅ (NFC vs NFD: \u0041\u030a)",
    "   leading spaces, trailing spaces   ",
    "<function=execute_bash>\n<parameter=command>grep -rn 'foo' /testbed | head -5</parameter>\n</function>",
    "It's we've they'll I'd 12345 3.14159 0xDEADbeef",
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def trajectories() -> list[Trajectory]:
    return load_data(None)


def _trajectory(tid: str, n: int = 2) -> Trajectory:
    turns = [Turn(f"t{i}", ToolCall("execute_bash", {"command": f"echo {i}"}), f"{i}") for i in range(n)]
    return Trajectory(tid, Task(tid, f"issue {tid}"), turns)


# --- tokenizer and chat template -------------------------------------------------------------

def test_tokenizer_ids_survive_save_and_autotokenizer_load(tmp_path):
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    corpus = default_corpus()
    tokenizer = train_tokenizer(corpus, 4096)
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    raw = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert type(reloaded).__name__ == "Qwen2Tokenizer"
    assert len(reloaded) == len(tokenizer)
    for text in corpus[:40] + UNSEEN + ["<|im_start|>user\nhi<|im_end|>\n"]:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert reloaded(text, add_special_tokens=False)["input_ids"] == ids
        assert raw.encode(text, add_special_tokens=False).ids == ids
        assert reloaded.decode(ids) == reloaded.backend_tokenizer.normalizer.normalize_str(text)
    # the BPE learned real merges: the corpus compresses well below one token per byte
    sample = corpus[1]
    assert len(reloaded(sample)["input_ids"]) < len(sample.encode()) / 2.5


def test_tiny_model_files_and_special_tokens(tiny):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny)
    model = AutoModelForCausalLM.from_pretrained(tiny)
    assert model.config.model_type == "qwen2"
    assert model.config.vocab_size == len(tokenizer)
    for token in ("<|im_start|>", "<|im_end|>", "<|endoftext|>"):
        ids = tokenizer(token, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1 and token in tokenizer.all_special_tokens
    assert tokenizer.eos_token == IM_END and model.generation_config.eos_token_id == tokenizer.eos_token_id
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert sum(p.numel() for p in model.parameters()) < 2_000_000


def test_chat_template_masks_exactly_the_assistant_turns(tiny):
    from transformers import AutoTokenizer
    from trl.chat_template_utils import is_chat_template_stop_token_trained

    tokenizer = AutoTokenizer.from_pretrained(tiny)
    messages = [
        {"role": "system", "content": "You are an agent."},
        {"role": "user", "content": "Fix the bug."},
        {"role": "assistant", "content": "<function=finish>\n</function>"},
        {"role": "user", "content": "OBSERVATION:\nok"},
        {"role": "assistant", "content": "<think>\ndone\n</think>\n<function=finish>\n</function>"},
    ]
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    assert text.startswith("<|im_start|>system\nYou are an agent.<|im_end|>\n<|im_start|>user\n")
    assert text.endswith("<|im_start|>assistant\n<think>\ndone\n</think>\n<function=finish>\n</function><|im_end|>\n")
    prompt = tokenizer.apply_chat_template(messages[:4], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("OBSERVATION:\nok<|im_end|>\n<|im_start|>assistant\n") and text.startswith(prompt)

    out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    ids, mask = out["input_ids"], out["assistant_masks"]
    spans, current = [], []
    for token, bit in zip(ids, mask):
        if bit:
            current.append(token)
        elif current:
            spans.append(current)
            current = []
    if current:
        spans.append(current)
    assert [tokenizer.decode(s) for s in spans] == [m["content"] + "<|im_end|>" for m in messages if m["role"] == "assistant"]
    assert is_chat_template_stop_token_trained(tokenizer)


def test_default_tiny_model_is_cached_and_race_safe(monkeypatch, tmp_path):
    monkeypatch.setenv("SRL_SWE_CACHE", str(tmp_path))
    texts = ["tiny corpus for the cache test " * 20, "def add(a, b):\n    return a + b\n"]
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(default_tiny_model(texts=texts, hidden_size=32, num_layers=1)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and results[0] == results[1]
    assert (results[0] / "model.safetensors").is_file() and results[0].parent == tmp_path / "tiny-qwen2"
    assert [p.name for p in results[0].parent.iterdir()] == [results[0].name]  # no staging leftovers
    assert default_tiny_model(texts=texts, hidden_size=32, num_layers=1) == results[0]
    assert default_tiny_model(texts=texts, hidden_size=64, num_layers=1) != results[0]


# --- data ---------------------------------------------------------------------------------------

def test_split_by_trajectory_is_disjoint_reproducible_and_whole():
    trajectories = [_trajectory(f"t{i}") for i in range(10)]
    train, heldout = split_by_trajectory(trajectories, 0.2, seed=0)
    assert len(heldout) == 2 and len(train) == 8
    assert {t.id for t in train}.isdisjoint({t.id for t in heldout})
    assert {t.id for t in train} | {t.id for t in heldout} == {t.id for t in trajectories}
    again = split_by_trajectory(list(reversed(trajectories)), 0.2, seed=0)[1]
    assert {t.id for t in again} == {t.id for t in heldout}  # depends on ids and seed, not on order
    assert len({frozenset(t.id for t in split_by_trajectory(trajectories, 0.2, seed=s)[1]) for s in range(10)}) > 1
    # at least one held out from two, none from one or with fraction 0
    assert [len(x) for x in split_by_trajectory(trajectories[:2], 0.01)] == [1, 1]
    assert [len(x) for x in split_by_trajectory(trajectories[:1], 0.5)] == [1, 0]
    assert [len(x) for x in split_by_trajectory(trajectories, 0.0)] == [10, 0]
    with pytest.raises(ValueError):
        split_by_trajectory(trajectories, 1.0)


def test_split_never_cuts_a_trajectorys_steps(trajectories):
    train, heldout = split_by_trajectory(trajectories, 0.34, seed=3)
    train_rows, heldout_rows = step_dataset(train), step_dataset(heldout)
    assert set(train_rows["trajectory_id"]).isdisjoint(heldout_rows["trajectory_id"])
    total = sum(len(t.actions) for t in trajectories)
    assert len(train_rows) + len(heldout_rows) == total
    for tid in set(heldout_rows["trajectory_id"]):
        trajectory = next(t for t in trajectories if t.id == tid)
        assert sorted(i for i, t in zip(heldout_rows["step_index"], heldout_rows["trajectory_id"]) if t == tid) == \
            list(range(len(trajectory.actions)))


def test_step_and_sft_datasets(trajectories):
    rows = step_dataset(trajectories[:2])
    assert rows.column_names == ["prompt", "expert_action", "expert_completion", "trajectory_id", "step_index", "tool_name"]
    for row in rows:
        assert row["prompt"][0]["role"] == "system" and row["prompt"][-1]["role"] == "user"
        assert srl_reward(row["expert_completion"], row["expert_action"]) == 1.0
        assert parse_action(row["expert_completion"]).call.name == row["tool_name"]
    final = sft_dataset(trajectories[:2])
    assert {"prompt", "completion"} <= set(final.column_names)
    assert final[0]["completion"] == [{"role": "assistant", "content": rows[0]["expert_completion"]}]
    every = sft_dataset(trajectories[:2], loss_on="assistant")
    assert every[3]["messages"] == rows[3]["prompt"] + [{"role": "assistant", "content": rows[3]["expert_completion"]}]
    with pytest.raises(ValueError):
        sft_dataset(trajectories[:1], loss_on="everything")


# --- SFT ----------------------------------------------------------------------------------------

def _read_metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_sft_labels_cover_only_the_expert_completion(tiny, tmp_path):
    from srl_swe.train.sft import SFTRunConfig, build_sft_trainer

    trainer, _ = build_sft_trainer(SFTRunConfig(model=str(tiny), output_dir=str(tmp_path), max_steps=1, max_length=1024))
    example = trainer.train_dataset[0]
    target = [t for t, label in zip(example["input_ids"], example["labels"]) if label != -100]
    expected = step_dataset(split_by_trajectory(load_data(None), 0.2, 0)[0])[0]["expert_completion"]
    # the completion as the chat template writes it (its end token and newline): nothing of the prompt
    assert trainer.processing_class.decode(target) == expected + "<|im_end|>\n"


def test_trainer_args_reach_trls_config_and_override_ours(tiny, tmp_path):
    from srl_swe.train.sft import SFTRunConfig, build_sft_trainer

    config = SFTRunConfig(model=str(tiny), output_dir=str(tmp_path), max_steps=1, max_length=1024,
                          trainer_args={"weight_decay": 0.25, "lr_scheduler_type": "constant"})
    trainer, _ = build_sft_trainer(config)
    assert trainer.args.weight_decay == 0.25 and trainer.args.lr_scheduler_type == "constant"
    assert config.lr_scheduler_type == "cosine"  # the config itself is not changed


def test_train_sft_json_prints_only_the_result(tiny, tmp_path, capsys):
    from srl_swe.cli.train import register

    parser = argparse.ArgumentParser(prog="srl-swe")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["train", "sft", "--model", str(tiny), "--output-dir", str(tmp_path / "run"), "--max-steps", "1",
                              "--max-length", "1024", "--json"])
    args.func(args)
    result = json.loads(capsys.readouterr().out)  # the trainer's own log lines went to stderr
    assert Path(result["final_model"]).is_dir() and Path(result["metrics"]).is_file()


def test_train_sft_flags_default_to_the_config_defaults():
    from srl_swe.cli.train import register
    from srl_swe.train.configs import SFTRunConfig

    parser = argparse.ArgumentParser(prog="srl-swe")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["train", "sft", "--output-dir", "out"])
    defaults = SFTRunConfig()
    assert (args.max_steps, args.lr, args.batch_size, args.grad_accum, args.max_length, args.loss_on, args.lora_r,
            args.lora_alpha, args.save_steps) == (defaults.max_steps, defaults.learning_rate, defaults.batch_size,
                                                  defaults.gradient_accumulation_steps, defaults.max_length, defaults.loss_on,
                                                  defaults.lora_r, defaults.lora_alpha, defaults.save_steps)
    assert (args.context, args.max_observation_chars, args.scaffold) == (defaults.context, defaults.max_observation_chars,
                                                                       defaults.scaffold)


def test_sft_two_steps_then_resume_to_three(tiny, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from srl_swe.train.sft import SFTRunConfig, train_sft

    run = tmp_path / "run"
    config = SFTRunConfig(model=str(tiny), output_dir=str(run), max_steps=2, batch_size=1, max_length=1024,
                          save_steps=1, save_total_limit=None, learning_rate=1e-3)
    final = train_sft(config)
    assert final == run / "final"
    assert AutoModelForCausalLM.from_pretrained(final).config.model_type == "qwen2"
    assert AutoTokenizer.from_pretrained(final).chat_template
    steps = [m for m in _read_metrics(run) if "loss" in m]
    assert [m["step"] for m in steps] == [1, 2] and all(m["loss"] > 0 for m in steps)
    saved = json.loads((run / "config.json").read_text())
    assert saved["max_steps"] == 2 and saved["resolved"]["heldout_trajectories"]
    assert not set(saved["resolved"]["heldout_trajectories"]) & set(saved["resolved"]["train_trajectories"])
    assert {p.name for p in run.glob("checkpoint-*")} == {"checkpoint-1", "checkpoint-2"}
    assert (run / "loss.png").stat().st_size > 0

    with pytest.raises(SRLSweError, match="--resume"):
        train_sft(SFTRunConfig(model=str(tiny), output_dir=str(run), max_steps=3))

    # a crash after a logged but unsaved step 3, killed while logging step 4: the resumed run logs step 3 again, once
    with (run / "metrics.jsonl").open("a") as handle:
        handle.write(json.dumps({"step": 3, "loss": 99.0}) + "\n" + '{"step": 4, "lo')
    shutil.rmtree(run / "checkpoint-2")  # resume picks the latest checkpoint left: 1
    config.max_steps, config.resume = 3, True
    train_sft(config)
    state = json.loads((run / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3
    steps = [m["step"] for m in _read_metrics(run) if "loss" in m]
    assert steps == [1, 2, 3]
    assert 99.0 not in [m.get("loss") for m in _read_metrics(run)]
    assert json.loads((run / "config.json").read_text())["resolved"]["resume_from"].endswith("checkpoint-1")


def test_resume_truncation_drops_a_torn_metrics_line_and_rewrites_atomically(tmp_path, monkeypatch):
    from srl_swe import files
    from srl_swe.train.run_dir import RunDir
    from srl_swe.train.sft import _truncate_metrics

    for truncate in (lambda path, step: RunDir(path.parent).truncate_after(step), _truncate_metrics):
        path = tmp_path / "metrics.jsonl"
        path.write_text("".join(json.dumps({"step": s, "loss": 1.0}) + "\n" for s in (1, 2, 3)) + '{"step": 4, "lo')
        truncate(path, 2)  # a kill mid-append tore step 4's line: no crash on resume
        assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2]
        with monkeypatch.context() as patch:
            patch.setattr(files.os, "replace", lambda *args: (_ for _ in ()).throw(OSError("killed")))
            with pytest.raises(OSError, match="killed"):
                truncate(path, 1)
        assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2]  # never half a file


def test_sft_lora_merges_into_a_plain_model(tiny, tmp_path):
    from transformers import AutoModelForCausalLM

    from srl_swe.train.sft import SFTRunConfig, train_sft

    final = train_sft(SFTRunConfig(model=str(tiny), output_dir=str(tmp_path), max_steps=1, batch_size=1,
                                   max_length=1024, lora_r=4, save_steps=10))
    model = AutoModelForCausalLM.from_pretrained(final)
    assert not any("lora" in name for name, _ in model.named_parameters())
    assert (tmp_path / "metrics.jsonl").read_text().strip()


# --- evaluation and CLI -------------------------------------------------------------------------

def _check_report(report: dict, count: int) -> None:
    assert report["count"] == count and report["split"] == "heldout"
    for key in ("format_rate", "tool_match_rate", "mean_similarity"):
        assert 0.0 <= report[key] <= 1.0
    assert -1.0 <= report["mean_reward"] <= 1.0
    assert sum(t["count"] for t in report["per_tool"].values()) == count
    for stats in report["per_tool"].values():
        assert 0.0 <= stats["format_rate"] <= 1.0 and 0.0 <= stats["tool_match_rate"] <= 1.0
    json.dumps(report)


def test_evaluate_steps_on_the_tiny_model(tiny, trajectories, tmp_path):
    from srl_swe.train.evaluate_steps import evaluate_steps, to_markdown

    report = evaluate_steps(tiny, None, max_new_tokens=8, limit=4, batch_size=2,
                            predictions_path=tmp_path / "p.jsonl", progress=False)
    _check_report(report, 4)
    assert report["expert_over_budget"] == 4  # no expert action fits in 8 tokens
    heldout = {t.id for t in split_by_trajectory(trajectories, 0.2, 0)[1]}
    assert set(report["trajectories"]) <= heldout
    predictions = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert len(predictions) == 4 and all(p["trajectory_id"] in heldout for p in predictions)
    markdown = to_markdown(report)
    assert "| tool | count | mean_reward |" in markdown and "| **all** | **4** |" in markdown
    for tool in report["per_tool"]:
        assert f"| {tool} |" in markdown


def test_cli_eval_steps_writes_reports(tiny, tmp_path, capsys):
    from srl_swe.cli.train import register

    parser = argparse.ArgumentParser(prog="srl-swe")
    train_group = register(parser.add_subparsers(dest="command", required=True))
    assert "sft" in train_group.choices
    out = tmp_path / "eval"
    args = parser.parse_args(["eval", "steps", "--model", str(tiny), "--limit", "2", "--max-new-tokens", "4",
                              "--json", "--out", str(out)])
    args.func(args)
    printed = json.loads(capsys.readouterr().out)
    _check_report(printed, 2)
    assert json.loads((out / "report.json").read_text()) == printed
    assert (out / "report.md").read_text().startswith("## Step evaluation")
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 2
    renamed = parser.parse_args(["score", "steps", "--model", str(tiny)])  # `eval` is the old name of `score`
    assert renamed.func is args.func and renamed.model == str(tiny)
    sft = parser.parse_args(["train", "sft", "--output-dir", str(tmp_path / "r"), "--lora-r", "8", "--resume"])
    assert sft.lora_r == 8 and sft.resume and sft.model == "smollm2-135m" and sft.func.__name__ == "cmd_train_sft"


def test_completions_over_budget_counts_in_tokens(tiny):
    from transformers import AutoTokenizer

    from srl_swe.train.data import completions_over_budget

    tokenizer = AutoTokenizer.from_pretrained(tiny)
    texts = ["short", "a much longer expert completion " * 20, ""]
    lengths = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    assert completions_over_budget(texts, tokenizer, lengths[0]) == {"over": 1, "steps": 3, "longest": lengths[1]}
    assert completions_over_budget(texts, tokenizer, lengths[1])["over"] == 0



def test_a_killed_step_evaluation_resumes_where_it_stopped(tiny, tmp_path, monkeypatch):
    """Completions are saved batch by batch; after a kill (here: an exception after the second batch, and a line
    cut in half) a rerun generates only the steps without a whole saved line, and the file goes at the end."""
    from srl_swe.rollout.policies import TransformersPolicy
    from srl_swe.train.evaluate_steps import evaluate_steps

    kwargs = dict(max_new_tokens=8, limit=6, batch_size=2, predictions_path=tmp_path / "p.jsonl", progress=False,
                  dtype="float32")  # exact greedy answers whatever the batches (see TransformersPolicy)
    whole = evaluate_steps(tiny, None, **{**kwargs, "predictions_path": tmp_path / "whole.jsonl"})
    real = TransformersPolicy.generate
    asked: list[int] = []

    def generate(self, conversations, progress=None, *, done=None, on_batch=None):
        def save(batch):
            on_batch(batch)
            asked.extend(batch)
            if len(asked) == 4:
                raise KeyboardInterrupt
        return real(self, conversations, progress, done=done, on_batch=save)

    monkeypatch.setattr(TransformersPolicy, "generate", generate)
    with pytest.raises(KeyboardInterrupt):
        evaluate_steps(tiny, None, **kwargs)
    partial = tmp_path / "p.jsonl.partial"
    lines = partial.read_text().splitlines()
    assert len(lines) == 1 + 4  # the settings, then one line per step of two batches
    partial.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])  # the kill cut the last line
    asked.clear()
    resumed = evaluate_steps(tiny, None, **kwargs)
    assert len(asked) == 3  # the step whose line was cut, and the two never made
    assert not partial.exists()
    assert resumed["mean_reward"] == whole["mean_reward"] and resumed["count"] == 6
    assert (tmp_path / "p.jsonl").read_text() == (tmp_path / "whole.jsonl").read_text()


def test_saved_completions_of_other_settings_or_weights_are_not_reused(tmp_path):
    from srl_swe.train.evaluate_steps import PartialCompletions, _model_stamp

    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"one")
    path = tmp_path / "p.jsonl.partial"
    settings = {"model": str(model), "weights": _model_stamp(str(model)), "max_new_tokens": 8}
    PartialCompletions(path, settings).resume("greedy")["on_batch"]({0: "a", 1: "b"})
    assert PartialCompletions(path, settings).done["greedy"] == {0: "a", 1: "b"}
    assert not PartialCompletions(path, {**settings, "max_new_tokens": 16}).done["greedy"]
    PartialCompletions(path, settings).resume("greedy")["on_batch"]({0: "a"})
    (model / "model.safetensors").write_bytes(b"retrained")  # same folder, new weights
    assert not PartialCompletions(path, {**settings, "weights": _model_stamp(str(model))}).done["greedy"]
