# Sharitories: `make run` starts the platform, `make test` runs the whole suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench soak install clean

run: $(STAMP)
	$(BIN)/sharitories up

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

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

clean:
	rm -rf $(VENV) var
