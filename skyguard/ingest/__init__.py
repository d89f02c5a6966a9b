"""Telemetry in: validate each report, persist the batch, evaluate it, emit alerts."""
