"""Record how many architectures the NAS-Bench-201 source lists and has results for (for the manifest)."""
import json

from nasbench_store.atomic import atomic_path
from nasbench_store.nasbench201.convert import summary
from nasbench_store.workflow import run_step

with run_step(snakemake) as log:
    counts = summary(snakemake.input.parts)
    log.info("%s", counts)
    with atomic_path(snakemake.output[0]) as tmp:
        tmp.write_text(json.dumps(counts, sort_keys=True) + "\n")
