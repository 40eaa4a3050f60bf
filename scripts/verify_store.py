"""Re-hash and re-check the published store; fail listing every problem found."""
from nasbench_store.verify import verify_store
from nasbench_store.workflow import run_step

with run_step(snakemake) as log:
    problems = verify_store(snakemake.params.store_dir, list(snakemake.params.benchmarks))
    for problem in problems:
        log.error("verify: %s", problem)
    if problems:
        raise SystemExit(f"verify: {len(problems)} problem(s) in {snakemake.params.store_dir}; see above")
    log.info("verify: %s intact in %s", ", ".join(snakemake.params.benchmarks), snakemake.params.store_dir)
