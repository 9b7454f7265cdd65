.PHONY: setup docker test-tools demo test bench data

# Python environment in .venv (CPU torch from the local wheel; never vllm). Idempotent.
setup:
	bash scripts/setup_python.sh

# Docker engine running + offline base image built. Idempotent.
docker:
	bash srl_swe/resources/scripts/ensure_docker.sh

# Debian packages only the tests need (a local image registry). Idempotent.
test-tools:
	bash scripts/ensure_test_tools.sh

demo: setup
	.venv/bin/srl-swe demo

# Lint (ruff), then every test; Docker tests fail (instead of skipping) when the daemon is missing under `make test`.
test: setup docker test-tools
	.venv/bin/ruff check .
	SRL_SWE_REQUIRE_DOCKER=1 .venv/bin/python -m pytest -q

bench: setup docker
	.venv/bin/python benchmarks/bench_core.py
	.venv/bin/python benchmarks/bench_sandbox.py

# Re-record the embedded expert trajectories in live sandboxes (task images built first).
data: setup docker
	.venv/bin/srl-swe images build --tasks
	rm -f srl_swe/data/default_trajectories.jsonl
	.venv/bin/srl-swe trajectories record --out srl_swe/data/default_trajectories.jsonl --workers 2
