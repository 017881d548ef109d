# Quick start: `make run` serves the chat on http://127.0.0.1:8000, `make test` runs every test.
# Both create .venv and install what they need on a fresh machine (Debian, Python 3.11).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
NODES ?= 1
# Embedded defaults for `make run`: SQLite in var/, a generated secret key, local hosts.
RUN_ENV := SECRET_KEY="$$(cat var/secret_key)" ALLOWED_HOSTS="$${ALLOWED_HOSTS:-127.0.0.1,localhost}"

.PHONY: run cluster test faults bench sockjs-conformance lint lock admin clean

# The lock files (requirements.txt, requirements-dev.txt, bench/requirements.txt) pin every package,
# with hashes; they are written by `make lock` from the *.in files beside them (docs/deploy.md).
$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.txt
	touch $@

var/secret_key:
	mkdir -p var
	$(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@
	chmod 600 $@

run: $(VENV)/.installed var/secret_key
	$(RUN_ENV) $(PY) manage.py migrate --noinput
	$(RUN_ENV) $(PY) manage.py collectstatic --noinput --verbosity 0
	$(RUN_ENV) $(PY) manage.py runcluster --nodes $(NODES) --port $(PORT)

# A local multi-node cluster: make cluster NODES=3 (ports 8000, 8001, 8002).
cluster: NODES = 2
cluster: run

admin: $(VENV)/.installed var/secret_key
	$(RUN_ENV) $(PY) manage.py migrate --noinput
	$(RUN_ENV) $(PY) manage.py createsuperuser

# The npm STOMP clients the STOMP tests drive (tests/stomp/, from its lock file).
tests/stomp/node_modules/.installed: tests/stomp/package.json tests/stomp/package-lock.json
	cd tests/stomp && npm ci --silent --no-audit --no-fund
	touch $@

# axe-core, which the accessibility test injects into the pages (tests/axe/, from its lock file).
tests/axe/node_modules/.installed: tests/axe/package.json tests/axe/package-lock.json
	cd tests/axe && npm ci --silent --no-audit --no-fund
	touch $@

test: $(VENV)/.installed tests/stomp/node_modules/.installed tests/axe/node_modules/.installed
	scripts/ensure-test-packages.sh
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -n 3 --dist loadfile

# Fault tests at full size: 50 clients through a node crash, 10,000 malformed frames,
# a 20-minute soak (CHAT_SOAK_SECONDS overrides). About 25 minutes.
faults: $(VENV)/.installed
	CHAT_FAULT_SCALE=long $(PY) -m pytest tests/test_faults.py -s --timeout 3600

# Side-by-side benchmark (docs/benchmarks.md): ours, the Channels tutorial design, python-socketio.
bench: $(VENV)/.installed
	$(PY) -m pip install --quiet --require-hashes -r bench/requirements.txt
	cd bench && npm install --silent --no-audit --no-fund
	$(PY) bench/run.py $(BENCH_ARGS)

# The published SockJS protocol suite against one node (by hand: the suite is on no registry).
sockjs-conformance: $(VENV)/.installed
	$(PY) scripts/sockjs_conformance.py $(SUITE)

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m ruff format --check .

# Rewrites the lock files from the *.in files, after an edit there. Pins that still fit are kept;
# `make lock LOCK_ARGS=--upgrade` (or `--upgrade-package NAME`) moves them to the newest releases.
# Each lock builds on the one before (-c), so a package has the same version in all three.
UV_VERSION := 0.13.8
UV_COMPILE = $(VENV)/bin/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock" $(LOCK_ARGS)
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet uv==$(UV_VERSION)
	$(UV_COMPILE) -o requirements.txt requirements.in
	$(UV_COMPILE) -c requirements.txt -o requirements-dev.txt requirements-dev.in
	$(UV_COMPILE) -c requirements-dev.txt -o bench/requirements.txt bench/requirements.in

clean:
	rm -rf $(VENV) var/static
