# CTI Bridge: the project's verbs. `make dev` runs everything locally; `make test` checks everything.
SHELL := /bin/bash
# The Lambda runtime's Python (template.yaml Runtime: python3.13). pyenv's shims run python3.13 only when
# that version is selected, so when the plain name does not run, ask pyenv for the installed 3.13 by path.
ifndef PYTHON
PYTHON := $(shell python3.13 -c pass >/dev/null 2>&1 && echo python3.13 || \
	PYENV_VERSION="$$(pyenv versions --bare 2>/dev/null | grep -E '^3\.13(\.|$$)' | tail -n1)" \
	pyenv which python3.13 2>/dev/null || \
	ls -d "$${PYENV_ROOT:-$$HOME/.pyenv}"/versions/3.13*/bin/python3.13 2>/dev/null | tail -n1 | grep . || \
	echo python3.13)
endif
VENV := .venv
BIN := $(VENV)/bin
export SAM_CLI_TELEMETRY := 0
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: print-python dev test lint format typecheck validate jstest unit integration browser bench soak build deploy clean install publish-webphone

## dev: start the local stack (HTTP API, WebSocket API, webphone, moto, demo tenant) on 127.0.0.1
dev: install
	$(BIN)/python -m ctibridge_local $(ARGS)

## test: every check CI runs — lint, types, template validation, all tests
# Two phases: most tests on both cores; then the timing-sensitive ones (fault injection, the short load
# run) and the browser tests alone, so a busy neighbour can't make them flaky.
SERIAL_TESTS := tests/integration/hardening tests/browser
test: install lint typecheck validate jstest
	$(BIN)/pytest -n 2 --dist loadfile $(addprefix --ignore=,$(SERIAL_TESTS)) $(PYTEST_ARGS)
	$(BIN)/pytest $(SERIAL_TESTS) $(PYTEST_ARGS)

install: $(VENV)/.installed .venv-checkov/.installed node_modules/.installed webphone/vendor/jssip.js \
	webphone/ctibridge.js webphone/js/embed/cs_voice.js webphone/images/320x240.ogg

$(VENV)/.installed: pyproject.toml layers/shared/requirements.txt
	# a venv made by another Python (the runtime moved from 3.11 to 3.13) is made anew
	$(BIN)/python -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null || \
		{ rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install --quiet --upgrade pip
	# The layer's pins as constraints: unit tests run against the versions the layer ships.
	$(BIN)/pip install --quiet -c layers/shared/requirements.txt -e '.[dev]'
	touch $@

# checkov (the deploy rehearsal's scan, tests/deploy/test_checkov.py) in its own venv: its pins (boto3,
# packaging, networkx) cannot share one with aws-sam-cli and moto.
.venv-checkov/.installed: tests/deploy/checkov-requirements.txt
	.venv-checkov/bin/python -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null || \
		{ rm -rf .venv-checkov && $(PYTHON) -m venv .venv-checkov; }
	.venv-checkov/bin/pip install --quiet -r tests/deploy/checkov-requirements.txt
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

# JsSIP bundled from npm for the webphone (webphone/vendor/ is built, never committed).
webphone/vendor/jssip.js: node_modules/.installed
	npm run --silent build:webphone

# The CRM SDK: webphone/sdk/ + the webphone's modules + JsSIP in one classic script (built, never committed).
webphone/ctibridge.js: node_modules/.installed $(wildcard webphone/sdk/*.js webphone/js/*.js)
	npm run --silent build:sdk

# The webphone's phone core (call state machine, call-out rule, transfers) and its faces, without a
# browser: node's built-in test runner against fakes of the bridge, SIP and the session (tests/webphone/).
jstest: node_modules/.installed
	node --test --test-reporter=spec tests/webphone/

# The vendors' paths on the webphone host (issue 16: a VCC / 3C / Alohub CRM page changes only the host):
# jQuery and JsSIP (IIFE, the JsSIP global) from npm under js/embed/ and at the root (Alohub), the SDK as
# js/embed/cs_voice.js and sipjs.js. Built, never committed (.gitignore).
webphone/js/embed/cs_voice.js: node_modules/.installed webphone/ctibridge.js $(wildcard webphone/sdk/*.js webphone/js/*.js)
	npm run --silent build:embed

# The demos' hidden <video src="{host}/images/320x240.ogg">: one second of silence, made by sox. Without sox
# (Debian's `sox`) `make dev` still runs; that one path answers 404, which the demos' pages tolerate.
webphone/images/320x240.ogg:
	mkdir -p $(@D)
	if command -v sox >/dev/null; then sox -n -r 8000 -c 1 $@ trim 0 1; \
	else echo "note: sox is not installed, so $@ (the vendor demos' hidden video) is not made"; fi

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

## bench: every benchmark; figures go to bench/results/ (soak runs by hand: `make soak`)
bench: install
	$(BIN)/python -m bench.cold_start.run
	$(BIN)/python -m bench.snapstart_restore.run --no-build  # cold_start's build, just made
	$(BIN)/python -m bench.outbound_http.run
	$(BIN)/python -m bench.popup_latency.run
	$(BIN)/python -m bench.load.run
	$(BIN)/python -m bench.cost_model.run
	$(BIN)/python -m bench.call_setup.run
	$(BIN)/python -m bench.local_stack_stop.run
	# its throughput target is out of reach against moto (issue 5): the figures still go to bench/results/
	-$(BIN)/python -m bench.webhook_throughput.run

## soak: the load benchmark held for 30 minutes (by hand, never in CI): SOAK_ARGS="--duration 3600"
soak: install
	$(BIN)/python -m bench.soak.run $(SOAK_ARGS)

## build / deploy: the AWS side (needs AWS credentials for deploy)
# The venv's python3.13 goes first on PATH: sam builds the functions with it, and the layer's Makefile
# (layers/shared/Makefile) installs the pinned requirements and compiles their bytecode with it.
build: install
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/sam build

deploy: build
	$(BIN)/sam deploy $(if $(ENV),--config-env $(ENV),)

## publish-webphone: upload webphone/ (JsSIP bundled) and a config.json from the stack's Outputs to its bucket
publish-webphone: install
	$(BIN)/python -m ctibridge_cli.webphone_publish $(if $(ENV),--config-env $(ENV),)

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache

# which Python the venv is made with (.ci/run asks)
print-python:
	@echo $(PYTHON)
