# Two commands: `make run` serves the platform on SQLite with demo data (plus a job worker per queue,
# started through the worker's entry point lms/worker.py);
# `make test` runs every test.
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
	$(BIN)/flask search rebuild --inline
	@echo "平台地址 / serving at http://$(HOST):$(PORT)，另有后台任务进程两个 / with two job workers"
	@$(BIN)/huey_consumer lms.worker.huey -w 1 -k thread -m 1 & worker=$$!; \
	  $(BIN)/huey_consumer lms.worker.media_huey -w 1 -k thread -m 1 & media=$$!; \
	  trap 'kill $$worker $$media 2>/dev/null; wait $$worker $$media 2>/dev/null' EXIT INT TERM; \
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
