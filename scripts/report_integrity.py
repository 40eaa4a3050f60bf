"""The report's integrity page: sources, raw digests, files, row counts, verify's result, versions."""
from nasbench_store.report.integrity import write_integrity
from nasbench_store.workflow import run_step

with run_step(snakemake) as log:
    problems = write_integrity(snakemake.params.store_dir, list(snakemake.params.benchmarks), snakemake.output[0],
                               dict(snakemake.params.sources))
    for problem in problems:  # shown on the page; the report is still made, so the damage can be seen there
        log.warning("verify: %s", problem)
    log.info("report: integrity of %s: %s", snakemake.params.store_dir,
             f"{len(problems)} problem(s)" if problems else "verify passed")
