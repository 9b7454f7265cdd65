"""SFT with the shared prompt prefix computed once: the same loss and gradients as TRL's own path, and batches of
one trajectory's steps."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

from srl_swe.tiny_model import build_tiny_model  # noqa: E402
from srl_swe.train.configs import SFTRunConfig  # noqa: E402
from srl_swe.train.shared_prefix import MIN_SHARED_TOKENS, shared_prefix_length, trajectory_batches  # noqa: E402


def test_the_shared_prefix_ends_before_the_position_that_predicts_the_first_label():
    ids = torch.tensor([[1, 2, 3, 4, 5, 6], [1, 2, 3, 9, 9, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0]])
    labels = torch.full_like(ids, -100)
    assert shared_prefix_length(ids, labels, mask) == 3
    labels[1, 3] = 9  # row 1's first label is at 3: position 2 predicts it, so only 0-1 may be shared
    assert shared_prefix_length(ids, labels, mask) == 2
    assert shared_prefix_length(ids[:1], torch.full_like(ids[:1], -100), mask[:1]) == 5  # one token left to run
    padded = torch.tensor([[0, 0, 1, 2], [0, 0, 1, 2]])
    assert shared_prefix_length(padded, torch.full_like(padded, -100), torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])) == 0


def test_trajectory_batches_keep_one_trajectory_each_and_cover_every_step_once():
    ids = ["a"] * 7 + ["b"] * 3 + ["c"] * 9
    batches = trajectory_batches(ids, 4, seed=0, epoch=0)
    assert sorted(i for batch in batches for i in batch) == list(range(len(ids)))
    assert all(len({ids[i] for i in batch}) == 1 and len(batch) <= 4 for batch in batches)
    assert all(batch == list(range(batch[0], batch[0] + len(batch))) for batch in batches)  # consecutive steps
    assert sorted(map(len, batches)) == [1, 3, 3, 4, 4, 4]
    assert batches == trajectory_batches(ids, 4, seed=0, epoch=0)
    assert batches != trajectory_batches(ids, 4, seed=0, epoch=1)


@pytest.fixture(scope="module")
def trainer(tmp_path_factory):
    from srl_swe.train.sft import build_sft_trainer

    root = tmp_path_factory.mktemp("shared")
    tiny = build_tiny_model(root / "tiny")
    config = SFTRunConfig(model=str(tiny), output_dir=str(root / "run"), max_steps=1, max_length=2048, batch_size=4,
                          group_by_trajectory=True)
    return build_sft_trainer(config)[0]


def _close(expected: torch.Tensor, got: torch.Tensor) -> bool:
    """Equal up to float rounding: the two paths sum the same terms in another order."""
    return bool((expected - got).abs().max() <= 1e-5 * expected.abs().max() + 1e-8)


def _loss_and_grads(trainer, inputs, plain: bool):
    model = trainer.model
    model.zero_grad()
    if plain:  # TRL's own compute_loss
        loss = super(type(trainer), trainer).compute_loss(model, dict(inputs), num_items_in_batch=None)
    else:
        loss = trainer.compute_loss(model, dict(inputs))
    loss.backward()
    return loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.fixture(autouse=True)
def share_any_prefix(monkeypatch):
    """Take the shared path for every prefix the tests build (the default skips short ones, for speed only)."""
    from srl_swe.train import shared_prefix

    monkeypatch.setattr(shared_prefix, "MIN_SHARED_FRACTION", 0.0)


def test_the_shared_prefix_path_gives_trls_loss_and_gradients(trainer):
    loader = trainer.get_train_dataloader()
    inputs = next(iter(loader))
    shared = shared_prefix_length(inputs["input_ids"], inputs["labels"], inputs["attention_mask"])
    assert inputs["input_ids"].shape[0] > 1 and shared >= MIN_SHARED_TOKENS
    trainer.model.train()
    plain_loss, plain_grads = _loss_and_grads(trainer, inputs, plain=True)
    shared_loss, shared_grads = _loss_and_grads(trainer, inputs, plain=False)
    assert torch.allclose(plain_loss, shared_loss, rtol=1e-5, atol=1e-6)
    assert plain_grads.keys() == shared_grads.keys()
    for name, grad in plain_grads.items():
        assert _close(grad, shared_grads[name]), name


def test_grouped_batches_hold_consecutive_steps_of_one_trajectory(trainer):
    dataset = trainer.train_dataset
    loader = trainer.get_train_dataloader()
    seen = 0
    for batch in loader.batch_sampler:
        assert len({dataset[i]["trajectory_id"] for i in batch}) == 1
        seen += len(batch)
    assert seen == len(dataset) and len(loader) == len(loader.batch_sampler)


def test_gradient_checkpointing_takes_trls_path(trainer, monkeypatch):
    """Checkpointed layers drop the cache, so the shared path would let the suffix lose the prefix: it is never taken."""
    from srl_swe.train import shared_prefix

    inputs = next(iter(trainer.get_train_dataloader()))
    monkeypatch.setattr(shared_prefix, "suffix_inputs", lambda *a, **k: pytest.fail("the shared path was taken"))
    trainer.model.gradient_checkpointing_enable()
    try:
        trainer.model.train()
        trainer.compute_loss(trainer.model, dict(inputs))
    finally:
        trainer.model.gradient_checkpointing_disable()


@pytest.fixture(scope="module")
def grpo(tmp_path_factory):
    from trl import GRPOConfig

    from srl_swe.train.data import load_data, step_dataset
    from srl_swe.train.dynamic_sampling import DynamicSamplingGRPOTrainer

    root = tmp_path_factory.mktemp("grpo")
    args = GRPOConfig(output_dir=str(root / "run"), per_device_train_batch_size=6, num_generations=3,
                      max_completion_length=8, max_steps=1, report_to="none", bf16=False, remove_unused_columns=False,
                      seed=0, temperature=0.7)
    trainer = DynamicSamplingGRPOTrainer(model=str(build_tiny_model(root / "tiny")), reward_funcs=[lambda completions, **_: [0.0] * len(completions)],
                                         args=args, train_dataset=step_dataset(load_data(None)[:1]))
    trainer.model.train()
    return trainer


def _rollout_batch(vocab: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Two prompts (left-padded to one length) of three rollouts each, completions right-padded."""
    torch.manual_seed(1)
    prompts = [torch.randint(5, vocab, (40,)), torch.randint(5, vocab, (33,))]
    rows, masks = [], []
    for prompt in prompts:
        for length in (8, 5, 2):
            completion = torch.randint(5, vocab, (length,))
            pad_left, pad_right = 40 - len(prompt), 8 - length
            rows.append(torch.cat([torch.zeros(pad_left, dtype=torch.long), prompt, completion,
                                   torch.zeros(pad_right, dtype=torch.long)]))
            masks.append(torch.cat([torch.zeros(pad_left), torch.ones(len(prompt) + length), torch.zeros(pad_right)]))
    return torch.stack(rows), torch.stack(masks).long(), 8


