"""Turn classic SWE-bench instances into swebench 5.x rows the harness can evaluate.

::

    from srl_swe.evaluation.convert import convert_instances, load_instances
    rows = convert_instances(load_instances("princeton-nlp/SWE-bench_Verified"))   # or a .jsonl/.json/.parquet
    # each row now also carries image, eval_script, log_parser, eval_type

Classic rows (SWE-bench Verified/Lite/full, the Lite dev split, SWE-Gym-style rows: ``instance_id,
repo, version, base_commit, patch, test_patch, FAIL_TO_PASS, PASS_TO_PASS, ...``) say nothing about
how to test them: swebench 4.x derived that from per-repository tables, which swebench 5.x no
longer ships. This module rebuilds, per instance:

``image``
    the prebuilt instance image, named as its publisher names it:
    ``<namespace>/sweb.eval.x86_64.<instance_id lower-cased>:latest`` with every ``__`` written
    ``_1776_`` (swebench's images, Docker Hub ``swebench/``), or as ``repo_specs.yaml``'s
    ``image_sets`` say for the repository: SWE-Gym's repositories use SWE-Gym's images,
    ``xingyaoww/sweb.eval.x86_64.<id lower-cased, __ written _s_>:latest``. ``namespace``: the
    default, ``"swebench"``, means each repository's own publisher; another namespace (a mirror)
    replaces it and keeps the publisher's ``__`` spelling; ``None`` (or ``""``) gives the name of a
    locally built image, ``__`` kept.
``log_parser``
    the parser swebench itself maps the repository to (``swebench.harness.log_parsers``), as its
    ``PARSER_REGISTRY`` key; ``repo_specs.yaml`` may name another.
``eval_type``
    ``fail_only`` for swebench's ``FAIL_ONLY_REPOS``, else ``pass_and_fail``.
``eval_script``
    the script the 4.x harness generated for the repository and version: activate the conda env
    ``testbed`` in ``/testbed``, the version's environment commands, an informational
    ``git status/show/diff``, the version's re-install command, ``git checkout <base_commit>`` of the
    test files the test_patch changes, the test_patch applied from a heredoc, then the test command
    with the test directives (the files the test_patch touches, in the runner's form: paths for
    pytest/tox/sympy's bin/test, dotted module names for Django's runtests.py; for mypy, as
    SWE-Gym's harness did, one ``-k`` expression ``'<case> or <case> ...'`` of the ``[case ...]``
    names in the test_patch) between the
    ``: '>>>>> Start Test Output'`` and ``: '>>>>> End Test Output'`` markers, then the test files
    reset again. The per-version commands are data: ``repo_specs.yaml`` next to this module.

The script is written by :func:`srl_swe.harness.eval_script` (``:`` markers: see there why).

One deliberate difference from 4.x: when the test_patch only adds new files, 4.x still emitted
``git checkout <base_commit>`` with no paths (a checkout of the whole commit); here the two reset
lines are left out in that case.

Rows that are already 5.x rows (they carry ``image``, ``eval_script``, ``log_parser`` and
``eval_type``) pass through unchanged.
"""
from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..errors import InvalidRecordError, SRLSweError
from ..files import write_atomic
from ..harness import eval_script, reset_test_files
from ..records import AGENT_FIELDS, ROW_FIELDS, check_task_row, check_task_rows, parse_test_names, read_json_records, read_yaml
from ..registry import list_envs, load_env
from ..patches import files_existing_before, touched_files

SPECS_PATH = Path(__file__).with_name("repo_specs.yaml")
DEFAULT_NAMESPACE = "swebench"
DEFAULT_ARCH = "x86_64"
DEFAULT_TAG = "latest"
HARNESS_FIELDS = ("image", "eval_script", "log_parser", "eval_type")
"""The fields a swebench 5.x row carries beyond the classic schema."""
CLASSIC_FIELDS = ("instance_id", "repo", "version", "base_commit", "test_patch", "FAIL_TO_PASS", "PASS_TO_PASS")
"""The classic fields a conversion needs."""
GRADED_FIELDS = ("instance_id", "repo", "FAIL_TO_PASS", "PASS_TO_PASS")
"""The fields grading reads from a 5.x row besides the harness fields."""

REPO_DIR = "/testbed"
CONDA_ENV = "testbed"
DIRECTIVE_STYLES = ("paths", "django_modules", "mypy_cases")
MYPY_CASE = re.compile(r"\[case ([^\]]+)\]")
"""A test case header of mypy's test-data files (``[case testName]``)."""


