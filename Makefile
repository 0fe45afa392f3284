# make demo: install into .venv and run the market-data environment on the embedded AWS emulator.
# make test: install into .venv and run the whole test suite (unit, reconcilers, end to end).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
DEMO_STATE := $(CURDIR)/.demo-state
SPEC ?= specs/market-data.yaml

.PHONY: install demo test test-e2e lint bench golden clean

$(STAMP): setup.cfg pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The package is installed editable, so pip compiles none of its modules; where PYTHONDONTWRITEBYTECODE
# is set (CI images often set it) Python never caches them either and every CLI run would compile the
# whole package again (about 0.15 s). compileall writes the bytecode (it skips what is up to date).
install: $(STAMP)
	@$(PY) -m compileall -q provisioner

test: install
	$(PY) -m pytest -q -n auto tests

test-e2e: install
	$(PY) -m pytest -q tests/e2e

# the expected plans of specs/ (tests/golden/*.plan), written again from what the tool plans now
golden: install
	UPDATE_GOLDEN=1 $(PY) -m pytest -q tests/golden

lint: install
	$(BIN)/ruff check provisioner tests bench

bench: install
	$(PY) bench/run.py $(BENCH_ARGS)

demo: install
	@PROVISIONER_STATE_DIR=$(DEMO_STATE) SPEC=$(SPEC) BIN=$(BIN) PY=$(PY) bash .ci/demo.sh

clean:
	rm -rf $(VENV) $(DEMO_STATE) build *.egg-info .pytest_cache .ruff_cache
