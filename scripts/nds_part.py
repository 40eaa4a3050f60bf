"""Convert one NDS sweep file, streamed out of data.zip, into a Parquet part."""
from nasbench_store.nds.convert import convert_sweep
from nasbench_store.workflow import run_step

with run_step(snakemake) as log:
    rows = convert_sweep(snakemake.input.raw, snakemake.wildcards.sweep, snakemake.output[0])
    log.info("%s: %d trials", snakemake.wildcards.sweep, rows)
