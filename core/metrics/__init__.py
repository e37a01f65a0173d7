"""Measured numbers: complexity, size, latency, peak memory, accuracy."""
