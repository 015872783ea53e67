# The two commands a fresh machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: run test lint up status down install

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

## run: the embedded stack in the foreground (webhook on http://127.0.0.1:8080/webhook)
run: $(STAMP)
	$(PY) -m devstack.embedded --port $${PORT:-8080}

## test: the whole suite, emulator tests included
test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest; status=$$?; if [ $$status -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$status

lint: $(STAMP)
	$(PY) -m ruff check .

up: $(STAMP)
	$(PY) -m devstack up $(ARGS)

status: $(STAMP)
	$(PY) -m devstack status

down: $(STAMP)
	$(PY) -m devstack down
