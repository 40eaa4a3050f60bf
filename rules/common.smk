# Shared by all the rules files: resolved locations, the raw-file input function, and what each
# benchmark publishes (derived from the registry, nasbench_store.registry). Only cheap parse-time
# logic lives here; real work is in the package.
from pathlib import Path

from nasbench_store.paths import default_store_dir
from nasbench_store.registry import BENCHMARKS as REGISTRY
from nasbench_store.workflow import check_config, raw_filename, stale_publications

check_config(config)

STORE_DIR = Path(config.get("store_dir") or default_store_dir()).expanduser()
RAW_DIR = Path(config.get("raw_dir") or STORE_DIR / "raw").expanduser()
WORK_DIR = Path(config.get("work_dir") or STORE_DIR / ".build").expanduser()
BENCHMARKS = config["benchmarks"]

# Filled by each rules/<benchmark>.smk: the parts its conversion jobs write (assembled by
# rules/tables.smk), the assembly jobs' resources, and optionally a JSON file in WORK_DIR whose
# keys are added to the benchmark's manifest entry.
PARTS = {}
ASSEMBLY_RESOURCES = {}
PUBLISHED_EXTRA = {}


def work(*parts):
    return str(WORK_DIR.joinpath(*parts))


def log(*parts):
    return str(WORK_DIR.joinpath("logs", *parts))


def raw_file(benchmark):
    """The raw release of a benchmark: the configured local `path`, else this build's link to the
    download in RAW_DIR (rules/download.smk)."""
    source = config["sources"][benchmark]
    if source.get("path"):
        return str(Path(source["path"]).expanduser())
    return work("raw", raw_filename(source))


def built_db(benchmark):
    return work(benchmark, REGISTRY[benchmark].db_filename)


def built_parquet(benchmark):
    return work(benchmark, "parquet")


def built_digests(benchmark):
    """The digest records the assembly jobs write next to what they built (checked by publish)."""
    return [work(benchmark, "digests", "sqlite.json"), work(benchmark, "digests", "parquet.json")]


def built_files(benchmark):
    """{store-relative name: built file in WORK_DIR} of everything the benchmark publishes."""
    entry = REGISTRY[benchmark]
    return {
        entry.db_filename: built_db(benchmark),
        **{entry.parquet_file(t): str(Path(built_parquet(benchmark), f"{t}.parquet")) for t in entry.stored_tables},
    }


def published(benchmark):
    return work("published", f"{benchmark}.json")


if workflow.is_main_process:  # not again inside each cluster job
    stale_publications(STORE_DIR, WORK_DIR)
