# FieldQ: `make run` sets everything up and runs it on SQLite with demo data; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PWA := pwa
PWA_SOURCES := $(shell find $(PWA)/src $(PWA)/public $(PWA)/index.html $(PWA)/vite.config.ts $(PWA)/tsconfig*.json -type f 2>/dev/null)

.PHONY: setup run serve build test lint test-python test-pwa bench migrate seed clean compose-check report-font

setup: $(VENV)/.installed $(PWA)/dist/index.html report-font

# The PDF service report embeds a font with Chinese glyphs: installed where apt and root are at hand;
# elsewhere install fonts-wqy-zenhei (or set FIELDQ_REPORT_FONT to a TrueType font) yourself.
REPORT_FONT := /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc
report-font:
	@test -f $(REPORT_FONT) || ! command -v apt-get >/dev/null || [ "$$(id -u)" != 0 ] \
		|| (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-zenhei >/dev/null) \
		|| echo "note: fonts-wqy-zenhei not installed; PDF reports fall back to a non-embedded font"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("FieldQ needs Python 3.11+") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

$(PWA)/node_modules/.installed: $(PWA)/package.json $(PWA)/package-lock.json
	cd $(PWA) && npm ci --no-audit --no-fund
	touch $@

$(PWA)/dist/index.html: $(PWA)/node_modules/.installed $(PWA_SOURCES)
	cd $(PWA) && npm run build
	touch $@

build: $(PWA)/dist/index.html

migrate: $(VENV)/.installed
	$(BIN)/fieldq migrate

seed: migrate
	$(BIN)/fieldq seed --demo

# The first command of the README.
run: setup seed
	$(BIN)/fieldq serve

serve: setup
	$(BIN)/fieldq serve

lint: $(VENV)/.installed
	$(BIN)/ruff check backend tests bench alembic

test-pwa: $(PWA)/node_modules/.installed
	cd $(PWA) && npm test

test-python: setup
	$(BIN)/pytest -q -rs --durations=15

# The second command of the README: ruff, the PWA's unit tests and build, pytest (unit, integration on
# SQLite and, with FIELDQ_TEST_DATABASE_URL, PostgreSQL; end-to-end in Chromium when installed).
test: lint test-pwa test-python

# Lighthouse for `python -m bench pwa` (pinned in bench/lighthouse, apart from the PWA's own packages).
bench/lighthouse/node_modules/.installed: bench/lighthouse/package.json bench/lighthouse/package-lock.json
	cd bench/lighthouse && npm ci --no-audit --no-fund
	touch $@

bench: setup bench/lighthouse/node_modules/.installed
	$(BIN)/python -m bench

compose-check:
	docker compose -f docker/compose.yaml config --quiet 2>/dev/null || docker-compose -f docker/compose.yaml config --quiet

clean:
	rm -rf $(PWA)/dist .pytest_cache .ruff_cache
