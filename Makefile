# Two commands: `make run` serves the platform on SQLite with demo data (plus a job worker per queue,
# started through the worker's entry point lms/worker.py);
# `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
# The address every link handed out is built from (certificates, exports, API answers): the host and
# port served (127.0.0.1 when listening on every interface), unless LMS_PUBLIC_URL is set.
PUBLIC_URL := $(or $(LMS_PUBLIC_URL),http://$(if $(filter 0.0.0.0,$(HOST)),127.0.0.1,$(HOST)):$(PORT))
TRANSLATIONS := lms/translations
export FLASK_APP := wsgi

.PHONY: run test setup system-deps browser-deps lint messages clean cluster cluster-down

run: system-deps $(VENV)/.installed-run
	LMS_PUBLIC_URL=$(PUBLIC_URL) $(BIN)/flask setup
	LMS_PUBLIC_URL=$(PUBLIC_URL) $(BIN)/flask demo
	$(BIN)/flask search rebuild --inline
	@echo "平台地址 / serving at $(PUBLIC_URL)，另有后台任务进程两个 / with two job workers"
	@LMS_PUBLIC_URL=$(PUBLIC_URL) $(BIN)/huey_consumer lms.worker.huey -w 1 -k thread -m 1 & worker=$$!; \
	  LMS_PUBLIC_URL=$(PUBLIC_URL) $(BIN)/huey_consumer lms.worker.media_huey -w 1 -k thread -m 1 & media=$$!; \
	  trap 'kill $$worker $$media 2>/dev/null; wait $$worker $$media 2>/dev/null' EXIT INT TERM; \
	  LMS_PUBLIC_URL=$(PUBLIC_URL) $(BIN)/flask run --host $(HOST) --port $(PORT)

test: browser-deps $(VENV)/.installed-test
	scripts/test.sh

system-deps:
	scripts/system-deps.sh

browser-deps:
	scripts/system-deps.sh --browser

# One province on loopback (deploy/README.md): haproxy, two app nodes, the workers, PostgreSQL primary
# and replica, pgbouncer, Redis; `make cluster-down` stops it.
cluster: browser-deps $(VENV)/.installed-run
	scripts/cluster.sh up --demo

cluster-down:
	scripts/cluster.sh down

# Two stamps: running needs the runtime dependencies only (`pip install -e .`, quicker on a first
# start); the tests add the test extras on top. Either is redone when pyproject.toml changes.
$(VENV)/.installed-run: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/pybabel compile --domain messages --directory $(TRANSLATIONS) --statistics
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed-run
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

lint: $(VENV)/.installed-run
	$(BIN)/python -m pip install --quiet ruff
	$(BIN)/ruff check lms tests migrations

# The message catalog: extract every wrapped string (lms/ Python, templates/) into messages.pot,
# merge it into each language's catalog, compile the .mo files Flask-Babel reads (not committed:
# built here and at install). A new language: pybabel init -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) -l xx
messages: $(VENV)/.installed-run
	$(BIN)/pybabel extract --mapping-file babel.cfg --keywords _l --keywords lazy_gettext --keywords N_ \
	  --no-location --sort-output --project "Gongxu LMS" --copyright-holder "Gongxu LMS" \
	  --output-file $(TRANSLATIONS)/messages.pot .
	$(BIN)/pybabel update --input-file $(TRANSLATIONS)/messages.pot --domain messages --output-dir $(TRANSLATIONS) \
	  --no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel compile --domain messages --directory $(TRANSLATIONS) --statistics

clean:
	rm -rf $(VENV) .cache
