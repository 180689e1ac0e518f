# TradeMate load & SLA suite. Every target bootstraps .venv from requirements.txt on first use; test, lint and
# format add requirements-dev.txt.
# Variables: HOST (external API URL; unset: start the reference API), CREDENTIALS (tokens CSV for HOST),
# RUN_TIME (30s, 2m), REPORT_DIR (default reports), WORKERS (Locust worker processes), BASELINE (an earlier
# run directory to gate regressions against, or auto / auto:PREFIX: the last passing valid run in the history),
# RUN_LABEL (names the build under test in the history: main@3f2c1a0), PROFILE (make ui), METRICS_PORT (live
# Prometheus /metrics on 127.0.0.1), PORT (make api, default 8000).

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
DEV := $(VENV)/lib/dev-requirements.installed
HOST ?=
CREDENTIALS ?=
RUN_TIME ?=
REPORT_DIR ?= reports
WORKERS ?= 0
BASELINE ?=
RUN_LABEL ?=
METRICS_PORT ?=
PROFILE ?= mixed
PORT ?= 8000
PYTEST_ARGS ?=

# exec: the launcher replaces the recipe's shell, so the SIGTERM make forwards to its child reaches the launcher
# (a shell would die of it and leave the run going on unseen) and the run ends with a report of every sample so far.
RUN_PROFILE = exec $(PY) -m trademate_load run $(1) --host "$(HOST)" --credentials "$(CREDENTIALS)" \
	--run-time "$(RUN_TIME)" --report-dir "$(REPORT_DIR)" --workers "$(WORKERS)" --baseline "$(BASELINE)" \
	--metrics-port "$(METRICS_PORT)" --label "$(RUN_LABEL)"

.PHONY: history loadtest loadtest-premium loadtest-shared loadtest-smoke loadtest-scalability ui api test lint format bench sla-validate clean

loadtest-premium: $(VENV)
	@$(call RUN_PROFILE,premium)

loadtest-shared: $(VENV)
	@$(call RUN_PROFILE,shared)

loadtest: $(VENV)
	@$(call RUN_PROFILE,mixed)

loadtest-smoke: $(VENV)
	@$(call RUN_PROFILE,smoke)

loadtest-scalability: $(VENV)
	@$(call RUN_PROFILE,scalability)

ui: $(VENV)
	@$(call RUN_PROFILE,$(PROFILE)) --ui

api: $(VENV)
	@mkdir -p var
	$(PY) -m trademate_api --host 127.0.0.1 --port $(PORT) --credentials var/credentials.csv

# The history page REPORT_DIR/index.html (docs/history.md): trends, change points, daily compliance; REBUILD=1
# recreates REPORT_DIR/history.jsonl from the run directories first.
history: $(VENV)
	@$(PY) -m trademate_load history --report-dir "$(REPORT_DIR)" $(if $(REBUILD),--rebuild)

# scripts/test-deps.sh: as root, installs and starts what the tests need outside .venv (Chromium, promtool,
# PostgreSQL, Redis, nginx); otherwise one line per cause says what will be skipped. Its environment reaches pytest.
test: $(DEV)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	eval "$$(scripts/test-deps.sh)" && $(PY) -m pytest $(PYTEST_ARGS)

lint: $(DEV)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(DEV)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Benchmarks (docs/benchmarks.md; figures printed beside each script's goals): the reference API's backends, the
# load generator's cost and accuracy, memory over a soak (SOAK_TIME, default 3m; 60m for the hour), the distributed
# master, the report, the sample record's path to Parquet and back, the early decisions' false-abort and miss rates
# on simulated runs, the history's rebuild from 1,000 run directories.
SOAK_TIME ?= 3m
bench: $(VENV)
	$(PY) scripts/bench.py
	$(PY) scripts/bench_generator.py
	$(PY) scripts/bench_soak.py --run-time $(SOAK_TIME)
	$(PY) scripts/bench_distributed.py
	$(PY) scripts/bench_report.py
	$(PY) scripts/bench_samples.py
	$(PY) scripts/bench_decisions.py
	$(PY) scripts/bench_history.py

# SLA validation probe (docs/ci.md, "SLA validation probe"): ITERATIONS (default 100), CONCURRENCY, INTERVAL and COUNT
# (monitor), OUTPUT (default $(REPORT_DIR)/sla-validation.json), SLA (an SLA file), STRICT=1; HOST and CREDENTIALS as above.
sla-validate: $(VENV)
	@$(PY) scripts/sla_validation.py --host "$(HOST)" --credentials "$(CREDENTIALS)" --report-dir "$(REPORT_DIR)" --label "$(RUN_LABEL)" \
		--iterations "$(or $(ITERATIONS),100)" --concurrency "$(CONCURRENCY)" --interval "$(INTERVAL)" \
		--count "$(COUNT)" --sla "$(SLA)" --output "$(or $(OUTPUT),$(REPORT_DIR)/sla-validation.json)" \
		$(if $(STRICT),--strict)

$(VENV): requirements.txt pyproject.toml
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(VENV)

# The tests' and linters' tools; the stamp sits in a subdirectory, so that writing it leaves .venv's own time alone.
$(DEV): $(VENV) requirements-dev.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(DEV)

clean:
	rm -rf $(VENV) reports/2* reports/latest var .pytest_cache .ruff_cache *.egg-info
