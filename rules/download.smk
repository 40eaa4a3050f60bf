# Downloads: one rule per benchmark whose source has no local `path`, run on the submitting host
# (localrule) and throttled by the `downloads` resource (default: download.max_parallel; override
# with `--resources downloads=N`). The fetch itself (resume, retries, mirrors, Drive, digests) is
# nasbench_store.fetch; the rule only names the file. The source's locations are read from config
# when the job runs, not passed as params, so adding a mirror does not re-download a finished file.
# Builds that share a raw_dir (two checkouts, two users) take turns through the file lock
# `<file>.lock` that fetch holds around each download; the one that waited uses the verified file.
# The rule's output is this build's own link to the shared file (work_dir/raw/), never the shared
# file itself: Snakemake deletes a job's outputs before it runs and after it fails, which must not
# take the file away from another build.
DOWNLOAD = config.get("download", {})

if "downloads" not in workflow.global_resources:
    workflow.register_resource("downloads", DOWNLOAD.get("max_parallel", 2))

for _benchmark, _source in config["sources"].items():
    if _source.get("path"):
        continue

    rule:
        name:
            f"download_{_benchmark}"
        output:
            work("raw", raw_filename(_source)),
        log:
            log(f"download_{_benchmark}.log"),
        localrule: True
        conda:
            "../envs/nasbench-store.yaml"
        resources:
            downloads=1,
            mem_mb=300,
        params:
            benchmark=_benchmark,
            shared=str(RAW_DIR / raw_filename(_source)),
            # unused by the script: here so that a changed digest re-downloads the file
            digests={k: _source[k] for k in ("sha256", "md5") if k in _source},
            lock_file=DOWNLOAD.get("lock_file", "sources.lock.yaml"),
        script:
            "../scripts/fetch_raw.py"
