"""Convert one byte-range shard of the NAS-Bench-101 TFRecord into a bucketed Parquet part."""
from nasbench_store.nasbench101.convert import convert_shard
from nasbench_store.workflow import run_step

with run_step(snakemake) as log:
    info = convert_shard(snakemake.input.raw, int(snakemake.wildcards.i), int(snakemake.wildcards.n),
                         snakemake.output[0])
    log.info("shard %s: %s records from bytes %s to %s", info["index"], info["records"], info["start"], info["end"])
