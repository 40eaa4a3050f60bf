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
        "../scripts/nb101_demo_raw.py"


rule demo_nds_raw:
    output:
        "demo/raw/data.zip",
    log:
        log("demo_nds_raw.log"),
    localrule: True
    conda:
        "../envs/nasbench-store.yaml"
    script:
        "../scripts/nds_demo_raw.py"


rule demo_nasbench201_raw:
    output:
        "demo/raw/NAS-Bench-201-v1_1-096897.pth",
    log:
        log("demo_nasbench201_raw.log"),
    localrule: True
    conda:
        "../envs/nasbench-store.yaml"
    script:
        "../scripts/nb201_demo_raw.py"
