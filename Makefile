# CTI Bridge: the project's verbs. `make dev` runs everything locally; `make test` checks everything.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export SAM_CLI_TELEMETRY := 0
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: dev test lint format typecheck validate unit integration browser bench build deploy clean install

## dev: start the local stack (HTTP API, WebSocket API, webphone, moto, demo tenant) on 127.0.0.1
dev: install
	$(BIN)/python -m ctibridge_local $(ARGS)

## test: every check CI runs — lint, types, template validation, all tests
test: install lint typecheck validate
	$(BIN)/pytest $(PYTEST_ARGS)

install: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml layers/shared/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck:
	$(BIN)/mypy layers/shared cli local functions

validate:
	$(BIN)/sam validate --lint --region us-east-1

unit: install
	$(BIN)/pytest tests/unit

integration: install
	$(BIN)/pytest tests/integration

browser: install
	$(BIN)/pytest tests/browser

## bench: every benchmark; figures go to bench/results/
bench: install
	$(BIN)/python -m bench.cold_start.run

## build / deploy: the AWS side (needs AWS credentials for deploy)
build: install
	$(BIN)/sam build

deploy: build
	$(BIN)/sam deploy $(if $(ENV),--config-env $(ENV),)

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
