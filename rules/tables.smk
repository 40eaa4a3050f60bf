# Assembly, the same for every benchmark: its converted parts (PARTS, from rules/<benchmark>.smk)
# -> NNI's tables as a SQLite database and as Parquet files, two jobs side by side. Each is the
# registry's `write_store` of the benchmark (nasbench_store.<benchmark>.convert.write_store). Each
# job also records the digests of what it wrote, which publish re-checks before installing.


wildcard_constraints:
    benchmark="|".join(REGISTRY),


rule tables_sqlite:
    input:
        raw=lambda wc: raw_file(wc.benchmark),
        parts=lambda wc: PARTS[wc.benchmark],
    output:
        db=work("{benchmark}", "{benchmark}.db"),
        digests=work("{benchmark}", "digests", "sqlite.json"),
    log:
        log("tables_sqlite_{benchmark}.log"),
    conda:
        "../envs/nasbench-store.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc: ASSEMBLY_RESOURCES[wc.benchmark]["sqlite_mem_mb"],
        runtime=30,
    script:
        "../scripts/tables.py"


rule tables_parquet:
    input:
        raw=lambda wc: raw_file(wc.benchmark),
        parts=lambda wc: PARTS[wc.benchmark],
        raw_digest=work("{benchmark}", "raw-digest.json"),  # provenance in each file's metadata
    output:
        parquet=directory(work("{benchmark}", "parquet")),
        digests=work("{benchmark}", "digests", "parquet.json"),
    log:
        log("tables_parquet_{benchmark}.log"),
    conda:
        "../envs/nasbench-store.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc: ASSEMBLY_RESOURCES[wc.benchmark]["parquet_mem_mb"],
        runtime=30,
    script:
        "../scripts/tables.py"
