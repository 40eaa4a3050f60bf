"""Assemble NAS-Bench-201's tables from the parts: the SQLite database or the Parquet files."""
from pathlib import Path

from nasbench_store.nasbench201.convert import write_store
from nasbench_store.workflow import run_step

with run_step(snakemake) as log:
    out = Path(snakemake.output[0])
    if out.suffix == ".db":
        counts = write_store(snakemake.input.parts, db_path=out)
    else:
        counts = write_store(snakemake.input.parts, parquet_dir=out.parent)
    log.info("%s: %s", out, counts)
