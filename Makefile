# The two commands of the README: `make demo` (the main job) and `make test` (the test suite).
# Both set up .venv on first use. Extra Hydra overrides for the demo: make demo DEMO_ARGS='hydra.sweeper.n_trials=4'
# (or DEMO_ARGS in the environment).
PY := .venv/bin/python
DEMO_ARGS ?=

.PHONY: setup demo test lint bench bench-quick bench-deps

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) examples/train.py -m hydra/sweeper=ecopt $(DEMO_ARGS)

test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest -q

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# Benchmarks (issue 7): search efficiency against the official Optuna sweeper, pruning, measurement overhead.
bench-deps: setup
	$(PY) -m pip install -q -e '.[bench]'

bench: bench-deps
	bash benchmarks/run_all.sh

bench-quick: bench-deps
	bash benchmarks/run_all.sh --quick
