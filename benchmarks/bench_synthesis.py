"""Task synthesis throughput: validated tasks per CPU-hour, whole-suite screening against the line map.

Both runs synthesize from the same env, seed and first N candidates, with one worker (one sandbox
of 1 CPU, so wall time is CPU time) and empty caches: the coverage run pays for measuring its line
map. Prints both rates, their ratio, and whether the two runs kept the same tasks (mutation,
FAIL_TO_PASS and PASS_TO_PASS). Needs a Docker daemon and the env image (`srl-swe envs build NAME`).

Run: ``.venv/bin/python benchmarks/bench_synthesis.py --env more-itertools [--candidates 40] [--seed 0]``
(``SRL_SWE_ENVS_DIR`` points at a registry other than the shipped one).
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from srl_swe.registry import load_env  # noqa: E402
from srl_swe.tasks.synthesize import SynthesisConfig, Synthesizer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="boltons")
    parser.add_argument("--candidates", type=int, default=40, help="candidates each run tries (the same ones)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=SynthesisConfig.repeats)
    parser.add_argument("--screens", nargs="+", default=["suite", "coverage"], choices=["suite", "coverage"],
                        help="which runs to make (both for the ratio)")
    args = parser.parse_args()
    spec = load_env(args.env)
    print(f"{datetime.date.today()} on {platform.node()} ({os.cpu_count()} CPUs, {platform.processor() or platform.machine()}); "
          f"env {spec.name}, seed {args.seed}, first {args.candidates} candidates, repeats {args.repeats}, 1 worker")
    runs = {}
    for screen in args.screens:
        with tempfile.TemporaryDirectory() as tmp:
            config = SynthesisConfig(max_tasks=10_000, seed=args.seed, repeats=args.repeats, max_candidates=args.candidates,
                                     use_cache=True, cache_dir=Path(tmp) / "cache", screen=screen, max_per_function=10_000,
                                     max_per_file=10_000, max_per_kind=10_000)
            synth = Synthesizer(spec, config, tasks_path=Path(tmp) / "tasks.jsonl", progress=lambda line: None)
            start = time.monotonic()
            report = synth.run()
            seconds = time.monotonic() - start
            kept = [(r["mutation"]["id"], r["FAIL_TO_PASS"], r["PASS_TO_PASS"]) for r in synth.rows]
        runs[screen] = (seconds, report, kept)
        print(f"{screen:9} {seconds:8.1f} s  tried {report.tried:4}  kept {len(kept):3}  "
              f"{len(kept) / seconds * 3600:8.1f} tasks/CPU-hour  screens {dict(report.screens)}  "
              f"rejected {dict(report.rejected)}", flush=True)
    if len(runs) < 2:
        return 0
    (slow, _, kept_suite), (fast, _, kept_map) = runs["suite"], runs["coverage"]
    rate = lambda seconds, kept: len(kept) / seconds  # noqa: E731
    print(f"ratio (line map / whole suite): {rate(fast, kept_map) / max(rate(slow, kept_suite), 1e-9):.2f}x tasks per "
          f"CPU-hour; same kept tasks: {'yes' if kept_map == kept_suite else 'NO'}")
    if kept_map != kept_suite:
        only_suite = {k[0] for k in kept_suite} - {k[0] for k in kept_map}
        only_map = {k[0] for k in kept_map} - {k[0] for k in kept_suite}
        print(f"  kept only by the whole suite: {sorted(only_suite)}; only with the line map: {sorted(only_map)}; "
              f"{sum(1 for a, b in zip(kept_suite, kept_map) if a[0] == b[0] and a != b)} kept by both with other test lists")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
