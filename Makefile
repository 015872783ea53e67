# The two commands a fresh machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
# checkov pins libraries that clash with the test tools, so it gets its own venv.
CHECKOV_VERSION := 3.3.30
CHECKOV := .venv-checkov/bin/checkov
CHROMEDRIVER := /usr/bin/chromedriver

.PHONY: run test lint up status down install

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

# Debian's chromium for the dashboards' browser test; where apt is not usable the test says it was skipped.
$(CHROMEDRIVER):
	-@command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && (apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) || \
	  echo "chromium not installed: the browser test will be skipped"

$(CHECKOV):
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet 'checkov==$(CHECKOV_VERSION)'

install: $(STAMP)

## run: the embedded stack in the foreground (webhook on :8080, dashboards on :8501)
run: $(STAMP)
	$(PY) -m devstack.embedded --port $${PORT:-8080} --dashboards-port $${DASHBOARDS_PORT:-8501}

## test: the whole suite, emulator tests included
test: $(STAMP) $(CHECKOV) $(CHROMEDRIVER)
	$(PY) -m ruff check .
	$(PY) -m mypy
	MT_REQUIRE_CHECKOV=1 $(PY) -m pytest; status=$$?; if [ $$status -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$status

lint: $(STAMP)
	$(PY) -m ruff check .

up: $(STAMP)
	$(PY) -m devstack up $(ARGS)

status: $(STAMP)
	$(PY) -m devstack status

down: $(STAMP)
	$(PY) -m devstack down
