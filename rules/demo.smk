# Offline demo (demo/config.yaml): make the sample raw files with the project's own generators.


rule demo_nasbench101_raw:
    output:
        "demo/raw/nasbench_full.tfrecord",
    log:
        log("demo_nasbench101_raw.log"),
    localrule: True
    conda:
        "../envs/nasbench-store.yaml"
    script:
        "../scripts/demo_raw.py"
