"""Convert one job's share of NAS-Bench-201 into a Parquet part: the whole .pth, or a slice of a NATS archive."""
from nasbench_store.nasbench201.convert import convert_part
from nasbench_store.workflow import run_step

with run_step(snakemake) as log:
    info = convert_part(snakemake.input.raw, snakemake.output[0], int(snakemake.wildcards.i),
                        int(snakemake.wildcards.n))
    log.info("part %s of %s: %s architectures with results, %s trials", info["index"], info["count"],
             info["archs"], info["trials"])
