"""Assemble NAS-Bench-101's tables from the shard parts: the SQLite database or the Parquet files."""
from pathlib import Path

from nasbench_store.nasbench101.convert import iter_tables
from nasbench_store.nasbench101.schema import MODELS
from nasbench_store.tablewriter import ParquetTables, SqliteTables
from nasbench_store.workflow import run_step

with run_step(snakemake):
    out = Path(snakemake.output[0])
    writer = SqliteTables(out, MODELS) if out.suffix == ".db" else ParquetTables(out.parent, MODELS)
    with writer:
        for name, table in iter_tables(snakemake.input.raw, snakemake.input.parts):
            writer.write(name, table)
