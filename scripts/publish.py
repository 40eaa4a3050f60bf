"""Install a benchmark's built files into the store and record them in manifest.json + SHA256SUMS."""
import json

from nasbench_store.atomic import atomic_path
from nasbench_store.manifest import publish
from nasbench_store.registry import get
from nasbench_store.workflow import run_step

with run_step(snakemake) as log:
    raw = json.loads(open(snakemake.input.raw).read())
    extra = json.loads(open(snakemake.input.extra[0]).read()) if snakemake.input.extra else None
    benchmark = get(snakemake.wildcards.benchmark)
    entry = publish(snakemake.params.store_dir, benchmark.name, snakemake.params.files, raw, extra,
                    records=snakemake.input.digests,
                    check=lambda: benchmark.check(snakemake.input.db, snakemake.input.parquet))
    log.info("published %s into %s: %s", snakemake.wildcards.benchmark, snakemake.params.store_dir, entry["tables"])
    with atomic_path(snakemake.output[0]) as tmp:
        tmp.write_text(json.dumps(entry, indent=2, sort_keys=True) + "\n")
