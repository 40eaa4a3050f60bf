# Publish: hash the raw input and the built files, install them into the store atomically, and
# record them in manifest.json + SHA256SUMS. The store files are installed by the script, not
# declared as outputs, so readers never see them deleted during a rebuild (see stale_publications).


rule raw_digest:
    input:
        lambda wc: raw_file(wc.benchmark),
    output:
        work("{benchmark}", "raw-digest.json"),
    log:
        log("raw_digest_{benchmark}.log"),
    localrule: True  # seconds of hashing: not worth a cluster job and its queue wait
    conda:
        "../envs/nasbench-store.yaml"
    threads: 1
    resources:
        mem_mb=300,  # measured: 166-196 MB peak RSS, 2-7 s for the 2 GB NB101 file
        runtime=10,
    params:
        source=lambda wc: config["sources"][wc.benchmark],
    script:
        "../scripts/raw_digest.py"


rule publish:
    input:
        raw=work("{benchmark}", "raw-digest.json"),
        db=lambda wc: built_db(wc.benchmark),
        parquet=lambda wc: built_parquet(wc.benchmark),
        digests=lambda wc: built_digests(wc.benchmark),
        extra=lambda wc: [PUBLISHED_EXTRA[wc.benchmark]] if wc.benchmark in PUBLISHED_EXTRA else [],
    output:
        published("{benchmark}"),
    log:
        log("publish_{benchmark}.log"),
    localrule: True
    conda:
        "../envs/nasbench-store.yaml"
    params:
        store_dir=STORE_DIR,
        files=lambda wc: built_files(wc.benchmark),
    script:
        "../scripts/publish.py"
