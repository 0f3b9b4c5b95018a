# The two commands of the README: `make demo` (the main job) and `make test` (the test suite).
# Both set up .venv on first use. Extra Hydra overrides for the demo: make demo DEMO_ARGS='hydra.sweeper.n_trials=4'
# (or DEMO_ARGS in the environment).
PY := .venv/bin/python
DEMO_ARGS ?=
# the suite on up to 4 processes, each test file kept on one (its module fixtures run once); PYTEST_PARALLEL= for one
PYTEST_PARALLEL ?= -n auto --maxprocesses 4 --dist loadfile

.PHONY: setup demo test lint bench bench-quick bench-deps

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) examples/train.py -m hydra/sweeper=ecopt $(DEMO_ARGS)

# ruff, the type checker (mypy, configured in pyproject.toml), every docstring example, then the test suite
test: setup
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest -q -p no:cacheprovider --doctest-modules ecopt_lightning hydra_plugins
	$(PY) -m pytest -q $(PYTEST_PARALLEL)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

# Benchmarks (issue 7): search efficiency against the official Optuna sweeper, pruning, measurement overhead.
bench-deps: setup
	$(PY) -m pip install -q -e '.[bench]'

bench: bench-deps
	bash benchmarks/run_all.sh

bench-quick: bench-deps
	bash benchmarks/run_all.sh --quick
