"""Benchmarks: the pull against the quota ceiling, normalising trace pages, tenant-wide aggregation over 5 million
rows, triage from the cache, and the notebooks from a cold kernel. ``python3 run.py bench`` runs them all and writes
``bench/RESULTS.md``; ``python -m bench --only pull,normalise --quick`` runs a part."""