def test_grpo_rollouts_share_their_prompt_and_get_trls_log_probs_and_gradients(grpo):
    from trl import GRPOTrainer

    input_ids, attention_mask, keep = _rollout_batch(grpo.model.config.vocab_size)
    results = []
    for method in (GRPOTrainer._get_per_token_logps_and_entropies, type(grpo)._get_per_token_logps_and_entropies):
        grpo.model.zero_grad()
        logps, entropies, _ = method(grpo, grpo.model, input_ids, attention_mask, keep, compute_entropy=True)
        (logps * attention_mask[:, -keep:]).sum().backward()
        grads = {n: p.grad.clone() for n, p in grpo.model.named_parameters() if p.grad is not None}
        results.append((logps.detach(), entropies.detach(), grads))
    (trl_logps, trl_entropy, trl_grads), (our_logps, our_entropy, our_grads) = results
    assert torch.allclose(trl_logps, our_logps, atol=1e-5)
    assert torch.allclose(trl_entropy, our_entropy, atol=1e-5)
    for name, grad in trl_grads.items():
        assert _close(grad, our_grads[name]), name


def test_rows_without_labels_keep_a_suffix_of_one_token():
    """Dynamic sampling's filler rows: one group's identical rollouts with their loss mask zeroed (seen in the demo)."""
    ids = torch.tensor([[3, 4, 5, 6]] * 3)
    assert shared_prefix_length(ids, torch.full_like(ids, -100), torch.ones_like(ids)) == 3


def test_grpo_filler_groups_without_labels_get_zero_log_probs(grpo):
    input_ids, attention_mask, keep = _rollout_batch(grpo.model.config.vocab_size)
    input_ids[1:3], attention_mask[:3, -keep:] = input_ids[0], 0  # one group: identical rows, completions masked
    logps, _, _ = type(grpo)._get_per_token_logps_and_entropies(grpo, grpo.model, input_ids, attention_mask, keep)
    assert logps.shape == (6, keep) and (logps[:3] == 0).all()


def test_short_shared_prefixes_take_trls_path(monkeypatch):
    from srl_swe.train import shared_prefix

    monkeypatch.setattr(shared_prefix, "MIN_SHARED_FRACTION", 0.5)
    assert not shared_prefix.worth_sharing(130, 900)  # random SFT pairs: the system prompt alone
    assert shared_prefix.worth_sharing(620, 720)  # a GRPO group: the whole prompt
    assert not shared_prefix.worth_sharing(8, 10)  # too few tokens for a second forward call
