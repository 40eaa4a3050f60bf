"""Write the demo's sample raw release with the project's fixture generator."""
from nasbench_store.nasbench101.synthetic import demo_cells, write_tfrecord
from nasbench_store.workflow import run_step

with run_step(snakemake):
    write_tfrecord(snakemake.output[0], demo_cells())
