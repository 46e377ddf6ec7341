# The two commands a newcomer needs: `make run` and `make test`.
# What they install is pinned, with hashes, by lock files (`make lock` writes them all):
#   requirements/runtime.lock  what running needs (`make run`, `make reset`)
#   requirements/dev.lock      that plus the test and lint tools and the OpenTelemetry exporter (extras dev and
#                              otel: `make test`, CI, `make lint typecheck`)
#   requirements/bench.lock    the runtime plus the bench extra (`make bench`, `make bench-locust`), pinned like dev.lock
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUNTIME_LOCK := requirements/runtime.lock
DEV_LOCK     := requirements/dev.lock
BENCH_LOCK   := requirements/bench.lock
RUNTIME_STAMP := $(VENV)/.runtime-stamp
BENCH_STAMP   := $(VENV)/.bench-stamp
STAMP         := $(VENV)/.installed-stamp
PIP := $(BIN)/python -m pip
# PayHub itself, after its locked dependencies: no resolution, no download (the build backend is locked too),
# then a check that the lock covers what pyproject.toml asks for.
INSTALL_PAYHUB = $(PIP) install -q --no-deps --no-build-isolation -e . && \
	{ $(PIP) check >/dev/null || { $(PIP) check; echo "the lock files miss what pyproject.toml asks for: run make lock"; exit 1; }; }

.PHONY: run reset test lint format typecheck check clean lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Runtime only: the server's dependencies, no test tools (modules are byte-compiled when first imported).
$(RUNTIME_STAMP): $(RUNTIME_LOCK) pyproject.toml | $(BIN)/python
	$(PIP) install -q --no-compile --require-hashes -r $(RUNTIME_LOCK)
	$(INSTALL_PAYHUB)
	touch $@

# Everything `make test`, lint and typecheck use (the dev lock holds the runtime pins too).
$(STAMP): $(DEV_LOCK) pyproject.toml | $(BIN)/python
	$(PIP) install -q --require-hashes -r $(DEV_LOCK)
	$(INSTALL_PAYHUB)
	touch $@ $(RUNTIME_STAMP)

## run: create the virtual environment, install what running needs, start everything in one process (payhub run)
run: $(RUNTIME_STAMP)
	$(BIN)/payhub run

## reset: restore the sandbox demo data (drops PayHub's tables, migrates, seeds the demo premiums);
## installs nothing when .venv exists. Stop `make run` first.
reset:
	@test -x $(BIN)/payhub || $(MAKE) $(RUNTIME_STAMP)
	$(BIN)/payhub reset

## bench: PayHub (SSE, WebSocket) side by side with python-socketio and sse-starlette (loadtest/compare.py,
## docs/performance.md); installs the bench extra (requirements/bench.lock) into .venv when missing.
## BENCH_ARGS=--quick for a short run (about 4 minutes); the full run takes about 13.
BENCH_ARGS ?=
LOCUST_ARGS ?=
.PHONY: bench bench-locust
$(BENCH_STAMP): $(BENCH_LOCK) pyproject.toml | $(BIN)/python
	$(PIP) install -q --require-hashes -r $(BENCH_LOCK)
	$(INSTALL_PAYHUB)
	touch $@
bench: $(BENCH_STAMP)
	$(BIN)/python -m loadtest.compare $(BENCH_ARGS)

## bench-locust: locust's scenarios (loadtest/locustfile.py) headless for 30 s against a payhub run it starts
bench-locust: $(BENCH_STAMP)
	$(BIN)/python -m loadtest.run_locust $(LOCUST_ARGS)

## lock: regenerate the lock files from pyproject.toml (uv, from PyPI only). Existing pins are kept
## where they still fit; LOCK_FLAGS=--upgrade moves every pin, LOCK_FLAGS='--upgrade-package NAME' one.
UV_VERSION := 0.13.9
LOCK_FLAGS ?=
LOCK_ARGS = pyproject.toml requirements/build.in --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock" --quiet $(LOCK_FLAGS)
lock: | $(BIN)/python
	$(PIP) install -q --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip compile $(LOCK_ARGS) --extra dev --extra otel -o $(DEV_LOCK)
	$(BIN)/uv pip compile $(LOCK_ARGS) -c $(DEV_LOCK) -o $(RUNTIME_LOCK)
	$(BIN)/uv pip compile $(LOCK_ARGS) --extra bench -c $(DEV_LOCK) -o $(BENCH_LOCK)

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
