"""Assemble a benchmark's tables from its converted parts: the SQLite database or the Parquet files."""
from pathlib import Path

from nasbench_store.manifest import record_digests
from nasbench_store.registry import get
from nasbench_store.workflow import run_step

with run_step(snakemake) as log:
    out = Path(snakemake.output[0])
    target = {"db_path": out} if out.suffix == ".db" else {"parquet_dir": out}
    counts = get(snakemake.wildcards.benchmark).write_store(snakemake.input.parts, raw=snakemake.input.raw, **target)
    log.info("%s: %s", out, counts)
    built = [out] if out.is_file() else sorted(out.glob("*.parquet"))
    record_digests(built, snakemake.output.digests)
