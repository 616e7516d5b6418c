# The two commands of the README: `make demo` (the whole job) and `make test` (the test suite).
# Both create .venv with Python 3.10 and the pinned stack first, when it is missing.
PY := .venv/bin/python
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup demo test lint bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m vtg.demo --out runs/demo

test: setup
	$(PY) -m pytest tests

lint: setup
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

bench: setup
	$(PY) -m benchmarks.run_all

clean:
	rm -rf runs .pytest_cache
