# Two commands for a newcomer (see README):  make demo   and   make test
VENV      ?= .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
# Test processes side by side (pytest-xdist): much of the suite waits on hubs, timeouts and
# subprocesses, so two halve the run on two cores. TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= 2

.PHONY: demo test setup system-deps lint bench bench-quick dist deb clean

demo: $(STAMP)
	@scripts/system-deps.sh runtime
	$(VENV)/bin/supervisor-desk --demo

test: system-deps $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m mypy
	$(VENV)/bin/lint-imports --no-cache --no-logo
	$(PY) -m pytest -q -ra -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

setup: $(STAMP)

system-deps:
	@scripts/system-deps.sh

$(STAMP): pyproject.toml
	@test -x $(PY) || "$$(scripts/find-python.sh)" -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m mypy
	$(VENV)/bin/lint-imports --no-cache --no-logo

bench: $(STAMP)
	$(PY) -m benchmarks --json benchmarks/results.json

bench-quick: $(STAMP)
	$(PY) -m benchmarks --quick --json benchmarks/results-quick.json

dist: $(STAMP)
	installer/build.sh

deb: dist

clean:
	rm -rf build dist $(VENV)
