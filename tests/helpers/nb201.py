"""NAS-Bench-201 test helpers: the converter without the workflow."""
from __future__ import annotations

from pathlib import Path

from nasbench_store.nasbench201.convert import convert


def build(tmp: Path, raw: Path, name: str = "store", count: int = 1) -> tuple[Path, dict]:
    """Convert `raw` (in `count` jobs) into tmp/name/{nasbench201.db, *.parquet}."""
    out = tmp / name
    counts = convert(raw, out / "nasbench201.db", out, jobs=range(count), count=count, work_dir=tmp)
    return out, counts
