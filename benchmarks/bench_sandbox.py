"""Sandbox speed: command round trip through the persistent shell vs `docker exec`, and start-to-ready time.

Needs a Docker daemon and the base image (``bash srl_swe/resources/scripts/ensure_docker.sh``).
Run: ``.venv/bin/python benchmarks/bench_sandbox.py [--starts 7] [--calls 300]``.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from srl_swe.sandbox import DEFAULT_IMAGE, Sandbox, SandboxError  # noqa: E402


def timed(fn, n: int) -> list[float]:
    """Seconds per call of ``fn`` over ``n`` calls (after one warm-up call)."""
    fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:9.2f} {statistics.quantiles(values, n=20)[-1] * 1000:9.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--image", default=DEFAULT_IMAGE)
    parser.add_argument("--starts", type=int, default=7, help="sandboxes to start for the start-to-ready median")
    parser.add_argument("--calls", type=int, default=300, help="commands through the persistent shell")
    parser.add_argument("--exec-calls", type=int, default=40, help="commands through docker exec")
    args = parser.parse_args()

    try:
        starts, closes = [], []
        for _ in range(args.starts):
            t0 = time.perf_counter()
            sb = Sandbox(args.image)
            sb.run("true")
            starts.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            sb.close()
            closes.append(time.perf_counter() - t0)
    except SandboxError as exc:
        print(f"bench_sandbox: {exc}", file=sys.stderr)
        return 2

    rows: list[tuple[str, list[float]]] = []
    with Sandbox(args.image) as sb:
        sb.write_file("/tmp/payload.txt", "x" * 10_000)
        for label, command in (("true", "true"), ("cat 10 KB file", "cat /tmp/payload.txt")):
            shell = timed(lambda c=command: sb.run(c), args.calls)
            execs = timed(lambda c=command: sb.exec(c), args.exec_calls)
            rows += [(f"run  `{label}` (persistent shell)", shell), (f"exec `{label}` (docker exec)", execs)]
        rows.append(("write_file 10 KB (put_archive)", timed(lambda: sb.write_file("/tmp/w.txt", "y" * 10_000), args.exec_calls)))
        rows.append(("read_file 10 KB (get_archive)", timed(lambda: sb.read_file("/tmp/w.txt"), args.exec_calls)))
    rows += [("start to ready (create, start, shells, 1st command)", starts), ("close (remove -f)", closes)]

    print(f"\n{'operation':55} {'median ms':>9} {'p95 ms':>9} {'n':>5}")
    for label, values in rows:
        print(f"{label:55} {ms(values)} {len(values):5d}")
    shell_true = statistics.median(rows[0][1])
    exec_true = statistics.median(rows[1][1])
    ratio = exec_true / shell_true
    print(f"\npersistent shell vs docker exec (`true`): {ratio:.0f}x faster (target >= 5x: {'met' if ratio >= 5 else 'NOT met'})")
    import docker

    server = docker.from_env().version()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"Docker engine {server.get('Version')}, {datetime.date.today().isoformat()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
