# The two commands a new machine needs: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
REQUIREMENTS := requirements/base.in requirements/local.in requirements/dev.in requirements/constraints.txt
STAMP := $(VENV)/.installed

.PHONY: install run test lint format clean chaos bench bench-scale chromium

$(STAMP): $(REQUIREMENTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/dev.in -c requirements/constraints.txt
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	scripts/run.sh

test: $(STAMP) chromium
	$(BIN)/pytest $(PYTEST_ARGS)

# The browser tests drive Debian's Chromium (Playwright cannot download its own browsers
# here). Without it they are skipped with the reason (CI's REQUIRE_SERVICES=1 fails them).
chromium:
	@test -x /usr/bin/chromium || { echo "Installing chromium (Debian package, browser tests)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); export DEBIAN_FRONTEND=noninteractive; \
		$$SUDO apt-get install -y -q chromium >/dev/null 2>&1 || \
		{ $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; } || \
		echo "chromium could not be installed: the browser tests will be skipped"; }

# The long chaos run (PostgreSQL and Redis on 127.0.0.1); CHAOS_ARGS="--purchases 500" etc.
chaos: $(STAMP)
	$(BIN)/python -m tests.chaos.run $(CHAOS_ARGS)

# The webhook benchmark (PostgreSQL on 127.0.0.1 and wrk); writes docs/benchmarks.md.
bench: $(STAMP)
	@command -v wrk >/dev/null || { echo "Installing wrk (Debian package)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y wrk || { $$SUDO apt-get update && $$SUDO apt-get install -y wrk; }; }
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# The read paths at a million rows (PostgreSQL on 127.0.0.1): bulk-loads two years of
# history, times health, metrics, admin, jobs and the webhook; writes docs/benchmarks.md.
# A quick try: make bench-scale BENCH_SCALE_ARGS="--scale-rows 50000"
bench-scale: $(STAMP)
	$(BIN)/python -m bench.run --scale $(BENCH_SCALE_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) staticfiles .run .pytest_cache .test-db.sqlite3*