# --------------------------------------------------------------------------- repository specs


@dataclass(frozen=True)
class VersionSpec:
    """What the eval script runs for one repository version."""

    test_cmd: str
    """The test command; the test directives are appended to it."""
    install: str | None = None
    """Re-install command run before the tests (None: none)."""
    eval_commands: tuple[str, ...] = ()
    """Environment set-up run right after `cd /testbed`."""


@dataclass(frozen=True)
class ImageSet:
    """Who publishes a repository's instance images, and how the names spell ``__``."""

    namespace: str
    double_underscore: str


SWEBENCH_IMAGES = ImageSet(DEFAULT_NAMESPACE, "_1776_")
"""swebench's own images (the images of a repository whose spec names no image set)."""


@dataclass(frozen=True)
class RepoSpec:
    """How one repository is tested, per version."""

    repo: str
    versions: dict[str, VersionSpec] = field(default_factory=dict)
    test_directives: str = "paths"
    """`paths` (test file paths as they are), `django_modules` (dotted module names) or
    `mypy_cases` (a `-k` expression of the `[case ...]` names in the test_patch)."""
    log_parser: str | None = None
    """A PARSER_REGISTRY key overriding swebench's own repo -> parser map."""
    images: ImageSet = SWEBENCH_IMAGES
    """Where the repository's prebuilt instance images are published."""


class RepoSpecs(dict):
    """repo -> RepoSpec, remembering the file it was read from (for error messages)."""

    def __init__(self, specs: Mapping[str, RepoSpec], source: str):
        super().__init__(specs)
        self.source = source


def _spec_error(source: str, where: str, field_name: str | None, reason: str) -> InvalidRecordError:
    return InvalidRecordError(source, where, field_name, reason)


def _parse_specs(data: Any, source: str) -> RepoSpecs:
    if not isinstance(data, dict):
        raise _spec_error(source, None, None, "expected a mapping with test_commands and repositories")
    unknown = set(data) - {"test_commands", "repositories", "image_sets"}
    if unknown:
        raise _spec_error(source, None, sorted(unknown)[0], "unknown top-level key")
    image_sets: dict[str, ImageSet] = {}
    raw_sets = data.get("image_sets") or {}
    if not isinstance(raw_sets, dict):
        raise _spec_error(source, None, "image_sets", "expected a mapping of name -> {namespace, double_underscore}")
    for name, entry in raw_sets.items():
        if (not isinstance(entry, dict) or set(entry) != {"namespace", "double_underscore"}
                or not all(isinstance(v, str) and v.strip() for v in entry.values())):
            raise _spec_error(source, f"image set {name}", None,
                              "expected exactly a non-empty namespace and double_underscore")
        image_sets[name] = ImageSet(entry["namespace"], entry["double_underscore"])
    commands = data.get("test_commands") or {}
    repos = data.get("repositories")
    if not isinstance(commands, dict) or not all(isinstance(v, str) and v.strip() for v in commands.values()):
        raise _spec_error(source, None, "test_commands", "expected a mapping of name -> non-empty command")
    if not isinstance(repos, dict) or not repos:
        raise _spec_error(source, None, "repositories", "expected a non-empty mapping of 'owner/name' -> spec")
    specs: dict[str, RepoSpec] = {}
    for repo, entry in repos.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("groups"), list) or not entry["groups"]:
            raise _spec_error(source, repo, "groups", "expected a non-empty list of version groups")
        unknown = set(entry) - {"groups", "test_directives", "log_parser", "images"}
        if unknown:
            raise _spec_error(source, repo, sorted(unknown)[0], "unknown key")
        images = entry.get("images")
        if images is not None and images not in image_sets:
            raise _spec_error(source, repo, "images", f"{images!r} is not a name under image_sets")
        style = entry.get("test_directives", "paths")
        if style not in DIRECTIVE_STYLES:
            raise _spec_error(source, repo, "test_directives", f"{style!r} is not one of {', '.join(DIRECTIVE_STYLES)}")
        versions: dict[str, VersionSpec] = {}
        for number, group in enumerate(entry["groups"]):
            where = f"{repo} group {number}"
            if not isinstance(group, dict):
                raise _spec_error(source, where, None, "expected a mapping")
            unknown = set(group) - {"versions", "test", "install", "eval_commands"}
            if unknown:
                raise _spec_error(source, where, sorted(unknown)[0], "unknown key")
            names = group.get("versions")
            if not isinstance(names, list) or not names or not all(isinstance(v, str) for v in names):
                raise _spec_error(source, where, "versions", "expected a non-empty list of quoted version strings")
            test = group.get("test")
            if test not in commands:
                raise _spec_error(source, where, "test", f"{test!r} is not a name under test_commands")
            install = group.get("install")
            if install is not None and not (isinstance(install, str) and install.strip()):
                raise _spec_error(source, where, "install", "expected a non-empty command")
            extra = group.get("eval_commands") or []
            if not isinstance(extra, list) or not all(isinstance(c, str) and c.strip() for c in extra):
                raise _spec_error(source, where, "eval_commands", "expected a list of commands")
            spec = VersionSpec(commands[test], install, tuple(extra))
            for version in names:
                if version in versions:
                    raise _spec_error(source, where, "versions", f"version {version!r} is listed twice")
                versions[version] = spec
        specs[repo] = RepoSpec(repo, versions, style, entry.get("log_parser"),
                               image_sets[images] if images is not None else SWEBENCH_IMAGES)
    return RepoSpecs(specs, source)


