# Shared by every rule file: resolved locations, the raw-file input function, and the registry of
# what each benchmark publishes. Only cheap parse-time logic lives here; real work is in the package.
from pathlib import Path

from nasbench_store.paths import default_store_dir
from nasbench_store.workflow import check_config, raw_filename, stale_publications

check_config(config)

STORE_DIR = Path(config.get("store_dir") or default_store_dir()).expanduser()
RAW_DIR = Path(config.get("raw_dir") or STORE_DIR / "raw").expanduser()
WORK_DIR = Path(config.get("work_dir") or STORE_DIR / ".build").expanduser()
BENCHMARKS = config["benchmarks"]

# benchmark -> {store-relative name: built file in WORK_DIR}; each rules/<benchmark>.smk fills its entry.
PUBLISHED_FILES = {}
# benchmark -> a JSON file in WORK_DIR whose keys are added to the benchmark's manifest entry.
PUBLISHED_EXTRA = {}


def work(*parts):
    return str(WORK_DIR.joinpath(*parts))


def log(*parts):
    return str(WORK_DIR.joinpath("logs", *parts))


def raw_file(benchmark):
    """The raw release of a benchmark: the configured local `path`, else the download in RAW_DIR."""
    source = config["sources"][benchmark]
    if source.get("path"):
        return str(Path(source["path"]).expanduser())
    return str(RAW_DIR / raw_filename(source))


def published(benchmark):
    return work("published", f"{benchmark}.json")


if workflow.is_main_process:  # not again inside each cluster job
    stale_publications(STORE_DIR, WORK_DIR)
