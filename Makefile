# Two set-up commands for a fresh machine (see README.md):
#   make demo   installs what is missing, then runs the whole pipeline (dvc repro) on the synthetic benchmark
#   make test   installs what is missing, then runs the test suite (everything; CI runs it)
#   make test-fast  the unit tier only (no DVC, MLflow server, Prefect/Dask, MediaPipe): a fraction of make test
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast ui ntu60 clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev]"
	touch $(STAMP)

# The wall time from make's start, the install included, and the `dvc repro`'s part of it go to metrics/demo_time.json
# (pipeline/demo_time.py).
demo: DEMO_STARTED := $(shell date +%s)
demo: install
	repro_started=$$(date +%s) && PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro && \
		$(BIN)/python -m pipeline.demo_time --started $(DEMO_STARTED) --repro-started $$repro_started

# One pytest worker per core (tests/conftest.py keeps each on one thread); TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= auto
test: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

test-fast: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

# NTU RGB+D 60 X-Sub with the published teacher (see presets/ntu60_xsub.yaml).
ntu60: install
	@test -n "$(NTU_ROOT)" || (echo "usage: make ntu60 NTU_ROOT=/path/to/nturgb+d_rgb [NTU_SKELETONS=/path/to/skeletons]"; exit 2)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pipeline.presets presets/ntu60_xsub.yaml \
		data.root=$(NTU_ROOT) $(if $(NTU_SKELETONS),data.ntu.skeleton_root=$(NTU_SKELETONS))

ui: install
	$(BIN)/python -m pipeline.mlflow_ui

clean:
	rm -rf $(VENV)
