"""Download and verify one benchmark's raw file into raw_dir, and link it into this build (rules/download.smk)."""
from nasbench_store.fetch import FetchOptions, fetch, link_into_build
from nasbench_store.workflow import run_step

with run_step(snakemake):
    benchmark = snakemake.params.benchmark
    shared = fetch(snakemake.config["sources"][benchmark], snakemake.params.shared, benchmark=benchmark,
                   lock_file=snakemake.params.lock_file,
                   options=FetchOptions.from_config(snakemake.config.get("download")))
    link_into_build(shared, snakemake.output[0])
