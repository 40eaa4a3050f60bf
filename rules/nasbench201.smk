# NAS-Bench-201: NATS-tss archive (one job per slice of architectures) or legacy/zip .pth (one job per
# share of its bytes; each parses the pickle stream up to its share's end), in parallel -> parts ->
# SQLite and Parquet (rules/tables.smk) -> publish.
# Defined only when a nasbench201 source is configured (other benchmarks build without one).
if "nasbench201" in config["sources"]:
    NB201_RAW = raw_file("nasbench201")
    NB201_IS_NATS = NB201_RAW.endswith(".tar") or Path(NB201_RAW).is_dir()  # else a .pth: one pickle stream
    NB201_CONFIG = config.get("nasbench201", {})
    NB201_JOBS = NB201_CONFIG.get("jobs", 8) if NB201_IS_NATS else NB201_CONFIG.get("pth_jobs", 2)
    NB201_PARTS = [work("nasbench201", "parts", f"{i}-of-{NB201_JOBS}.parquet") for i in range(NB201_JOBS)]
    PARTS["nasbench201"] = NB201_PARTS
    ASSEMBLY_RESOURCES["nasbench201"] = {"sqlite_mem_mb": 1500, "parquet_mem_mb": 1500}
    # how many architectures the source had results for, recorded in the manifest
    PUBLISHED_EXTRA["nasbench201"] = work("nasbench201", "summary.json")

    rule nb201_part:
        input:
            raw=NB201_RAW,
        output:
            temp(work("nasbench201", "parts", "{i}-of-{n}.parquet")),
        log:
            log("nb201_part_{i}-of-{n}.log"),
        conda:
            "../envs/nasbench-store.yaml"
        resources:
            mem_mb=1000 if NB201_IS_NATS else 4000,  # a .pth job's reader keeps the stream's memo
            runtime=30,
        script:
            "../scripts/nb201_part.py"

    rule nb201_summary:
        input:
            parts=NB201_PARTS,
        output:
            work("nasbench201", "summary.json"),
        log:
            log("nb201_summary.log"),
        localrule: True  # reads one column of each part: seconds
        conda:
            "../envs/nasbench-store.yaml"
        resources:
            mem_mb=500,
            runtime=5,
        script:
            "../scripts/nb201_summary.py"
