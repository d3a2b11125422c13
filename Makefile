# Two commands on a fresh machine: `make demo` and `make test`. Both install what they need first.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .uv/bin/uv
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo serve test test-fast lint format bench clean

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	@command -v java >/dev/null 2>&1 || { echo "installing a Java runtime for PySpark"; \
		(apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null) || \
		echo "warning: no Java runtime; the PySpark engine will not start"; }
	@command -v chromium >/dev/null 2>&1 || { echo "installing Chromium and CJK fonts for the report browser test"; \
		(apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk >/dev/null) || \
		echo "warning: no chromium; tests/model/test_reports.py's browser test will skip"; }
	@command -v redis-server >/dev/null 2>&1 || { echo "installing redis-server for the Redis online-store tests"; \
		(apt-get update -qq && apt-get install -y -qq redis-server >/dev/null) || \
		echo "warning: no redis-server; the Redis online-store tests will be skipped"; }
	$(UV) sync --frozen
	touch $@

install: $(VENV)/.installed  ## create .venv from the lock file

demo: install  ## the main job on the embedded default: synthetic world -> lake -> features -> models -> service
	$(BIN)/shopsense demo

serve: install  ## serve the current @champion models (after make demo or shopsense train)
	$(BIN)/shopsense serve

test: install  ## the whole test suite
	$(BIN)/pytest

test-fast: install  ## skip tests marked slow or spark
	$(BIN)/pytest -m "not slow and not spark"

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: install  ## print benchmark figures (see benchmarks/README.md)
	$(BIN)/python benchmarks/bench_synth.py --preset default

clean:
	rm -rf data .pytest_cache
