"""Quarry's benchmarks: `make bench` (see docs/BENCHMARKS.md). Never imported by the app."""
