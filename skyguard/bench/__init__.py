"""Benchmarks that measure skyguard against a realistic database."""
