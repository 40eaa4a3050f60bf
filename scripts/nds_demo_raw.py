"""Write the demo's sample NDS data.zip with the project's fixture generator."""
from nasbench_store.nds.synthetic import write_nds_zip
from nasbench_store.workflow import run_step

with run_step(snakemake):
    write_nds_zip(snakemake.output[0], records_per_file=4, max_ep=5, seed=0)
