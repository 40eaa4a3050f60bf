# NDS: data.zip -> archive check -> one part per sweep file (parallel) -> SQLite and Parquet (rules/tables.smk) -> publish.
import re

from nasbench_store.nds.constants import SWEEP_FILES, sweep_priority

NDS_PARTS = [work("nds", "parts", f"{s}.parquet") for s in SWEEP_FILES]
PARTS["nds"] = NDS_PARTS
ASSEMBLY_RESOURCES["nds"] = {"sqlite_mem_mb": 1000, "parquet_mem_mb": 1000}


rule nds_check_archive:
    input:
        raw=lambda wc: raw_file("nds"),
    output:
        work("nds", "archive-check.json"),
    log:
        log("nds_check_archive.log"),
    conda:
        "../envs/nasbench-store.yaml"
    resources:
        mem_mb=500,  # 200 ends OUT_OF_MEMORY under SLURM: a job's own snakemake needs ~280 MB
        runtime=5,
    script:
        "../scripts/nds_check_archive.py"


rule nds_part:
    input:
        raw=lambda wc: raw_file("nds"),
        checked=work("nds", "archive-check.json"),
    output:
        temp(work("nds", "parts", "{sweep}.parquet")),
    log:
        log("nds_part_{sweep}.log"),
    wildcard_constraints:
        sweep="|".join(re.escape(s) for s in SWEEP_FILES),
    priority: lambda wc: sweep_priority(wc.sweep)
    conda:
        "../envs/nasbench-store.yaml"
    resources:
        mem_mb=1000,
        runtime=15,
    script:
        "../scripts/nds_part.py"
