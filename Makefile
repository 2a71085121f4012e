# Sharitories: `make run` starts the platform, `make test` runs the whole suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Test worker processes (pytest-xdist): most tests wait on nats-server, subprocesses and
# databases, so more workers than cores still shortens the run on a 2-core machine.
TEST_WORKERS ?= 4
# checkov and kubernetes-validate for tests/test_deploy_kubernetes.py, in their own
# virtualenv (checkov's pins clash with the project's); their tests skip if this fails.
TOOLS       := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed

.PHONY: run test lint bench soak install clean

run: $(STAMP)
	$(BIN)/sharitories up

test: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python -m bench

# About a minute: NATS cluster + PostgreSQL + two replicas of every service, three faults.
soak: $(STAMP)
	SHARITORIES_SOAK=1 $(BIN)/python -m pytest -s -q -p no:cacheprovider tests/soak

install: $(STAMP)

# Reinstall only when the project's dependencies change.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Sharitories needs Python >= 3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# Test-only oracle for the participatory-budget rules; never imported at run time.
	$(BIN)/python -m pip install --quiet --no-deps pabutools==1.2.3
	touch $@

$(TOOLS_STAMP):
	($(PYTHON) -m venv $(TOOLS) && $(TOOLS)/bin/pip install --quiet 'checkov>=3.2' 'kubernetes-validate>=1.30' && touch $@) \
	  || echo "checkov / kubernetes-validate could not be installed: their tests will be skipped"

clean:
	rm -rf $(VENV) $(TOOLS) var
