# The two commands: `make run` (sandbox, everything in the foreground) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export PIP_DISABLE_PIP_VERSION_CHECK = 1

.PHONY: run test test-services lint system-deps deps deps-dev clean

$(VENV)/.deps: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -r requirements.txt
	touch $@

$(VENV)/.deps-dev: $(VENV)/.deps requirements-dev.txt
	$(PIP) install -q -r requirements-dev.txt
	touch $@

system-deps:
	WITH_BROWSER=$(WITH_BROWSER) WITH_TEST_SERVICES=$(WITH_TEST_SERVICES) ./scripts/system-deps.sh

# The ETH daemon's tests run a real EVM node (ganache) and compile their ERC-20 with solc-js, both
# from the npm registry, installed exactly as locked (daemons/eth/node/package-lock.json).
ETH_NODE := daemons/eth/node
$(ETH_NODE)/node_modules/.package-lock.json: $(ETH_NODE)/package-lock.json
	$(ETH_NODE)/install.sh
	touch $@

deps: system-deps $(VENV)/.deps
deps-dev: system-deps $(VENV)/.deps-dev $(ETH_NODE)/node_modules/.package-lock.json

run: deps
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v 0
	$(PY) manage.py bootstrap_sandbox
	$(PY) manage.py supervisord_conf > data/supervisord.conf
	$(VENV)/bin/supervisord -n -c data/supervisord.conf

lint: $(VENV)/.deps-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	DJANGO_SETTINGS_MODULE=bitcart.settings.test $(PY) manage.py makemigrations --check --dry-run

# The suite runs on PostgreSQL, like CI (the row-lock and fault tests need it); a skipped test fails it.
test: WITH_BROWSER ?= 1
test: WITH_TEST_SERVICES ?= 1
test: export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
test: deps-dev test-services lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-services:
	./scripts/test-services.sh

clean:
	rm -rf $(VENV) data/supervisord.conf
