# nnsweep: the two commands are `make sweep` and `make test`; each installs what it needs first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
STUDY  ?= digits
N_JOBS ?=
TRIALS ?=
SWEEP_ARGS := $(if $(N_JOBS),--n-jobs $(N_JOBS)) $(if $(TRIALS),--n-trials $(TRIALS))
UI_PORT ?= 5000

# One BLAS thread per process: parallelism comes from processes (docs/how_it_works.md).
export OPENBLAS_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

DASHBOARD_PORT ?= 8080

.PHONY: install test test-fast test-python bench-sweep sweep sweeps ui dashboard bench bench-mnist lint format clean clean-runs docs docs-serve

$(STAMP): pyproject.toml
	$(PY) -m pip --version >/dev/null 2>&1 || $(PYTHON) -m venv --clear $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

# The quick suite: the math core, the estimator (with scikit-learn's own checks), the study
# file's schema, the data sets and the compatibility names; under a minute, no processes.
FAST_TESTS := tests/test_functions.py tests/test_network.py tests/test_optim.py \
	tests/test_estimator.py tests/test_estimator_checks.py tests/test_config.py \
	tests/test_datasets.py tests/test_compat.py

test-fast: $(STAMP)
	$(PY) -m pytest -q $(FAST_TESTS)

# The quick suite under another interpreter, in a venv of its own: make test-python PYTHON=python3.13
OTHER_VENV = .venv-$(notdir $(PYTHON))
test-python:
	$(OTHER_VENV)/bin/python -m pip --version >/dev/null 2>&1 || $(PYTHON) -m venv --clear $(OTHER_VENV)
	$(OTHER_VENV)/bin/python -m pip install -q --upgrade pip
	$(OTHER_VENV)/bin/python -m pip install -q -e . "pytest>=8" "hypothesis>=6"
	$(OTHER_VENV)/bin/python -m pytest -q -p no:cacheprovider $(FAST_TESTS)

sweep: $(STAMP)
	$(VENV)/bin/nnsweep run studies/$(STUDY).toml $(SWEEP_ARGS)

sweeps: $(STAMP)
	for f in studies/*.toml; do $(VENV)/bin/nnsweep run $$f $(SWEEP_ARGS) || exit 1; done

# The MLflow UI on mlruns/, with each study's runs page printed first (MLflow 3's UI opens on
# its GenAI pages). Outside a checkout: `nnsweep ui`.
ui: $(STAMP)
	$(VENV)/bin/nnsweep ui --port $(UI_PORT)

dashboard: $(STAMP)
	$(PY) -m pip install -q -e ".[dashboard]"
	$(VENV)/bin/nnsweep dashboard studies/$(STUDY).toml --port $(DASHBOARD_PORT)

# Every benchmark but the two long MNIST ones, each in its own process: each writes
# benchmarks/results/<name>.json and the <name>.md made from it (docs/benchmarks.md). PyTorch is
# a contender of the speed benchmark only.
bench: $(STAMP)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) benchmarks/run.py

# The MNIST studies end to end, once per sampler seed 0 and 1: the one-layer study (~26 min a
# seed on 2 cores) and the deep one (~60 min a seed): test errors, parameters and time. The test
# error's spread over refit seeds, for fixed parameters: benchmarks/run.py --only mnist_seeds.
bench-mnist: $(STAMP)
	$(PY) benchmarks/bench_mnist_study.py --study mnist
	$(PY) benchmarks/bench_mnist_study.py --study mnist-deep

# `make sweep` on 5 fresh clones (about 1.5 min each): the README's timing, medians and ranges.
bench-sweep: $(STAMP)
	$(PY) benchmarks/run.py --only make_sweep

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports  # the import direction: [tool.importlinter] in pyproject.toml

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf .pytest_cache .ruff_cache .import_linter_cache build *.egg-info docs/_build docs/tutorial/examples
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +

clean-runs:
	rm -rf mlruns/* && touch mlruns/.gitkeep

# The documentation site: the tutorial, the gallery (its figures are made by running examples/*.py
# on the digits data, a few minutes) and the API reference, into docs/_build/html. Offline.
DOCS_PORT ?= 8000
SPHINXOPTS ?= -W --keep-going

docs: $(STAMP)
	$(PY) -m sphinx -b html $(SPHINXOPTS) docs docs/_build/html
	@echo "docs: docs/_build/html/index.html (make docs-serve: http://127.0.0.1:$(DOCS_PORT)/)"

docs-serve: docs
	$(PY) -m http.server --directory docs/_build/html --bind 127.0.0.1 $(DOCS_PORT)
