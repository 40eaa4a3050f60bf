"""Draw a benchmark's report plots from its published store (nasbench_store.report.plots)."""
from nasbench_store.report.plots import draw
from nasbench_store.workflow import run_step

with run_step(snakemake) as log:
    draw(snakemake.params.benchmark, snakemake.params.store_dir, dict(snakemake.output.items()))
    log.info("report: %d plots of %s in %s", len(snakemake.output), snakemake.params.benchmark,
             snakemake.params.store_dir)
