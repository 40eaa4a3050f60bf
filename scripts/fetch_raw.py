"""Download, verify and publish one benchmark's raw file (rules/download.smk)."""
from nasbench_store.fetch import FetchOptions, fetch
from nasbench_store.workflow import run_step

with run_step(snakemake):
    benchmark = snakemake.params.benchmark
    fetch(snakemake.config["sources"][benchmark], snakemake.output[0], benchmark=benchmark,
          lock_file=snakemake.params.lock_file, options=FetchOptions.from_config(snakemake.config.get("download")))
