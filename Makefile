.PHONY: setup docker podman test-tools demo test bench data

# Python environment in .venv (CPU torch from the local wheel; never vllm). Idempotent.
setup:
	bash scripts/setup_python.sh

# Docker engine running + offline base image built. Idempotent.
docker:
	bash srl_swe/resources/scripts/ensure_docker.sh

# Podman's Docker-compatible API service, with the base image (SRL_SWE_CONTAINER_ENGINE=podman uses it). Idempotent.
podman: docker
	bash srl_swe/resources/scripts/ensure_podman.sh

# Debian packages only the tests need (a local image registry). Idempotent.
test-tools:
	bash scripts/ensure_test_tools.sh

demo: setup
	.venv/bin/srl-swe demo

# Lint (ruff), then every test; Docker tests fail (instead of skipping) when the daemon is missing under `make test`.
# Then the sandbox suites, a live episode and an evaluation again on Podman.
test: setup docker podman test-tools
	.venv/bin/ruff check .
	SRL_SWE_REQUIRE_DOCKER=1 .venv/bin/python -m pytest -q
	SRL_SWE_REQUIRE_DOCKER=1 SRL_SWE_CONTAINER_ENGINE=podman .venv/bin/python -m pytest -q -m both_engines

bench: setup docker
	.venv/bin/python benchmarks/bench_core.py
	.venv/bin/python benchmarks/bench_sandbox.py

# Re-record the embedded expert trajectories in live sandboxes (task images built first).
# Only the environments of srl-swe:default (srl_swe.data.DEFAULT_ENVS), not the whole shipped pool.
DEFAULT_ENVS = $(shell .venv/bin/python -c 'from srl_swe.data import DEFAULT_ENVS; print(*DEFAULT_ENVS)' 2>/dev/null)
data: setup docker
	.venv/bin/srl-swe images build --tasks --env $(DEFAULT_ENVS)
	rm -f srl_swe/data/default_trajectories.jsonl
	.venv/bin/srl-swe trajectories record --env $(DEFAULT_ENVS) --out srl_swe/data/default_trajectories.jsonl --workers 2
