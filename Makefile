# The two commands a new machine needs:
#   make demo   install everything, then run the example on http://127.0.0.1:5000
#   make test   install everything (Chromium included), then run every test
.PHONY: demo test install install-system js lint typecheck test-js test-py docs bench clean

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

demo: install
	FLASK_APP=example.app $(PY) -m flask run --debug --host 127.0.0.1 --port 5000

test: install install-system lint typecheck docs test-js test-py

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

js/node_modules/.package-lock.json: js/package.json js/package-lock.json
	cd js && npm ci --no-audit --no-fund
	touch $@

js: js/node_modules/.package-lock.json
	cd js && npm run build

$(STAMP): $(PY) pyproject.toml setup.py js/node_modules/.package-lock.json
	$(PY) -m pip install --quiet -e '.[dev,example]'
	touch $@

install: $(STAMP) js

# Debian's Chromium and its driver, for the end-to-end suite.
install-system:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver; \
	fi

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

test-js: js
	cd js && npm test

test-py: install
	$(PY) -m pytest

# The documentation site (Sphinx + MyST), warnings as errors. -E rebuilds from
# scratch, so a warning in a page that did not change still fails the build.
docs: $(STAMP)
	$(VENV)/bin/sphinx-build -E -W --keep-going -n -q -b html $(SPHINXOPTS) docs docs/_build/html
	@echo "docs: open docs/_build/html/index.html"

bench: install
	$(PY) -m benchmarks.publish_overhead
	$(PY) -m benchmarks.realm_fanout
	$(PY) -m benchmarks.publish_to_screen

clean:
	rm -rf $(VENV) js/node_modules js/dist flask_fanout/static build dist *.egg-info docs/_build
