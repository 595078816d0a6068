"""Performance harness: the real bot process against the loopback emulators.

Run ``python -m bench --help``; see bench/README.md and bench/RESULTS.md.
"""
