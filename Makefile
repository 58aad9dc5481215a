# Two commands matter: `make run` and `make test`. Both build .venv from the lock files.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test lint typecheck pytest lock clean assets audit bandit

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Runtime dependencies only, pinned by requirements.lock.
$(VENV)/.run: requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# Runtime plus test and lint tools, pinned by requirements-dev.lock.
$(VENV)/.dev: requirements-dev.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@ $(VENV)/.run

run: $(VENV)/.run
	$(BIN)/broadsheet serve

test: lint typecheck audit bandit pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev
	$(BIN)/mypy broadsheet tests bench

# Known vulnerabilities in every pinned package (runtime and dev: the dev lock holds both),
# from PyPI's vulnerability data. A package the service cannot be asked about is listed as
# skipped; PIP_AUDIT_FLAGS=--strict makes that a failure where PyPI's JSON API answers.
PIP_AUDIT_FLAGS ?=
audit: $(VENV)/.dev
	$(BIN)/pip-audit -r requirements-dev.lock --no-deps --disable-pip --progress-spinner off $(PIP_AUDIT_FLAGS)

# Static security checks of our own code: any high-severity finding fails.
bandit: $(VENV)/.dev
	$(BIN)/bandit -q -r broadsheet --severity-level high

# Two processes (pytest-xdist), each with databases of its own (tests/conftest.py): the suite
# waits on browsers, servers and databases as much as it computes. PYTEST_WORKERS=0 runs it in
# this one process.
PYTEST_WORKERS ?= 2
# Coverage gates (seed 001): lines of the whole package, and of the service modules where
# the rules live. Work done in subprocesses (serve, Celery workers) is not counted.
pytest: $(VENV)/.dev
	$(BIN)/pytest -n $(PYTEST_WORKERS) --cov=broadsheet --cov-report=
	@echo "line coverage of broadsheet: $$($(BIN)/coverage report --format=total)% (at least 85)"
	$(BIN)/coverage report --format=total --fail-under=85 > /dev/null
	$(BIN)/coverage report --include='broadsheet/*/service.py' --fail-under=90

# Re-pin after changing dependencies in pyproject.toml.
lock: | $(BIN)/python
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml -o requirements.lock --python-version 3.11 -q
	$(BIN)/uv pip compile pyproject.toml --extra dev -o requirements-dev.lock --python-version 3.11 -q

# The web UI's front-end files, from assets/package-lock.json (needs Node.js and npm). The
# outputs in broadsheet/web/static/vendor/ are committed: run this after changing assets/.
assets:
	cd assets && npm ci --ignore-scripts --no-audit --no-fund && npm run build

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
