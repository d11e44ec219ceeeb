# Orchestra Hub: `make run` starts the hub, `make test` runs every test. Both set everything up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed

.PHONY: run test chaos bench lint install migrate clean chromium

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NPM_STAMP)

install: $(STAMP) $(NPM_STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

run: migrate
	$(BIN)/python manage.py serve

# The first pass runs every test on SQLite and the in-memory layer, except the schema fuzz; the
# second runs the database and channel-layer tests again (marker ``database``, set by
# tests/support/selection.py), and the fuzz, on the real PostgreSQL
# and Redis of this machine (the stricter database: it refuses what SQLite stores). pytest-django
# creates and drops a test_<name> database per worker; each worker has its own Redis prefix.
# TEST_WORKERS parallel workers (pytest-xdist) per pass, with --dist loadgroup: a free worker takes
# the next tests, a few at a time, in collection order (tests/support/selection.py puts the files
# that start processes first), and the tests of a file that share a module fixture (a hub, a
# browser) go together to one worker, which starts it once. (Not worksteal: a stolen test can run
# after a transactional test emptied the tables, which Django's order forbids.)
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/orchestra
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

TEST_WORKERS ?= 2
CHROMIUM ?= $(shell command -v chromium || echo /usr/bin/chromium)

# The console's browser tests drive Debian's Chromium; on a machine without it, `make test` installs
# it when it can (root with apt-get) and otherwise says loudly that those tests are skipped.
chromium:
	@test -x $(CHROMIUM) || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; } || true
	@test -x $(CHROMIUM) || echo "** No Chromium at $(CHROMIUM): the console's browser tests are SKIPPED (apt-get install chromium) **"

test: install chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup -m "not fuzz and not chaos"
	ORCHESTRA_DATABASE_URL=$(TEST_POSTGRES_URL) ORCHESTRA_REDIS_URL=$(TEST_REDIS_URL) \
		$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup -m "database and not slow and not cli and not chaos" orchestra_site orchestration projects agents tests/test_schema_fuzz.py

# The chaos test (tests/chaos, not part of `make test`): `serve` and two `runagents` on a private
# PostgreSQL (initdb into a temporary folder, its own port and socket folder; never the machine's)
# and the machine's Redis, running a DAG of agents while the database restarts and runners are
# killed or cut off. About two minutes.
CHAOS_PG_BIN ?= /usr/lib/postgresql/15/bin

chaos: install
	CHAOS_PG_BIN=$(CHAOS_PG_BIN) TEST_REDIS_URL=$(TEST_REDIS_URL) $(BIN)/pytest -m chaos -rA tests/chaos

bench: migrate
	$(BIN)/python -m bench

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

clean:
	rm -rf $(VENV) node_modules var
