"""The process layout training and model preparation share: GPU or not, and accelerate's process state."""


def cuda_available() -> bool:
    """Whether torch sees a CUDA GPU (imports torch only when asked)."""
    import torch

    return torch.cuda.is_available()


def distributed_state():
    """accelerate's process state, CPU-aware: under torchrun without a GPU it is a gloo group, not one process each.

    The state is a singleton, so everything (trainers' `use_cpu` included) must agree on `cpu`.
    """
    from accelerate import PartialState

    return PartialState(cpu=not cuda_available())
