# NAS-Bench-101: TFRecord -> byte-range shards (parallel) -> SQLite and Parquet (rules/tables.smk) -> publish.
NB101_SHARDS = config.get("nasbench101", {}).get("shards", 8)
NB101_PARTS = [work("nasbench101", "shards", f"{i}-of-{NB101_SHARDS}.parquet") for i in range(NB101_SHARDS)]
PARTS["nasbench101"] = NB101_PARTS
# measured on the 2 GB file: SQLite 916 MB peak RSS, 67 s; Parquet 772 MB, 18 s
ASSEMBLY_RESOURCES["nasbench101"] = {"sqlite_mem_mb": 1500, "parquet_mem_mb": 1500}


rule nb101_shard:
    input:
        raw=lambda wc: raw_file("nasbench101"),
    output:
        temp(work("nasbench101", "shards", "{i}-of-{n}.parquet")),
    log:
        log("nb101_shard_{i}-of-{n}.log"),
    conda:
        "../envs/nasbench-store.yaml"
    threads: 1
    # Measured on the 2 GB file, 8 shards: 20 s and ~460 MB peak RSS each (more shards, less memory).
    # The extra covers the job's own snakemake process on a cluster (~280 MB under cgroups).
    resources:
        mem_mb=lambda wc, input: 800 + int(input.size_mb / int(wc.n)),
        runtime=15,
    script:
        "../scripts/nb101_shard.py"