@lru_cache(maxsize=8)
def _load_specs_cached(path: str, mtime: float) -> RepoSpecs:
    return _parse_specs(read_yaml(path), path)


def load_repo_specs(path: str | Path | None = None) -> RepoSpecs:
    """The repository specs of `path` (default: the packaged repo_specs.yaml), validated."""
    path = Path(path) if path is not None else SPECS_PATH
    if not path.is_file():
        raise SRLSweError(f"{path}: repository spec file not found")
    return _load_specs_cached(str(path.resolve()), path.stat().st_mtime)


# --------------------------------------------------------------------------- pieces of a row


def official_image_name(instance_id: str, namespace: str | None = DEFAULT_NAMESPACE, *,
                        tag: str = DEFAULT_TAG, arch: str = DEFAULT_ARCH,
                        double_underscore: str = SWEBENCH_IMAGES.double_underscore) -> str:
    """The instance image swebench publishes (or, with namespace None, builds locally) for an instance.

    >>> official_image_name("django__django-11099")
    'swebench/sweb.eval.x86_64.django_1776_django-11099:latest'
    >>> official_image_name("getmoto__moto-6387", "xingyaoww", double_underscore="_s_")   # SWE-Gym's
    'xingyaoww/sweb.eval.x86_64.getmoto_s_moto-6387:latest'
    """
    name = f"sweb.eval.{arch}.{instance_id.lower()}:{tag}"
    if not namespace:
        return name
    # Docker Hub repository names may not contain "__": swebench writes it "_1776_", SWE-Gym "_s_".
    return f"{namespace}/{name}".replace("__", double_underscore)


def image_name_for(instance_id: str, repo_spec: RepoSpec, namespace: str | None = DEFAULT_NAMESPACE) -> str:
    """The image of an instance of `repo_spec`'s repository: its publisher's (namespace "swebench",
    the default), a mirror's (another namespace; the publisher's spelling of ``__`` kept), or the
    local build's (None or "")."""
    images = repo_spec.images
    if namespace == DEFAULT_NAMESPACE:
        namespace = images.namespace
    return official_image_name(instance_id, namespace, double_underscore=images.double_underscore)


def _parser_key_for(repo: str) -> str | None:
    from swebench.harness.log_parsers import PARSER_REGISTRY, python, javascript, c, go, java, php, ruby, rust

    maps = (python.MAP_REPO_TO_PARSER_PY, javascript.MAP_REPO_TO_PARSER_JS, c.MAP_REPO_TO_PARSER_C,
            go.MAP_REPO_TO_PARSER_GO, java.MAP_REPO_TO_PARSER_JAVA, php.MAP_REPO_TO_PARSER_PHP,
            ruby.MAP_REPO_TO_PARSER_RUBY, rust.MAP_REPO_TO_PARSER_RUST)
    parser = next((m[repo] for m in maps if repo in m), None)
    if parser is None:
        return None
    keys = [key for key, fn in PARSER_REGISTRY.items() if fn is parser]
    if not keys:
        return None
    # Several keys name one function (parse_log_astroid is parse_log_pytest); prefer the key that
    # names the repository, as the 5.x datasets do, else the function's own name.
    flat = repo.lower().replace("-", "_")
    named = [k for k in keys if k.removeprefix("parse_log_") in flat]
    if named:
        return max(named, key=len)
    return parser.__name__ if parser.__name__ in keys else keys[0]


