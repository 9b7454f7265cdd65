"""Our one change to TRL's training forward: the LM head projects only the positions that carry a label, on the CPU too.

TRL 1.16's fused LM head (`trl.trainer.utils.add_fused_lm_head`, used by SFT and GRPO) projects
only the labelled positions through the vocabulary on Triton devices, and every position on
others, so that tile shapes stay fixed for compilers such as Neuron's. On the CPU nothing is
compiled, and projecting the prompt too is pure waste: the prompt is ~85 % of a demo example
(same losses to 1e-7; `benchmarks/bench_shared_prefix.py` times it). The choice is read from
`trl.trainer.utils._use_triton` at call time, and that name is used for nothing else there, so
wrapping it changes this decision alone; the kernel keeps its own choice of CPU or Triton tiles.
"""
from __future__ import annotations

import trl.trainer.utils as trl_utils  # noqa: TID253 - a training module: only the heavy paths import it


def score_labelled_positions_only() -> None:
    """Make the fused LM head score only labelled positions on the CPU as well (idempotent)."""
    decide = trl_utils._use_triton
    if getattr(decide, "labelled_positions_only", False):
        return

    def compact_on_cpu(device) -> bool:
        return device.type == "cpu" or decide(device)

    compact_on_cpu.labelled_positions_only = True
    trl_utils._use_triton = compact_on_cpu
