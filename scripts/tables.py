"""Assemble a benchmark's tables from its converted parts: the SQLite database or the Parquet files."""
import json
from pathlib import Path

from nasbench_store.manifest import record_digests
from nasbench_store.registry import get
from nasbench_store.tablewriter import provenance
from nasbench_store.workflow import run_step

with run_step(snakemake) as log:
    benchmark = snakemake.wildcards.benchmark
    out = Path(snakemake.output[0])
    if out.suffix == ".db":
        target = {"db_path": out}
    else:  # each Parquet file says where it comes from: the benchmark, its raw input, the project version
        raw_sha256 = json.loads(Path(snakemake.input.raw_digest).read_text())["sha256"]
        target = {"parquet_dir": out, "provenance": provenance(benchmark, raw_sha256)}
    counts = get(benchmark).write_store(snakemake.input.parts, raw=snakemake.input.raw, **target)
    log.info("%s: %s", out, counts)
    built = [out] if out.is_file() else sorted(out.glob("*.parquet"))
    record_digests(built, snakemake.output.digests)
