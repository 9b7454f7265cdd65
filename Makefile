.PHONY: setup demo test docker bench clean

setup:
	bash scripts/setup_python.sh

demo: setup
	.venv/bin/srl-swe demo

test: setup
	.venv/bin/python -m pytest -q

bench: setup
	.venv/bin/python benchmarks/run_all.py
