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
    assert shared_prefix_length(ids[:1], torch.full_like(ids[:1], -100), mask[:1]) == 6
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


def _loss_and_grads(trainer, inputs, plain: bool):
    model = trainer.model
    model.zero_grad()
    if plain:  # TRL's own compute_loss
        loss = super(type(trainer), trainer).compute_loss(model, dict(inputs), num_items_in_batch=None)
    else:
        loss = trainer.compute_loss(model, dict(inputs))
    loss.backward()
    return loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


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
        assert torch.allclose(grad, shared_grads[name], rtol=1e-4, atol=1e-6), name


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
    monkeypatch.setattr(shared_prefix, "shared_prefix_loss", lambda *a, **k: pytest.fail("the shared path was taken"))
    trainer.model.gradient_checkpointing_enable()
    try:
        trainer.model.train()
        trainer.compute_loss(trainer.model, dict(inputs))
    finally:
        trainer.model.gradient_checkpointing_disable()
