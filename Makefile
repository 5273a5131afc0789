# The README's commands. `make help` lists them.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

DEMO_STORE ?= demo.duckdb

.PHONY: help setup demo test quick lint bench clean report-screenshot cli-recording

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[airflow,dev]'
	touch $(STAMP)

setup: $(STAMP) ## create .venv with pinned dependencies

demo: $(STAMP) ## migrate data/samples/ into the embedded DuckDB store and print the summary
	rm -f $(DEMO_STORE)
	$(VENV)/bin/suppress ingest --tenant demo --store $(DEMO_STORE) --default-region US --max-reject-rate 0.2 data/samples/

TEST_WORKERS ?= 2

test: $(STAMP) ## run the whole test suite (starts the local PostgreSQL server if it is down)
	.ci/postgres-up
	.ci/chromium || [ -z "$$CI" ]  # without root or sudo the browser tests skip, saying why; in CI they must run
	$(PY) -m pytest -q -n $(TEST_WORKERS)

quick: $(STAMP) ## the suite without the slow integration tests (a few minutes)
	.ci/postgres-up
	$(PY) -m pytest -q -n $(TEST_WORKERS) -m "not slow"

cli-recording: $(STAMP) ## docs/ingest-terminal.svg and docs/ingest-log.txt: the demo ingest on a terminal and in a log
	$(PY) docs/record_cli.py

report-screenshot: $(STAMP) ## docs/report.png: the sample run's report in headless Chromium
	.ci/chromium
	$(PY) -m pipelines.report.screenshot docs/report.png

lint: $(STAMP) ## ruff over the code
	$(VENV)/bin/ruff check .

bench: $(STAMP) ## SPEC 5 benchmark on 10M rows (slow: writes ~1 GB)
	$(PY) benchmarks/run.py --rows 10000000

clean: ## remove the venv and generated files
	rm -rf $(VENV) $(DEMO_STORE) .pytest_cache
