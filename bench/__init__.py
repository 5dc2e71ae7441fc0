"""Benchmarks. Not part of the test suite: each prints a table and writes JSON to bench/results/."""
