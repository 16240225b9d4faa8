# The two commands a new machine needs:
#   make demo   install everything, then run the example on http://127.0.0.1:5000
#   make test   install everything (Chromium and Pushpin included), then run every test
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

# Debian's Chromium and its driver (the end-to-end suite) and Pushpin (the
# GRIP tests start their own instances); only the missing ones are installed.
# The packaged Pushpin service is disabled again where systemd started it: it
# would take port 7999, where `make demo` runs the local realm.
install-system:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	command -v pushpin >/dev/null || missing="$$missing pushpin"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing && \
		case "$$missing" in *pushpin*) \
			if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then \
				$(SUDO) systemctl disable --now pushpin >/dev/null 2>&1 || true; \
			fi;; \
		esac; \
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
	$(PY) -m benchmarks.grip_latency
	$(PY) -m benchmarks.grip_fanout
	$(PY) -m benchmarks.publish_to_screen --backend grip

clean:
	rm -rf $(VENV) js/node_modules js/dist flask_fanout/static build dist *.egg-info docs/_build
