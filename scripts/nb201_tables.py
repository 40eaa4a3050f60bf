"""Assemble NAS-Bench-201's tables from the parts: the SQLite database (and a summary of what the
source covered, for the manifest) or the Parquet files."""
import json
from pathlib import Path

from nasbench_store.atomic import atomic_path
from nasbench_store.nasbench201.convert import write_store
from nasbench_store.workflow import run_step

with run_step(snakemake) as log:
    out = Path(snakemake.output[0])
    if out.suffix == ".db":
        counts = write_store(snakemake.input.parts, db_path=out)
        with atomic_path(snakemake.output.summary) as tmp:
            tmp.write_text(json.dumps({"meta_archs": counts["meta_archs"],
                                       "archs_with_results": counts["archs_with_results"]}, sort_keys=True) + "\n")
    else:
        counts = write_store(snakemake.input.parts, parquet_dir=out.parent)
    log.info("%s: %s", out, counts)
