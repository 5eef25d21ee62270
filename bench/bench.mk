# Benchmarks (included by the main Makefile). Not part of `make test`; tests/bench/ runs a tiny version
# of each. Results: bench/results/*.json, rendered into docs/BENCHMARKS.md by bench/report.py.
.PHONY: bench bench-quality bench-ingest peer-venv bench-search bench-catalog-check bench-cold bench-auth bench-parse bench-cost bench-report

BENCH_RUN := HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m

# Everything, one after the other (each needs the whole machine for its timings).
bench: bench-quality bench-ingest bench-search bench-catalog-check bench-cold bench-auth bench-parse bench-cost

# SciFact through upload → queue → worker → index, 300 queries per mode: bench/results/scifact.json
bench-quality: install
	$(BENCH_RUN) bench.quality
	$(BENCH_RUN) bench.report

# The LlamaIndex peer of bench-ingest in a venv of its own (pins: bench/peer/requirements.txt),
# reinstalled only when they change. torch is pinned to the CPU build pip finds on this machine.
# --no-compile: byte-compiling all of torch took ~65 s of the ~100 s install; Python compiles the few
# modules the peer imports on first use instead.
PEER_VENV := .venv-peer
PEER_STAMP := $(PEER_VENV)/.installed-stamp

$(PEER_STAMP): bench/peer/requirements.txt
	test -x $(PEER_VENV)/bin/python || $(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-compile -r bench/peer/requirements.txt
	touch $@

peer-venv: $(PEER_STAMP)

# tests/bench's smoke run of bench.ingest runs the peer from .venv-peer: `make test` makes it first
# (prerequisites of a target accumulate across rules in GNU make, as infra.mk does for checkov).
test: peer-venv

# Quarry (upload window 48, then no window, a fresh stack each) beside LlamaIndex's IngestionPipeline on
# the same 1,500 documents, each against its raw encoder; Titan pool vs a latency-injected fake provider
bench-ingest: install peer-venv
	$(BENCH_RUN) bench.ingest
	$(BENCH_RUN) bench.concurrency
	$(BENCH_RUN) bench.report

# POST /search p50/p95/p99 per mode at 1k..100k chunks: bench/results/search.json, docs/bench-search-latency.png
bench-search: install
	$(BENCH_RUN) bench.search
	$(BENCH_RUN) bench.report

# What checking search hits against the catalog costs, with vs without, k=10 and 100: bench/results/catalog_check.json
bench-catalog-check: install
	$(BENCH_RUN) bench.catalog_check
	$(BENCH_RUN) bench.report

# import time of app.py under the prod stage, and deployment.zip size
bench-cold: install
	$(BENCH_RUN) bench.cold
	$(BENCH_RUN) bench.report

# What the token check and the per-tenant limit add to a request: bench/results/auth.json
bench-auth: install
	$(BENCH_RUN) bench.auth
	$(BENCH_RUN) bench.report

# The parser child's start-up, per-document overhead and effect on ingest, beside inline: bench/results/parse.json
bench-parse: install
	$(BENCH_RUN) bench.parse_child
	$(BENCH_RUN) bench.report

# What one SciFact document uses (tokens, bytes, chunks, stage times) and the monthly cost model built
# on it: bench/results/cost.json, the inputs of docs/COST.md
bench-cost: install
	$(BENCH_RUN) bench.cost
	$(BENCH_RUN) bench.cost_model

# Re-render docs/BENCHMARKS.md from bench/results/*.json
bench-report: install
	$(BENCH_RUN) bench.report
