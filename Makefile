# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test lint format typecheck check clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,otel]'
	touch $(STAMP)

## run: create the virtual environment, install, start everything in one process (payhub run)
run: $(STAMP)
	$(BIN)/payhub run

## browser: Debian's chromium for the browser tests, and a Khmer font (fonts-khmeros) for the Khmer
## demo page, installed with apt-get when missing
.PHONY: browser
browser:
	test -x /usr/bin/chromium || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }
	fc-list :lang=km | grep -q . || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q fonts-khmeros; }

## promtool: Prometheus' rule checker (Debian's prometheus package) for the alert-rule tests,
## installed with apt-get when missing (the tests fail instead of skipping without it under CI=true)
.PHONY: promtool
promtool:
	command -v promtool >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus; }

## khqr-sdk: the official KHQR SDK (npm bakong-khqr, pinned by tests/khqr_sdk/package-lock.json)
## for the differential test, installed with `npm ci` into tests/khqr_sdk/node_modules
KHQR_SDK_DIR   := tests/khqr_sdk
KHQR_SDK_STAMP := $(KHQR_SDK_DIR)/node_modules/.installed-stamp
.PHONY: khqr-sdk
khqr-sdk: $(KHQR_SDK_STAMP)
$(KHQR_SDK_STAMP): $(KHQR_SDK_DIR)/package.json $(KHQR_SDK_DIR)/package-lock.json
	@if command -v npm >/dev/null; then \
	  cd $(KHQR_SDK_DIR) && npm ci --no-audit --no-fund --ignore-scripts && touch node_modules/.installed-stamp; \
	else echo "npm not found: the KHQR differential test will be skipped (and fail under CI=true)"; fi

## asyncapi-parser: the official AsyncAPI parser (npm @asyncapi/parser, pinned by
## tests/asyncapi_parser/package-lock.json) that validates /asyncapi.json in the tests, installed with `npm ci`
ASYNCAPI_DIR   := tests/asyncapi_parser
ASYNCAPI_STAMP := $(ASYNCAPI_DIR)/node_modules/.installed-stamp
.PHONY: asyncapi-parser
asyncapi-parser: $(ASYNCAPI_STAMP)
$(ASYNCAPI_STAMP): $(ASYNCAPI_DIR)/package.json $(ASYNCAPI_DIR)/package-lock.json
	@if command -v npm >/dev/null; then \
	  cd $(ASYNCAPI_DIR) && npm ci --no-audit --no-fund --ignore-scripts && touch node_modules/.installed-stamp; \
	else echo "npm not found: the AsyncAPI validation test will be skipped (and fail under CI=true)"; fi

## clients-js: TypeScript (pinned by tests/clients_js/package-lock.json) to type-check clients/js/payhub.js
CLIENTS_JS_DIR   := tests/clients_js
CLIENTS_JS_STAMP := $(CLIENTS_JS_DIR)/node_modules/.installed-stamp
.PHONY: clients-js
clients-js: $(CLIENTS_JS_STAMP)
$(CLIENTS_JS_STAMP): $(CLIENTS_JS_DIR)/package.json $(CLIENTS_JS_DIR)/package-lock.json
	@if command -v npm >/dev/null; then \
	  cd $(CLIENTS_JS_DIR) && npm ci --no-audit --no-fund --ignore-scripts && touch node_modules/.installed-stamp; \
	else echo "npm not found: the payhub.js type check will be skipped (and fail under CI=true)"; fi

## test: the whole suite (PostgreSQL and Redis on 127.0.0.1 are used by the tests that claim them)
test: $(STAMP) browser khqr-sdk clients-js promtool asyncapi-parser
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy

check: test lint typecheck

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis $(KHQR_SDK_DIR)/node_modules $(CLIENTS_JS_DIR)/node_modules $(ASYNCAPI_DIR)/node_modules
