# skyguard: `make run` serves with demo data, `make test` runs lint, types and every test.
# On a fresh Debian/Ubuntu machine both install what is missing first (PostgreSQL + PostGIS via
# apt, a .venv with skyguard).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
STAMP := $(VENV)/.installed

.PHONY: run test install system lint types pytest bench bench-history eval clean

run: install
	$(BIN)/skyguard serve --bootstrap

test: install lint types pytest

install: system $(STAMP)

# PostgreSQL and PostGIS: only when no server with PostGIS is installed.
system:
	@if ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 \
	    && ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then :; else \
	  echo "installing PostgreSQL and PostGIS"; \
	  $(SUDO) apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    postgresql postgresql-postgis python3-venv; \
	fi

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "skyguard needs Python 3.11+ (set PYTHON=...)"; exit 1; }
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e ".[dev]"
	@touch $(STAMP)

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types:
	$(BIN)/mypy skyguard tests migrations

pytest:
	$(BIN)/pytest -q -p no:cacheprovider

eval: install
	$(BIN)/python -m skyguard.tracks.evaluation

# issue 5: ingest throughput, report-to-alert latency and memory (engine alone, HTTP end to end,
# a PostGIS-only baseline) on workloads S and M; the report goes to .skyguard/bench/ingest.md
# and .json, and to stdout
bench: install
	$(BIN)/python -m skyguard.bench.ingest

# issue 4: the reviewer queries timed at 10 million stored reports (about 12 minutes on 2 cores)
bench-history: install
	$(BIN)/python -m skyguard.bench.history --roll-up

clean:
	-$(BIN)/skyguard db stop
	rm -rf $(VENV) .skyguard
