"""Hash a benchmark's raw input for the manifest and compare it with the configured digest."""
import json

from nasbench_store.atomic import atomic_path
from nasbench_store.manifest import raw_digest
from nasbench_store.workflow import compare_raw_digest, run_step

with run_step(snakemake) as log:
    path = snakemake.input[0]
    entry = compare_raw_digest(path, snakemake.params.source, raw_digest(path), snakemake.wildcards.benchmark, log)
    with atomic_path(snakemake.output[0]) as tmp:
        tmp.write_text(json.dumps(entry, sort_keys=True) + "\n")