def log_parser_for(repo: str, specs: Mapping[str, RepoSpec] | None = None) -> str:
    """The PARSER_REGISTRY key grading uses for `repo` (KeyError when neither swebench nor the specs know it)."""
    from swebench.harness.log_parsers import PARSER_REGISTRY

    spec = (specs if specs is not None else load_repo_specs()).get(repo)
    if spec is not None and spec.log_parser:
        if spec.log_parser not in PARSER_REGISTRY:
            raise KeyError(f"log_parser {spec.log_parser!r} of {repo} is not in swebench's PARSER_REGISTRY")
        return spec.log_parser
    key = _parser_key_for(repo)
    if key is None:
        raise KeyError(f"swebench has no log parser for {repo}")
    return key


def eval_type_for(repo: str) -> str:
    """`fail_only` for the repositories swebench grades on failures only, else `pass_and_fail`."""
    from swebench.harness.constants import FAIL_ONLY_REPOS, EvalType

    return (EvalType.FAIL_ONLY if repo in FAIL_ONLY_REPOS else EvalType.PASS_AND_FAIL).value


def test_directives(test_patch: str, style: str = "paths") -> list[str]:
    """The runner arguments for the files a test_patch touches (non-test data files left out).

    ``paths``: the paths as they are (pytest, tox, sympy's bin/test). ``django_modules``: Django's
    runtests.py labels: ``tests/admin_views/tests.py`` -> ``admin_views.tests``. ``mypy_cases``
    (SWE-Gym's harness for python/mypy, whose test command ends in ``-k``): one shell-quoted
    argument, the ``[case NAME]`` names anywhere in the patch joined by `` or `` (``''`` when there
    are none: pytest then selects every test, as SWE-Gym's harness did).
    """
    from swebench.harness.constants import NON_TEST_EXTS

    if style == "mypy_cases":
        return [shlex.quote(" or ".join(MYPY_CASE.findall(test_patch)))]
    paths = touched_files(test_patch)
    paths = [p for p in paths if not any(p.endswith(ext) for ext in NON_TEST_EXTS)]
    if style == "django_modules":
        return [p.removesuffix(".py").removeprefix("tests/").replace("/", ".") for p in paths]
    if style != "paths":
        raise ValueError(f"unknown test directive style {style!r}")
    return paths


def make_eval_script(instance: Mapping[str, Any], spec: VersionSpec, directive_style: str = "paths") -> str:
    """The eval script (bash) for a classic instance, as the 4.x harness wrote it for its repo/version."""
    base = instance["base_commit"]
    test_patch = instance["test_patch"]
    activate = ["source /opt/miniconda3/bin/activate", f"conda activate {CONDA_ENV}"]
    setup = [
        *activate,
        f"cd {REPO_DIR}",
        *spec.eval_commands,
        f"git config --global --add safe.directory {REPO_DIR}",
        f"cd {REPO_DIR}",
        # a record in the log of what is being tested
        "git status",
        "git show",
        f"git -c core.fileMode=false diff {base}",
        *activate,
        *([spec.install] if spec.install else []),
    ]
    test_command = " ".join([spec.test_cmd, *test_directives(test_patch, directive_style)])
    return eval_script(setup, test_command, reset=reset_test_files(base, files_existing_before(test_patch)),
                       test_patch=test_patch)


# --------------------------------------------------------------------------- rows


def is_harness_row(row: Mapping[str, Any]) -> bool:
    """True when `row` already carries every swebench 5.x field (image, eval_script, log_parser, eval_type)."""
    return all(row.get(key) for key in HARNESS_FIELDS)


