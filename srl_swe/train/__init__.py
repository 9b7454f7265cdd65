"""Training: the tiny offline default model, step datasets, SFT, step-level evaluation, SRL and RLVR trainers."""


def cuda_available() -> bool:
    """Whether torch sees a CUDA GPU (imports torch only when asked)."""
    import torch

    return torch.cuda.is_available()
