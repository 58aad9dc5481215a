# Two commands matter: `make run` and `make test`. Both build .venv from the lock files.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test lint typecheck pytest lock clean assets

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

test: lint typecheck pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev
	$(BIN)/mypy broadsheet tests bench

# Two processes (pytest-xdist), each with databases of its own (tests/conftest.py): the suite
# waits on browsers, servers and databases as much as it computes. PYTEST_WORKERS=0 runs it in
# this one process.
PYTEST_WORKERS ?= 2
pytest: $(VENV)/.dev
	$(BIN)/pytest -n $(PYTEST_WORKERS)

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
