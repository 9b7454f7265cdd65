"""The process and precision layout training, evaluation and model preparation share: GPU or not, bf16 or not,
and accelerate's process state."""


def cuda_available() -> bool:
    """Whether torch sees a CUDA GPU (imports torch only when asked)."""
    import torch

    return torch.cuda.is_available()


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX512-BF16 or AMX).

    Elsewhere torch emulates bf16 on the CPU: on an AVX2-only AMD EPYC a bf16 matmul ran at 0.3 GFLOPS against
    84 in fp32, and an SFT step of the demo took minutes instead of ~12 s (benchmarks/RESULTS.md).
    """
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)


def _on_gpu(device: str) -> bool:
    import torch

    return torch.cuda.is_available() if device == "auto" else device.startswith("cuda")


def bf16_is_fast(device: str = "auto") -> bool:
    """The one rule for `auto` precision: bf16 where the hardware computes it natively, fp32 (or fp16) elsewhere.

    `device`: auto (a GPU when torch sees one), cuda[:N] or cpu.
    """
    import torch

    return torch.cuda.is_bf16_supported() if _on_gpu(device) else cpu_has_native_bf16()


def auto_dtype(device: str = "auto") -> str:
    """The torch dtype name `auto` stands for on `device`: bf16 where it is native, fp16 on a GPU without it,
    fp32 on a CPU without it."""
    if bf16_is_fast(device):
        return "bfloat16"
    return "float16" if _on_gpu(device) else "float32"


def distributed_state():
    """accelerate's process state, CPU-aware: under torchrun without a GPU it is a gloo group, not one process each.

    The state is a singleton, so everything (trainers' `use_cpu` included) must agree on `cpu`.
    """
    from accelerate import PartialState

    return PartialState(cpu=not cuda_available())
