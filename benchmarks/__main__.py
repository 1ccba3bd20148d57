"""`python -m benchmarks`: Easel against plain diffusers (see benchmarks/compare.py)."""

from benchmarks.compare import main

main()