def to_harness_row(instance: Mapping[str, Any], *, namespace: str | None = DEFAULT_NAMESPACE,
                   specs: Mapping[str, RepoSpec] | None = None, source: str = "<instances>",
                   index: int | None = None) -> dict[str, Any]:
    """One classic instance as a swebench 5.x row (a 5.x row is returned unchanged, as a copy).

    `source` and `index` only name the input in errors. Raises InvalidRecordError for a missing or
    malformed field, an unknown repository or version, a partly converted row.
    """
    record: str | None = None if index is None else str(index)
    if not isinstance(instance, Mapping):
        raise InvalidRecordError(source, record, None, f"expected an object, got {type(instance).__name__}")
    instance_id = instance.get("instance_id")
    if isinstance(instance_id, str) and instance_id:
        record = instance_id if index is None else f"{index} ({instance_id})"
    if is_harness_row(instance):  # graded as it is: a wrong-typed test list would be an "infrastructure error" later
        check_task_row(instance, source, record, GRADED_FIELDS)
        return dict(instance)
    check_task_row(instance, source, record)
    present = [key for key in HARNESS_FIELDS if instance.get(key)]
    if present:
        missing = [key for key in HARNESS_FIELDS if not instance.get(key)]
        raise InvalidRecordError(source, record, missing[0],
                                 f"a partial 5.x row (has {', '.join(present)}; lacks {', '.join(missing)})")
    for key in CLASSIC_FIELDS:
        value = instance.get(key)
        if value is None or (isinstance(value, str) and not value.strip() and key not in ("FAIL_TO_PASS", "PASS_TO_PASS")):
            raise InvalidRecordError(source, record, key, "missing or empty")
    for key in ("instance_id", "repo", "base_commit", "test_patch"):
        if not isinstance(instance[key], str):
            raise InvalidRecordError(source, record, key, f"expected a string, got {type(instance[key]).__name__}")
    repo, version = instance["repo"], instance["version"]
    if not isinstance(version, str):
        version = str(version)
    specs = specs if specs is not None else load_repo_specs()
    spec_file = getattr(specs, "source", "the given repository specs")
    repo_spec = specs.get(repo)
    if repo_spec is None:
        raise InvalidRecordError(source, record, "repo",
                                 f"{repo!r} has no test commands in {spec_file} (known: {', '.join(sorted(specs))})")
    version_spec = repo_spec.versions.get(version)
    if version_spec is None:
        raise InvalidRecordError(source, record, "version",
                                 f"{repo} version {version!r} has no test command in {spec_file} "
                                 f"(known: {', '.join(repo_spec.versions)})")
    try:
        log_parser = log_parser_for(repo, specs)
    except KeyError as exc:
        raise InvalidRecordError(source, record, "repo", exc.args[0]) from exc
    fail_to_pass = parse_test_names(instance["FAIL_TO_PASS"], source, record, "FAIL_TO_PASS")
    pass_to_pass = parse_test_names(instance["PASS_TO_PASS"], source, record, "PASS_TO_PASS")
    if not instance["test_patch"].lstrip().startswith("diff --git"):
        raise InvalidRecordError(source, record, "test_patch", "not a git diff (no 'diff --git' header)")
    if not test_directives(instance["test_patch"], repo_spec.test_directives):
        raise InvalidRecordError(source, record, "test_patch", "touches no test file: nothing to run")
    row = dict(instance)
    row.update(
        version=version,
        FAIL_TO_PASS=fail_to_pass,
        PASS_TO_PASS=pass_to_pass,
        image=image_name_for(instance_id, repo_spec, namespace),
        eval_script=make_eval_script(instance, version_spec, repo_spec.test_directives),
        log_parser=log_parser,
        eval_type=eval_type_for(repo),
    )
    return row


def convert_instances(rows: Iterable[Mapping[str, Any]], *, namespace: str | None = DEFAULT_NAMESPACE,
                      specs: Mapping[str, RepoSpec] | str | Path | None = None,
                      source: str = "<instances>") -> list[dict[str, Any]]:
    """Every row as a swebench 5.x row (see to_harness_row); `specs` may be a spec file path.

    Raises InvalidRecordError naming `source`, the record index and instance_id, and the field.
    """
    if specs is None or isinstance(specs, (str, Path)):
        specs = load_repo_specs(specs)
    out: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for index, row in enumerate(rows):
        converted = to_harness_row(row, namespace=namespace, specs=specs, source=source, index=index)
        instance_id = converted["instance_id"]
        if instance_id in seen:
            raise InvalidRecordError(source, f"{index} ({instance_id})", "instance_id",
                                     f"duplicate of record {seen[instance_id]}")
        seen[instance_id] = index
        out.append(converted)
    return out


# --------------------------------------------------------------------------- loading


