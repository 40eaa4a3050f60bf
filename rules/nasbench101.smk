# NAS-Bench-101: TFRecord -> byte-range shards (parallel) -> SQLite and Parquet (in parallel) -> publish.
NB101_SHARDS = config.get("nasbench101", {}).get("shards", 8)
NB101_PARTS = [work("nasbench101", "shards", f"{i}-of-{NB101_SHARDS}.parquet") for i in range(NB101_SHARDS)]
NB101_TABLES = ["nb101trialconfig", "nb101trialstats", "nb101intermediatestats"]

PUBLISHED_FILES["nasbench101"] = {
    "nasbench101.db": work("nasbench101", "nasbench101.db"),
    **{f"nasbench101/{t}.parquet": work("nasbench101", "parquet", f"{t}.parquet") for t in NB101_TABLES},
}


rule nb101_shard:
    input:
        raw=lambda wc: raw_file("nasbench101"),
    output:
        temp(work("nasbench101", "shards", "{i}-of-{n}.parquet")),
    log:
        log("nb101_shard_{i}-of-{n}.log"),
    threads: 1
    # Measured on the 2 GB file, 8 shards: 20 s and ~460 MB peak RSS each (more shards, less memory).
    # The extra covers the job's own snakemake process on a cluster (~280 MB under cgroups).
    resources:
        mem_mb=lambda wc, input: 800 + int(input.size_mb / int(wc.n)),
        runtime=15,
    conda:
        "../envs/nasbench-store.yaml"
    script:
        "../scripts/nb101_shard.py"


rule nb101_sqlite:
    input:
        raw=lambda wc: raw_file("nasbench101"),
        parts=NB101_PARTS,
    output:
        work("nasbench101", "nasbench101.db"),
    log:
        log("nb101_sqlite.log"),
    threads: 1
    resources:
        mem_mb=1500,  # measured on the 2 GB file: 916 MB peak RSS, 67 s
        runtime=30,
    conda:
        "../envs/nasbench-store.yaml"
    script:
        "../scripts/nb101_tables.py"


rule nb101_parquet:
    input:
        raw=lambda wc: raw_file("nasbench101"),
        parts=NB101_PARTS,
    output:
        [work("nasbench101", "parquet", f"{t}.parquet") for t in NB101_TABLES],
    log:
        log("nb101_parquet.log"),
    threads: 1
    resources:
        mem_mb=1500,  # measured on the 2 GB file: 772 MB peak RSS, 18 s
        runtime=30,
    conda:
        "../envs/nasbench-store.yaml"
    script:
        "../scripts/nb101_tables.py"
