"""Assemble NDS's tables from the 34 parts: the SQLite database or the Parquet files."""
from pathlib import Path

from nasbench_store.nds.convert import parts_by_sweep, write_store
from nasbench_store.workflow import run_step

with run_step(snakemake) as log:
    out = Path(snakemake.output[0])
    parts = parts_by_sweep(snakemake.input.parts)
    if out.suffix == ".db":
        counts = write_store(parts, db_path=out)
    else:
        counts = write_store(parts, parquet_dir=out.parent)
    log.info("%s: %s", out, counts)
