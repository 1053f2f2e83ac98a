"""aiokv benchmarks: run them with ``python benchmarks/run.py --help``.

Nothing here asserts on timings; targets are printed with PASS/MISS for humans and CI logs.
"""
