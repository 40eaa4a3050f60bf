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
    resources:
        mem_mb=1000,
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
    resources:
        mem_mb=1500,
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
    resources:
        mem_mb=1500,
        runtime=30,
    conda:
        "../envs/nasbench-store.yaml"
    script:
        "../scripts/nb101_tables.py"
