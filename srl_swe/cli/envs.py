"""`srl-swe envs …` and `srl-swe images …`: repository environments from the CLI.

::

    srl-swe images build [--env NAME ...] [--tasks] [--rebuild] [--jobs N] [--no-base] [--json]
    srl-swe images list [--json]
    srl-swe envs list [--json]
    srl-swe envs add NAME --pypi NAME==VERSION [--test-command CMD] [--install CMD ...] [--build]
    srl-swe envs build NAME [NAME ...] [--tasks] [--rebuild]
    srl-swe envs validate NAME [--workers N] [--instance-ids ID ...] [--mode M ...] [--json]

:func:`register_list` is called by :func:`srl_swe.cli.build_parser`.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from gymnasium.envs.registration import registry as gym_registry

from ..errors import SRLSweError
from ..image_registry import transfer
from ..images import LABEL_ENV, LABEL_TASK, build_images, docker_client, env_image_status
from ..onboarding import DEFAULT_PYTEST, DEFAULT_TEST_COMMAND, propose_env
from ..registry import EnvSpec, Registry, list_envs, load_env, load_spec_file, parse_env, read_tasks
from ..sandbox.runtime import DEFAULT_IMAGE
from ..tasks.validate import MODES, validate_env
from .options import add_backend_options, add_env_option, add_instance_ids_option, backend_config, instance_ids

DEFAULT_PYTEST_PIN = f"pytest=={DEFAULT_PYTEST}"
"""The pytest pinned by the specs `envs add` writes (and by the shipped envs)."""


# --------------------------------------------------------------------------- shared


def _progress(args: argparse.Namespace):
    if getattr(args, "json", False) or getattr(args, "quiet", False):
        return None
    return lambda line: print(line, file=sys.stderr, flush=True)


def _print_results(results, errors, as_json: bool) -> None:
    """Print the built images (a table, or JSON); then, if any build failed, raise naming how many."""
    if as_json:
        print(json.dumps({"images": [r.to_dict() for r in results], "errors": [str(e) for e in errors]}, indent=2))
    else:
        header = f"{'image':40} {'kind':4} {'build s':>7} {'size MB':>7} {'+MB':>6} {'cached':6} {'base commit':12} " \
                 f"{'passed':>6} {'test s':>6}  test summary"
        if results:
            print(header)
        for r in results:
            print(f"{r.image:40} {r.kind:4} {r.seconds:7.1f} {r.size_mb:7.1f} {r.added_bytes / 1e6:6.1f} "
                  f"{'yes' if r.cached else 'no':6} {r.base_commit[:12]:12} "
                  f"{'' if r.tests_passed is None else r.tests_passed:>6} "
                  f"{'' if r.test_seconds is None else f'{r.test_seconds:.1f}':>6}  {r.test_summary}")
        for error in errors:
            print(f"error: {error}", file=sys.stderr)
    if errors:
        raise SRLSweError(f"{len(errors)} image build(s) failed (see above)")


def _specs(names: list[str] | None):
    if names:
        return [load_env(name) for name in names]
    return list_envs()


# --------------------------------------------------------------------------- images


def cmd_images_build(args: argparse.Namespace) -> None:
    """`images build [--env NAME …]` and `envs build NAME …`: one build, the envs named either way."""
    specs = _specs(getattr(args, "names", None) or args.env)
    if not specs:
        raise SRLSweError("no repository environments registered (envs/*.yaml); add one with `srl-swe envs add`")
    results, errors = build_images(specs, tasks=args.tasks, rebuild=args.rebuild, base=not args.no_base,
                                   jobs=args.jobs, progress=_progress(args))
    _print_results(results, errors, args.json)


def cmd_images_list(args: argparse.Namespace) -> None:
    client = docker_client(timeout=60)
    rows = []
    for image in client.images.list():
        for tag in image.tags:
            if tag.startswith("srl-swe/"):
                labels = image.labels or {}
                rows.append({"image": tag, "id": image.short_id.split(":")[-1], "env": labels.get(LABEL_ENV, ""),
                             "task": labels.get(LABEL_TASK, ""), "size_mb": round(image.attrs.get("Size", 0) / 1e6, 1),
                             "created": image.attrs.get("Created", "")})
    rows.sort(key=lambda r: r["image"])
    if args.json:
        print(json.dumps({"images": rows}, indent=2))
    else:
        for row in rows:
            print(f"{row['image']:48} {row['size_mb']:>8.1f} MB  {row['created'][:19]}")


def cmd_images_transfer(args: argparse.Namespace) -> None:
    """`images push|pull --registry HOST:PORT`: the base, env and (--tasks) task images of the envs named (all)."""
    names = list(args.image or [])
    if args.base:
        names.append(DEFAULT_IMAGE)
    if args.env or not names:
        for spec in _specs(args.env):
            names.append(spec.image)
            if args.tasks and spec.tasks_path.is_file():
                names += [row["image"] for row in read_tasks(spec.tasks_path)]
    push = args.images_command == "push"
    failures = transfer(list(dict.fromkeys(names)), args.registry, docker_client(timeout=600), push=push,
                        progress=_progress(args) or (lambda line: None))
    if args.json:
        print(json.dumps({"registry": args.registry, "images": len(set(names)), "failed": failures}, indent=2))
    for failure in failures:
        print(f"error: {failure}", file=sys.stderr)
    if failures:
        raise SRLSweError(f"{len(failures)} of {len(set(names))} image(s) could not be {'pushed' if push else 'pulled'}")


def add_build_options(build: argparse.ArgumentParser) -> None:
    """The options of `images build` and `envs build` (the same job, named by flag or by argument)."""
    build.add_argument("--tasks", action="store_true", help="also build the task images of each env")
    build.add_argument("--rebuild", action="store_true", help="ignore the layer cache (docker build --no-cache)")
    build.add_argument("--jobs", type=int, default=1, help="task images built at once (default 1)")
    build.add_argument("--no-base", action="store_true", help="do not run srl_swe/resources/scripts/ensure_docker.sh first")
    build.add_argument("--json", action="store_true", help="print {images: [...], errors: [...]} as JSON")


def register_images(subparsers) -> None:
    """Add the `images` command group to the top-level subparsers."""
    images = subparsers.add_parser("images", help="build the Docker images of repository environments and tasks")
    sub = images.add_subparsers(dest="images_command", required=True)
    build = sub.add_parser("build", help="build the base image, env images and (--tasks) task images",
                           description="Builds srl-swe/base:bookworm (srl_swe/resources/scripts/ensure_docker.sh), then "
                                       "srl-swe/env.NAME:latest for each env (docker/env/Dockerfile; the test suite "
                                       "runs at build time), then with --tasks one srl-swe/task.NAME:SUFFIX per row "
                                       "of envs/tasks/NAME.jsonl (docker/task/Dockerfile). Logs: .cache/docker-logs/.")
    add_env_option(build, "only these envs (repeatable; default: all)")
    add_build_options(build)
    build.set_defaults(func=cmd_images_build)
    for verb, what in (("push", "send images to a registry"), ("pull", "fetch images from a registry")):
        transfer_parser = sub.add_parser(verb, help=f"{what} (HOST:PORT), under their own names",
                                         description=f"{what.capitalize()} so that other machines (Ray nodes) can "
                                                     "use them. Default: every registered env's image.")
        transfer_parser.add_argument("--registry", required=True, metavar="HOST:PORT",
                                     help="the registry (plain HTTP only on loopback; elsewhere TLS or the daemon's "
                                          "insecure-registries)")
        add_env_option(transfer_parser, "only these envs (repeatable; default: all)")
        transfer_parser.add_argument("--tasks", action="store_true", help="also the task images of each env")
        transfer_parser.add_argument("--base", action="store_true", help=f"also the base image {DEFAULT_IMAGE}")
        transfer_parser.add_argument("--image", action="append", metavar="NAME", help="this image (repeatable)")
        transfer_parser.add_argument("--json", action="store_true", help="print {registry, images, failed} as JSON")
        transfer_parser.set_defaults(func=cmd_images_transfer)
    listing = sub.add_parser("list", help="list the local srl-swe/* images and their sizes")
    listing.add_argument("--json", action="store_true", help="print the list as JSON")
    listing.set_defaults(func=cmd_images_list)


# --------------------------------------------------------------------------- envs


def repository_envs(*, check_images: bool = True) -> list[dict[str, Any]]:
    """The `repositories` entries of `envs list --json`: name, source, image, image_built, task_count, ..."""
    specs = list_envs()
    client = None
    if check_images and specs:
        try:
            client = docker_client(timeout=10)
        except (SRLSweError, ImportError):
            client = None
    rows = []
    for spec in specs:
        status = {"image_built": False, "image_current": False}
        if client is not None:
            status = env_image_status(spec, client)
        rows.append({"name": spec.name, "source": str(spec.source), "image": spec.image, **status,
                     "task_count": spec.task_count, "tasks_path": str(spec.tasks_path), "python": spec.python,
                     "log_parser": spec.log_parser, "description": spec.description})
    return rows


def print_repository_envs(rows: list[dict[str, Any]]) -> None:
    """Text form of :func:`repository_envs` for `envs list`."""
    for row in rows:
        built = "built" if row["image_built"] else "not built"
        if row["image_built"] and not row["image_current"]:
            built = "stale"
        print(f"{row['name']:24} {row['source']:36} {row['image']:40} {built:9} {row['task_count']:>5} tasks")


def _default_source_files(package: str) -> list[str]:
    module = package.lower().replace("-", "_").replace(".", "_")
    module = module[len("python_"):] if module.startswith("python_") else module
    return [f"{module}/**/*.py", f"src/{module}/**/*.py"]


def _from_pypi(args: argparse.Namespace) -> dict[str, Any]:
    """Spec data for `envs add pypi:NAME[==VERSION]`: detected (onboarding.propose_env), then the flags given."""
    if any(getattr(args, k) for k in ("pypi", "path", "git")):
        raise SRLSweError("`envs add pypi:NAME` takes its source from the name: drop --pypi/--path/--git")
    package, _, version = args.name[len("pypi:"):].partition("==")
    if not package.strip():
        raise SRLSweError("name a package: `srl-swe envs add pypi:NAME` or `pypi:NAME==VERSION`")
    data, found = propose_env(package.strip(), version.strip() or None)
    say = _progress(args) or (lambda line: None)
    say(f"{data['source']['pypi']} (sha256 {found['sha256'][:12]}…): packages {', '.join(found['packages'])}; "
        f"test extra {found['test_extra'] or 'none'}; pytest {found['pytest']}; doctests "
        f"{'on' if found['doctest_modules'] else 'off'}; {found['native_sources']} C/Cython source(s)"
        + (" -> system_packages" if found["native_sources"] else "") + f"; repo {found['repo'] or 'not linked'}")
    if args.sha256 and args.sha256 != data["source"]["sha256"]:
        raise SRLSweError(f"--sha256 {args.sha256} differs from PyPI's {data['source']['sha256']} for {data['source']['pypi']}")
    data["name"] = args.env_name or data["name"]
    given = {"install": args.install, "test_command": args.test_command, "test_files": args.test_files,
             "source_files": args.source_files, "log_parser": args.log_parser, "python": args.python,
             "description": args.description, "repo": args.repo}
    data.update({key: value for key, value in given.items() if value})
    return data


def cmd_envs_add(args: argparse.Namespace) -> None:
    if args.name.startswith("pypi:"):
        _write_spec(args, _from_pypi(args))
        return
    kinds = [k for k in ("pypi", "path", "git") if getattr(args, k)]
    if len(kinds) != 1:
        raise SRLSweError("give exactly one source: pypi:NAME[==VERSION] as the name, or --pypi NAME==VERSION, "
                          "--path DIR or --git URL --ref REF")
    source: dict[str, str] = {kinds[0]: getattr(args, kinds[0])}
    if args.git:
        source["ref"] = args.ref or ""
    if args.sha256:
        source["sha256"] = args.sha256
    package = args.pypi.split("==")[0] if args.pypi else args.name
    data = {
        "name": args.name,
        "description": args.description or "",
        "source": source,
        "python": args.python or "3.11",
        "install": args.install or [f"pip install -e . {DEFAULT_PYTEST_PIN}"],
        "test_command": args.test_command or DEFAULT_TEST_COMMAND,
        "test_files": args.test_files or ["tests/**/*.py", "test/**/*.py", "**/test_*.py"],
        "source_files": args.source_files or _default_source_files(package),
        "log_parser": args.log_parser or "parse_log_pytest",
    }
    if args.repo:
        data["repo"] = args.repo
    _write_spec(args, data)


def _write_spec(args: argparse.Namespace, data: dict[str, Any]) -> None:
    registry = Registry(args.envs_dir)
    where = registry.spec_path(data["name"])
    spec: EnvSpec = parse_env(data, where, expect_name=data["name"])
    path = registry.add(spec, overwrite=args.force)
    if not args.json:
        print(f"wrote {path}; next: `srl-swe envs build {spec.name}`, then `srl-swe tasks synthesize {spec.name}`")
    if args.build:
        results, errors = build_images([load_spec_file(path)], base=True, progress=_progress(args))
        _print_results(results, errors, args.json)
    elif args.json:
        print(json.dumps({"spec": str(path)}, indent=2))


def cmd_envs_validate(args: argparse.Namespace) -> None:
    spec = load_env(args.name)  # a clear error for an unknown env before anything else
    report = validate_env(spec.name, workers=args.workers, instance_ids=instance_ids(args.instance_ids), modes=args.modes or MODES,
                          backend=backend_config(args), progress=lambda line: print(line, file=sys.stderr, flush=True))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        print(f"{spec.name}: {len(report.tasks)} task(s), {'ok' if report.ok else 'FAILED'} in {report.seconds:.0f}s "
              f"(logs: {report.work_dir})")
        for mode, run in report.runs.items():
            print(f"  {mode}: resolved {len(run.resolved)}/{run.total}" + (f", {len(run.mismatches)} mismatch(es)" if run.mismatches else ""))
            for iid, why in run.mismatches.items():
                print(f"    {iid}: {why}")
        for iid, why in report.image_problems.items():
            print(f"  image problem: {iid}: {why}")
    if not report.ok:
        raise SRLSweError(f"validation of {spec.name}'s tasks failed (see the report above)")


def register_envs(envs_subparsers) -> None:
    """Add `add`, `build` and `validate` to the `envs` command group."""
    add = envs_subparsers.add_parser(
        "add", help="register a repository environment (writes envs/NAME.yaml)",
        description="`envs add pypi:NAME[==VERSION]` resolves the release on PyPI, pins its sdist's sha256, reads "
                    "repo and description from the metadata and the test setup from the sdist (test extra, pytest "
                    "configuration and version, doctests, src/ layout, C extensions -> system_packages); flags "
                    "override what it finds. `envs add NAME --pypi|--path|--git ...` writes the flags as given.")
    add.add_argument("name", help="pypi:PACKAGE[==VERSION], or the env name (lower case; names the images srl-swe/env.NAME)")
    add.add_argument("--name", dest="env_name", help="with pypi:PACKAGE: the env name (default: the package's, lower case)")
    src = add.add_argument_group("source (exactly one)")
    src.add_argument("--pypi", metavar="NAME==VERSION", help="a PyPI sdist that includes its tests")
    src.add_argument("--path", metavar="DIR", help="a local directory")
    src.add_argument("--git", metavar="URL", help="a git repository (with --ref)")
    src.add_argument("--ref", help="git tag, branch or commit")
    src.add_argument("--sha256", help="expected sha256 of the sdist (pypi)")
    add.add_argument("--test-command", help=f"runs the suite in /testbed (default: {DEFAULT_TEST_COMMAND})")
    add.add_argument("--install", action="append", metavar="CMD",
                     help=f"install command, repeatable (default: pip install -e . {DEFAULT_PYTEST_PIN})")
    add.add_argument("--test-files", action="append", metavar="GLOB", help="test file glob, repeatable")
    add.add_argument("--source-files", action="append", metavar="GLOB", help="library code glob, repeatable")
    add.add_argument("--log-parser", help="swebench log parser (default: parse_log_pytest)")
    add.add_argument("--python", help="Python version of the env image (default: 3.11)")
    add.add_argument("--description", default="", help="one line shown by `envs list`")
    add.add_argument("--repo", help="upstream owner/name")
    add.add_argument("--envs-dir", default=None, help="registry directory (default: envs/)")
    add.add_argument("--force", action="store_true", help="overwrite an existing spec")
    add.add_argument("--build", action="store_true", help="build the env image right away")
    add.add_argument("--json", action="store_true", help="print {spec} (with --build: the built images) as JSON")
    add.set_defaults(func=cmd_envs_add)

    build = envs_subparsers.add_parser("build", help="build env images (same as `images build --env NAME`)")
    build.add_argument("names", nargs="+", metavar="NAME", help="registered envs to build")
    add_build_options(build)
    build.set_defaults(func=cmd_images_build, env=None)

    validate = envs_subparsers.add_parser("validate", help="run the SWE-bench harness on an env's tasks")
    validate.add_argument("name", help="registered env (envs/NAME.yaml) whose tasks to validate")
    validate.add_argument("--json", action="store_true", help="print the validation report as JSON")
    validate.add_argument("--workers", type=int, default=2, help="harness workers (default 2)")
    add_backend_options(validate)
    add_instance_ids_option(validate, "only these tasks")
    validate.add_argument("--mode", action="append", choices=MODES, dest="modes",
                          help="gold, empty or no-patch (repeatable; default: all three)")
    validate.set_defaults(func=cmd_envs_validate)


def cmd_envs_list(args: argparse.Namespace) -> None:
    envs = [{"id": env_id, "kind": "gymnasium", "entry_point": str(spec.entry_point)}
            for env_id, spec in sorted(gym_registry.items()) if env_id.startswith("srl_swe/")]
    repositories = repository_envs()
    if args.json:
        print(json.dumps({"gymnasium": envs, "repositories": repositories}, indent=2))
        return
    for env in envs:
        print(f"{env['id']:24} {env['entry_point']}")
    print_repository_envs(repositories)


def register_list(sub: argparse._SubParsersAction) -> None:
    """Add the `envs` group (`list`, `add`, `build`, `validate`) and the `images` group."""
    envs = sub.add_parser("envs", help="registered environments").add_subparsers(dest="envs_command", required=True)
    envs_list = envs.add_parser("list", help="list environments")
    envs_list.add_argument("--json", action="store_true", help="print the list as JSON")
    envs_list.set_defaults(func=cmd_envs_list)
    register_envs(envs)
    register_images(sub)
