"""Assemble NAS-Bench-101's tables from the shard parts: the SQLite database or the Parquet files."""
from pathlib import Path

from nasbench_store.nasbench101.convert import iter_tables
from nasbench_store.nasbench101.schema import MODELS
from nasbench_store.tablewriter import write_tables
from nasbench_store.workflow import run_step

with run_step(snakemake) as log:
    out = Path(snakemake.output[0])
    target = {"db_path": out} if out.suffix == ".db" else {"parquet_dir": out.parent}
    counts = write_tables(MODELS, iter_tables(snakemake.input.raw, snakemake.input.parts), **target)
    log.info("%s: %s", out, counts)
