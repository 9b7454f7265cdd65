"""Load expert trajectories from files or Hugging Face datasets, and write canonical JSONL.

``load_trajectories(source)`` reads a local ``.json`` (a list of records or one object),
``.jsonl``, ``.parquet`` or SWE-agent ``.traj`` file, a directory of such files (every one
below it), a glob pattern (``"trajectories/me/run/**/*.traj"`` for an SWE-agent output
directory, whose ``preds.json`` is no trajectory), or else a Hugging Face dataset name (``datasets.load_dataset(name, split=split)``). The format of each
file is detected from its first record that some format recognises (``format=`` overrides);
every record is then parsed by that format's parser into a :class:`Trajectory`.

Bad records raise :class:`InvalidRecordError` naming the file, the record index and the
field; with ``skip_invalid=True`` they are collected in :attr:`LoadResult.invalid` and the
other records still load. A ``.json`` file that is not valid JSON as a whole is an error
naming the file, line and column (there is no record to skip). A directory or glob load skips
the files that hold no trajectories, as run directories do (an empty file, ``preds.json``,
``metadata.json``, an evaluation report), and lists them in :attr:`LoadResult.skipped`.
"""
from __future__ import annotations

import glob
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from tqdm.auto import tqdm

from ..data import resolve_dataset
from ..errors import InvalidRecordError, SRLSweError, UnknownFormatError
from ..files import atomic_open
from ..records import decode, parse_json, read_bytes
from ..scaffold import Scaffold, load_scaffold
from . import canonical, function_text, mini_swe_agent, openhands_events, openhands_fc, sharegpt, sweagent, sweagent_backticks
from .common import ParseContext, TrajectoryFormat, json_kind
from .model import Trajectory

#: name -> format, in detection order (the first whose ``detect`` accepts a record wins).
FORMATS: dict[str, TrajectoryFormat] = {
    f.name: f
    for f in (
        canonical.FORMAT,
        mini_swe_agent.FORMAT,  # before openhands_fc: its tool-calling runs have tool_calls too
        openhands_events.FORMAT,
        sweagent.FORMAT,
        sweagent_backticks.FORMAT,
        sharegpt.FORMAT,
        openhands_fc.FORMAT,
        function_text.OPENHANDS_TEXT_FORMAT,
        function_text.SWE_SMITH_TEXT_FORMAT,
    )
}

FILE_SUFFIXES = (".json", ".jsonl", ".parquet", ".traj")


@dataclass(frozen=True)
class SkippedFile:
    """A file of a directory load that holds no trajectories, and why."""

    path: str
    reason: str


@dataclass
class LoadResult:
    """What :func:`load_trajectories` read."""

    trajectories: list[Trajectory]
    invalid: list[InvalidRecordError] = field(default_factory=list)
    """Records skipped with ``skip_invalid=True``, each naming its file, record and field."""
    source: str = ""
    """The source as given (file, directory, glob or dataset name)."""
    format: str = ""
    """The format name; ``mixed:a,b`` when files of a directory differ; ``empty`` when nothing was read."""
    skipped: list[SkippedFile] = field(default_factory=list)
    """Files of a directory or glob load that hold no trajectories (empty, or in no known format)."""

    def __iter__(self) -> Iterator[Trajectory]:
        return iter(self.trajectories)

    def __len__(self) -> int:
        return len(self.trajectories)


def detect_format(record: Any) -> str | None:
    """Name of the first format that recognises this record, or None."""
    if not isinstance(record, dict):
        return None
    for name, fmt in FORMATS.items():
        if fmt.detect(record):
            return name
    return None


# --------------------------------------------------------------------------- reading records


def _json_file(path: Path, display: str) -> tuple[list[Any], bool]:
    """Records of a .json/.traj file, and whether the file is a single object."""
    text = decode(read_bytes(path), display)
    if not text.strip():
        raise InvalidRecordError(display, None, None, "empty file: it holds no JSON")
    data = parse_json(text, display)
    return (data, False) if isinstance(data, list) else ([data], True)


