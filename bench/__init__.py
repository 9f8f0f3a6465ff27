"""zoo benchmarks: `python -m bench --help`."""
