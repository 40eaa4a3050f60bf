# nasbench-store: raw NAS benchmark releases -> verified SQLite + Parquet stores.
#   snakemake --cores 2                      build every benchmark in config.yaml (target `all`)
#   snakemake --cores 2 nasbench101          one benchmark
#   snakemake --cores 2 verify               re-hash and re-check the published store
import gc
import os

# Snakemake has made ~140,000 objects before it reads this file; the imports below would set off a
# full collection over all of them, and exit another: freezing them (they live as long as the
# process anyway) takes ~0.3 s of CPU off every parse, e.g. `snakemake -n` after a build.
gc.freeze()

from snakemake.utils import min_version

from nasbench_store.workflow import validate_config

min_version("8.20")


# The workflow's own config.yaml, also with `--directory DIR`; `--configfile` files merge over it.
configfile: os.path.join(workflow.basedir, "config.yaml")


# One short line per problem (key path, closest valid key), not Snakemake's dump of the schema.
# A config that passed is remembered in .snakemake/ (later parses skip the jsonschema import).
validate_config(
    config,
    os.path.join(workflow.basedir, "schemas", "config.schema.yaml"),
    cache=os.path.join(".snakemake", "nasbench-store", "validated-config.json"),
)


include: "rules/common.smk"
include: "rules/download.smk"


for _benchmark in REGISTRY:  # rules/<benchmark>.smk: the benchmark's own conversion jobs

    include: f"rules/{_benchmark}.smk"


include: "rules/tables.smk"
include: "rules/publish.smk"
include: "rules/report.smk"


if config.get("demo"):

    include: "rules/demo.smk"


rule all:
    default_target: True
    input:
        [published(b) for b in BENCHMARKS],


for _benchmark in REGISTRY:  # one target per benchmark: `snakemake nasbench101`

    rule:
        name:
            _benchmark
        input:
            published(_benchmark),
        localrule: True


rule verify:
    input:
        [published(b) for b in BENCHMARKS],
    log:
        log("verify.log"),
    localrule: True
    conda:
        "envs/nasbench-store.yaml"
    params:
        store_dir=STORE_DIR,
        benchmarks=BENCHMARKS,
    script:
        "scripts/verify_store.py"
