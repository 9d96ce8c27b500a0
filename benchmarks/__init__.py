"""aucgan's speed benchmarks: ``python -m benchmarks`` (``make bench``) runs the suite in :mod:`benchmarks.suite`."""
