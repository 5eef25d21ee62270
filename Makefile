# Quarry: `make local` runs the whole system on this machine; `make test` runs every test.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install browser local test lint unit contract integration e2e clients screenshots ingest redrive reembed backfill clean

# Reinstall only when a requirements file changes. torch is pinned to the CPU build that pip finds
# locally; any looser pin would pull several GB of CUDA packages.
$(STAMP): requirements.txt requirements-local.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

install: $(STAMP)

# The browser tests drive the OS's Chromium: installed here when missing, as on a fresh CI machine.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
browser:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || \
		{ $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium chromium-driver; }

local: install
	$(BIN)/python -m devstack up

# Two pytest workers (pytest-xdist): most of the suite waits on subprocesses, moto and sockets, so two
# workers on two cores took the suite from 26 to 12 minutes here. Each worker has its own moto server.
test: install browser lint
	$(BIN)/python -m pytest -n 2

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

unit contract integration e2e: install
	$(BIN)/python -m pytest tests/$@

clients: install browser
	$(BIN)/python -m pytest tests/clients

# The README's screenshots of the web page, taken by the browser test itself.
screenshots: install browser
	QUARRY_SCREENSHOTS=docs $(BIN)/python -m pytest tests/clients/test_web_page.py -k real_browser

# Upload every file under DIR through the running API and follow it: make ingest DIR=path/to/files
# (`quarry upload --wait`, signed in as the local demo user unless QUARRY_USERNAME/QUARRY_PASSWORD say else).
ingest: install
	@test -n "$(DIR)" || (echo "usage: make ingest DIR=path/to/files" && exit 2)
	QUARRY_USERNAME=$${QUARRY_USERNAME:-demo} QUARRY_PASSWORD=$${QUARRY_PASSWORD:-$(if $(QUARRY_USERNAME),,Quarry-demo-1)} \
		$(BIN)/quarry upload --wait "$(DIR)"

redrive: install
	$(BIN)/python -m devstack redrive

# Re-embed the live index with another model and switch search to it: make reembed MODEL=minilm
reembed: install
	@test -n "$(MODEL)" || (echo "usage: make reembed MODEL=minilm|hashing|titan" && exit 2)
	$(BIN)/python -m devstack reembed --model "$(MODEL)"

# Ingest every object already in the running stack's raw bucket (idempotent): make backfill [PREFIX=tenants/acme/]
backfill: install
	$(BIN)/python -m devstack backfill --prefix "$(PREFIX)"

clean:
	rm -rf build .quarry .pytest_cache .ruff_cache

-include infra/infra.mk
-include bench/bench.mk
