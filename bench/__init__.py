"""Benchmarks for breachindex: run on demand, print ratios against the baselines beside them."""
