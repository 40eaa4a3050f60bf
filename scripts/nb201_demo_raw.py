"""Write the demo's sample NAS-Bench-201 .pth with the project's fixture generator."""
from nasbench_store.nasbench201.synthetic import write_nb201_pth
from nasbench_store.workflow import run_step

with run_step(snakemake):
    write_nb201_pth(snakemake.output[0], num_archs=8, seed=0, arch_indexes=[0, 1, 2, 3, 5, 7])
