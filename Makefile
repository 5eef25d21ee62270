# Quarry: `make local` runs the whole system on this machine; `make test` runs every test.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install local test lint unit contract integration e2e ingest redrive reembed clean

# Reinstall only when a requirements file changes. torch is pinned to the CPU build that pip finds
# locally; any looser pin would pull several GB of CUDA packages.
$(STAMP): requirements.txt requirements-local.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(STAMP)

local: install
	$(BIN)/python -m devstack up

test: install lint
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

unit contract integration e2e: install
	$(BIN)/python -m pytest tests/$@

# Upload every file under DIR through the running API: make ingest DIR=path/to/files
ingest: install
	@test -n "$(DIR)" || (echo "usage: make ingest DIR=path/to/files" && exit 2)
	$(BIN)/python -m devstack ingest "$(DIR)"

redrive: install
	$(BIN)/python -m devstack redrive

# Re-embed the live index with another model and switch search to it: make reembed MODEL=minilm
reembed: install
	@test -n "$(MODEL)" || (echo "usage: make reembed MODEL=minilm|hashing|titan" && exit 2)
	$(BIN)/python -m devstack reembed --model "$(MODEL)"

clean:
	rm -rf build .quarry .pytest_cache .ruff_cache

-include infra/infra.mk
-include bench/bench.mk
