"""NAS-Bench-101, NAS-Bench-201 and NDS as verified SQLite + Parquet stores.

The query functions mirror NNI's benchmark API; see the per-benchmark subpackages.
"""
__version__ = "0.1.0"
