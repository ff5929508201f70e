"""The framework-free core the worker and the offline commands share (no I/O, no clocks)."""