def _jsonl_records(path: Path, display: str) -> Iterator[Any]:
    """One record per non-blank line; a line that is not UTF-8 or not JSON is that record's error, not the file's."""
    index = 0
    with path.open("rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                yield parse_json(decode(raw, display, index), display, index)
            except InvalidRecordError as exc:
                yield InvalidRecordError(display, index, None, f"line {lineno}: {exc.reason}")
            index += 1


def _parquet_records(path: Path, display: str) -> Iterator[Any]:
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow comes with the `train` extra
        raise SRLSweError(f"{display}: reading parquet needs pyarrow (pip install 'srl-swe[train]')") from None
    try:
        parquet = pq.ParquetFile(path)
    except (ValueError, OSError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise InvalidRecordError(display, None, None, f"not a readable parquet file: {exc}") from None
    for batch in parquet.iter_batches(batch_size=256):
        yield from batch.to_pylist()


def _file_records(path: Path, display: str) -> tuple[Iterator[Any], bool]:
    """A file's records, and whether it holds a single object (then named by the file alone)."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _jsonl_records(path, display), False
    if suffix == ".parquet":
        return _parquet_records(path, display), False
    if suffix in (".json", ".traj"):
        records, single = _json_file(path, display)
        return iter(records), single
    raise UnknownFormatError(f"{display}: cannot read files ending in {suffix!r} (known: {', '.join(FILE_SUFFIXES)})")


def _hub_records(name: str, split: str, progress: bool) -> Iterator[Any]:
    try:
        import datasets
    except ImportError:  # pragma: no cover - datasets comes with the `train` extra
        raise SRLSweError(f"{name!r} is not a local file; loading it from the Hugging Face Hub needs `datasets`") from None
    dataset = datasets.load_dataset(name, split=split)
    rows: Iterable[Any] = dataset
    if progress:
        rows = tqdm(dataset, desc=f"parsing {name}", unit="traj")
    return iter(rows)


# --------------------------------------------------------------------------- parsing


def _stem(path: Path) -> str:
    """The file name without its suffix (mini-swe-agent's `<instance_id>.traj.json` without both)."""
    return path.name[: -len(".traj.json")] if path.name.lower().endswith(".traj.json") else path.stem


def _resolve_scaffold(scaffold: Scaffold | str | None) -> Scaffold:
    if isinstance(scaffold, Scaffold):
        return scaffold
    return load_scaffold(scaffold) if scaffold else load_scaffold()


def _parse_records(
    records: Iterator[Any],
    display: str,
    stem: str,
    single: bool,
    fmt_name: str | None,
    scaffold: Scaffold,
    skip_invalid: bool,
    result: LoadResult,
) -> str | None:
    """Parse one file's records into ``result``; return the format used (None if empty)."""
    buffer: list[Any] = []
    if fmt_name is None:
        for record in records:
            buffer.append(record)
            fmt_name = detect_format(record)
            if fmt_name is not None:
                break
        else:
            if not buffer:
                return None
            valid = [r for r in buffer if not isinstance(r, InvalidRecordError)]
            if not valid and not skip_invalid:
                raise buffer[0]
            if not valid:
                result.invalid.extend(buffer)
                return None
            first = valid[0]
            keys = ", ".join(sorted(map(str, first))) if isinstance(first, dict) else f"a JSON {json_kind(first)}"
            raise UnknownFormatError(
                f"{display}: no known trajectory format recognises its records "
                f"(first record: {keys}); known formats: {', '.join(FORMATS)}"
            )
    elif fmt_name not in FORMATS:
        raise UnknownFormatError(f"{display}: unknown format {fmt_name!r}; known formats: {', '.join(FORMATS)}")
    fmt = FORMATS[fmt_name]

    def all_records() -> Iterator[Any]:
        yield from buffer
        yield from records

    for index, record in enumerate(all_records()):
        if isinstance(record, InvalidRecordError):
            error = record
        else:
            default_id = stem if single else f"{stem}-{index}"
            ctx = ParseContext(source=display, index=index, default_id=default_id, scaffold=scaffold)
            try:
                result.trajectories.append(fmt.parse(record, ctx))
                continue
            except InvalidRecordError as exc:
                error = exc
        if not skip_invalid:
            raise error
        result.invalid.append(error)
    return fmt_name


def _load_member(file: Path, fmt_name: str | None, scaffold: Scaffold, skip_invalid: bool, result: LoadResult) -> str | None:
    """One file of a directory load; one that holds no trajectories is skipped and listed, never fatal."""
    if file.stat().st_size == 0:
        result.skipped.append(SkippedFile(str(file), "empty file"))
        return None
    try:
        records, single = _file_records(file, str(file))
        return _parse_records(records, str(file), _stem(file), single, fmt_name, scaffold, skip_invalid, result)
    except UnknownFormatError as exc:  # a predictions file, a report, a config: not trajectories
        result.skipped.append(SkippedFile(str(file), str(exc)))
    except InvalidRecordError as exc:  # the whole file is unreadable (malformed JSON): a bad input, skippable
        if not skip_invalid or exc.record is not None:
            raise
        result.invalid.append(exc)
    return None


def load_trajectories(
    source: str | Path,
    *,
    format: str | None = None,
    skip_invalid: bool = False,
    scaffold: Scaffold | str | None = None,
    split: str = "train",
    progress: bool | None = None,
) -> LoadResult:
    """Read expert trajectories from a file, a directory or glob of files, an embedded dataset
    (``srl-swe:default``, ``srl-swe:synthetic``), or a Hugging Face dataset.

    ``format`` forces one of :data:`FORMATS` (default: detected per file). ``skip_invalid``
    collects bad records in ``LoadResult.invalid`` instead of raising. ``scaffold`` (a
    :class:`Scaffold`, a name under ``agents/`` or a YAML path) maps tool aliases and argument
    types. ``split`` is the Hugging Face split. ``progress`` shows a progress bar (default:
    for Hub datasets only).
    """
    source = resolve_dataset(source)  # `srl-swe:default`, `srl-swe:synthetic`: the embedded datasets
    scaffold_obj = _resolve_scaffold(scaffold)
    if format is not None and format not in FORMATS:
        raise UnknownFormatError(f"{source}: unknown format {format!r}; known formats: {', '.join(FORMATS)}")
    display = str(source)
    result = LoadResult(trajectories=[], invalid=[], source=display, format=format or "")
    path = Path(source)
    used: list[str] = []

    if path.is_dir() or (not path.exists() and any(c in display for c in "*?[")):
        candidates = path.rglob("*") if path.is_dir() else (Path(p) for p in glob.glob(display, recursive=True))
        files = sorted(p for p in candidates if p.is_file() and p.suffix.lower() in FILE_SUFFIXES)
        if not files:
            raise SRLSweError(f"{display}: matches no {', '.join(FILE_SUFFIXES)} files")
        for file in files:
            name = _load_member(file, format, scaffold_obj, skip_invalid, result)
            used += [name] if name else []
    elif path.is_file():
        records, single = _file_records(path, display)
        name = _parse_records(records, display, _stem(path), single, format, scaffold_obj, skip_invalid, result)
        if name is None and not result.invalid:  # a file given by name that holds nothing is a mistake, not 0 rows
            raise InvalidRecordError(display, None, None, "empty file: it holds no records")
        used += [name] if name else []
    elif path.suffix.lower() in FILE_SUFFIXES:
        raise SRLSweError(f"{display}: no such file")
    else:
        records = _hub_records(display, split, progress if progress is not None else True)
        name = _parse_records(records, f"{display}[{split}]", display.replace("/", "__"), False, format, scaffold_obj, skip_invalid, result)
        used += [name] if name else []

    distinct = sorted(set(used))
    result.format = format or (distinct[0] if len(distinct) == 1 else ("mixed:" + ",".join(distinct) if distinct else "empty"))
    return result


def write_jsonl(trajectories: Iterable[Trajectory], path: str | Path) -> None:
    """Write trajectories as canonical JSONL: one ``Trajectory.to_dict()`` per line, replacing ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as handle:
        for trajectory in trajectories:
            handle.write(json.dumps(trajectory.to_dict(), ensure_ascii=False) + "\n")
