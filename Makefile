# interest-tracker — `make demo` runs the whole pipeline locally, `make test` runs every test.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
KAFKA_PORT ?= 9092
export KAFKA_PORT
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
STAMP := $(VENV)/.installed

.PHONY: help install kafka-up kafka-down topics test test-unit test-kafka lint demo bench bench-full clean

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install the project with dev deps (fast when done)

kafka-up: ## Start the local single-node Kafka on 127.0.0.1:$KAFKA_PORT (fetches it first)
	bash deploy/kafka/kafka.sh up

kafka-down: ## Stop the local Kafka
	bash deploy/kafka/kafka.sh down

topics: install ## Create the topics on $IT_BOOTSTRAP (default 127.0.0.1:9092)
	$(PY) -m streams topics create

lint: install ## ruff, mypy --strict, import-linter
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test-unit: install ## Unit and property tests (no broker)
	$(VENV)/bin/pytest -m 'not kafka'

test-kafka: install ## Integration tests against a real broker the test session starts
	bash deploy/kafka/kafka.sh fetch
	$(VENV)/bin/pytest -m kafka

test: install lint ## Everything CI runs: lint, unit, property and real-Kafka integration tests
	bash deploy/kafka/kafka.sh fetch
	$(VENV)/bin/pytest

demo: install ## The pipeline end to end on a local Kafka (DEMO_SECONDS to stop by itself)
	bash deploy/demo.sh

bench: install ## Benchmarks, short runs (each prints one JSON line of figures)
	bash deploy/kafka/kafka.sh fetch
	$(PY) bench/replay.py
	$(PY) bench/encoder.py --quick
	$(PY) bench/pipeline.py --quick
	$(PY) bench/item_index.py
	$(PY) bench/signals.py --items 5000 --users 2000 --events-per-user 10 --limit 10000
	$(PY) bench/candidates.py --items 5000 --users 2000 --events-per-user 10
	$(PY) bench/state_store.py --puts 10000 --rounds 2

bench-full: install ## Benchmarks at full size (a 100k-item catalog: long on a CPU)
	bash deploy/kafka/kafka.sh fetch
	$(PY) bench/replay.py
	$(PY) bench/encoder.py
	$(PY) bench/pipeline.py
	$(PY) bench/item_index.py --items 100000 --users 20000
	$(PY) bench/signals.py --limit 170000
	$(PY) bench/candidates.py
	$(PY) bench/state_store.py

clean: ## Remove the venv and caches (not the Kafka jar cache)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