def load_task_rows(instances: str | Path | None, envs: Iterable[str] | None, split: str = "test",
                   required: Sequence[str] = AGENT_FIELDS) -> list[dict[str, Any]]:
    """The tasks a command works on (``--instances`` / ``--env``), loaded one way for all of them.

    SWE-bench rows (a .json/.jsonl/.parquet file or a Hugging Face dataset; classic rows are converted
    to 5.x rows where their repository's test commands are known, as `evaluate` does), or the tasks of
    registered environments (all when none are named). Every row is checked as `evaluate` checks it
    (:func:`srl_swe.records.check_task_rows`), and must hold the ``required`` fields.
    """
    if instances:
        rows = []
        for index, row in enumerate(load_instances(instances, split=split, required=required)):
            try:
                rows.append(to_harness_row(row, source=str(instances), index=index))
            except InvalidRecordError:  # no known test command: still fine for modes that read files only
                rows.append(row)
        return rows

    specs = [load_env(n) for n in envs] if envs else list_envs()
    rows = [row for spec in specs for row in check_task_rows(spec.load_tasks(), str(spec.tasks_path), required)]
    return check_task_rows(rows, f"the tasks of {', '.join(spec.name for spec in specs)}", required)


def load_instances(path_or_name: str | Path, *, split: str = "test",
                   required: Sequence[str] = ROW_FIELDS) -> list[dict[str, Any]]:
    """Instances from a local .json (a list), .jsonl or .parquet file, or a Hugging Face dataset name.

    A name that is not an existing file is loaded with ``datasets.load_dataset(name, split=split)``
    (e.g. ``princeton-nlp/SWE-bench_Verified``, ``SWE-bench/SWE-bench_Lite``, ``SWE-Gym/SWE-Gym``).
    Every command reads task rows through here, so each gets the same checks
    (:func:`srl_swe.records.check_task_rows`: field types, the ``required`` fields, unique ids).
    """
    path = Path(path_or_name)
    text_name = str(path_or_name)
    suffix = path.suffix.lower()
    if path.is_file() and suffix in (".json", ".jsonl"):
        rows = read_json_records(path, "instance")
    elif path.is_file() and suffix == ".parquet":
        from datasets import load_dataset

        if not _looks_like_parquet(path):  # datasets would log a traceback of its own before raising
            raise SRLSweError(f"{text_name}: not a readable parquet file (no PAR1 marker at its start and end)")
        try:
            rows = [dict(r) for r in load_dataset("parquet", data_files=str(path), split="train")]
        except Exception as exc:  # noqa: BLE001 - datasets and pyarrow raise many kinds; all mean "cannot read"
            raise SRLSweError(f"{text_name}: not a readable parquet file: {type(exc).__name__}: {_one_line(exc)}") from None
    elif path.exists() or suffix in (".json", ".jsonl", ".parquet"):
        raise SRLSweError(f"{text_name}: not a readable .json/.jsonl/.parquet file")
    else:
        from datasets import load_dataset

        try:
            rows = [dict(r) for r in load_dataset(text_name, split=split)]
        except Exception as exc:  # noqa: BLE001 - datasets raises many kinds; all mean "cannot load"
            raise SRLSweError(f"{text_name}: not a local file, and loading it as a Hugging Face dataset "
                              f"(split {split!r}) failed: {type(exc).__name__}: {_one_line(exc)}") from None
        if not rows:
            raise SRLSweError(f"{text_name}: the Hugging Face dataset's split {split!r} holds no instances")
    check_task_rows(rows, text_name, required)
    return rows


def _looks_like_parquet(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(4)
        handle.seek(0, 2)
        if handle.tell() < 8:
            return False
        handle.seek(-4, 2)
        return head == b"PAR1" and handle.read(4) == b"PAR1"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def convert_file(path_or_name: str | Path, *, namespace: str | None = DEFAULT_NAMESPACE,
                 specs: str | Path | None = None, split: str = "test") -> list[dict[str, Any]]:
    """load_instances + convert_instances, errors naming the file."""
    return convert_instances(load_instances(path_or_name, split=split), namespace=namespace, specs=specs,
                             source=str(path_or_name))


def write_rows(rows: Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    """Rows to a .jsonl (one per line) or .json (a list) file the harness's `-d` option reads."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = list(rows)
    if path.suffix.lower() == ".jsonl":
        write_atomic(path, "".join(json.dumps(r) + "\n" for r in rows))
    else:
        write_atomic(path, json.dumps(rows, indent=1))
    return path
