# Two commands: `make run` serves the platform on SQLite with demo data; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
export FLASK_APP := wsgi

.PHONY: run test setup system-deps browser-deps lint clean

run: system-deps $(VENV)/.installed
	$(BIN)/flask setup
	$(BIN)/flask demo
	@echo "平台地址 / serving at http://$(HOST):$(PORT)"
	$(BIN)/flask run --host $(HOST) --port $(PORT)

test: browser-deps $(VENV)/.installed
	scripts/test.sh

system-deps:
	scripts/system-deps.sh

browser-deps:
	scripts/system-deps.sh --browser

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

lint: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet ruff
	$(BIN)/ruff check lms tests migrations

clean:
	rm -rf $(VENV) .cache
