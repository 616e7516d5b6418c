"""Runnable measurements that write JSON to benchmarks/results/ (never part of the test suite)."""
