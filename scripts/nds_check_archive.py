"""Check NDS's data.zip once before any conversion job: safe members, all 34 sweep files present."""
import json

from nasbench_store.atomic import atomic_path
from nasbench_store.nds.archive import check_archive
from nasbench_store.workflow import run_step

with run_step(snakemake) as log:
    sizes = check_archive(snakemake.input.raw)
    log.info("%s: %d sweep files, %.1f MB of JSON", snakemake.input.raw, len(sizes), sum(sizes.values()) / 1e6)
    with atomic_path(snakemake.output[0]) as tmp:
        tmp.write_text(json.dumps(sizes, indent=1) + "\n")
