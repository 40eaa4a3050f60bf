"""Parse-time helpers for the Snakemake workflow: config checks the JSON schema cannot express."""
from __future__ import annotations

import contextlib
import json
import logging
import resource
import sys
import time
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlparse

from .errors import ConfigError


def check_config(config: dict) -> None:
    """Every benchmark to build has a source; a local `path` exists. Raise ConfigError naming the key."""
    sources = config.get("sources") or {}
    generated = bool(config.get("demo"))  # the demo makes its raw files in the workflow
    for benchmark in config["benchmarks"]:
        source = sources.get(benchmark)
        if not source:
            raise ConfigError(f"config: benchmarks lists {benchmark!r} but sources.{benchmark} is missing; "
                              f"add sources.{benchmark}.url (+ sha256) or sources.{benchmark}.path")
        if source.get("path") and not generated and not Path(source["path"]).expanduser().exists():
            raise ConfigError(f"config: sources.{benchmark}.path = {source['path']!r} does not exist; "
                              f"fix the path or remove it to download from sources.{benchmark}.url")


def raw_filename(source: dict) -> str:
    """File name a source downloads to: `filename` if given, else the last part of the URL."""
    if source.get("filename"):
        return source["filename"]
    if source.get("url"):
        name = Path(unquote(urlparse(source["url"]).path)).name
        if name:
            return name
    raise ConfigError(f"config: cannot tell the file name of source {source}; set its `filename`")


def stale_publications(store_dir: Path, work_dir: Path) -> list[str]:
    """Remove publication stamps that the store no longer matches, so Snakemake republishes them.

    Published files are installed by the publish step rather than declared as outputs (Snakemake
    deletes a job's outputs before running it, which would take the store away from readers
    during a rebuild); this check is what still makes a store file, `manifest.json` or
    `SHA256SUMS` deleted by hand (or a manifest entry that differs from what was published)
    trigger a republish. Cheap: sizes and the manifest, no hashing.
    """
    try:
        manifest = json.loads((store_dir / "manifest.json").read_text())["benchmarks"]
        sums = (store_dir / "SHA256SUMS").read_text()
    except (ValueError, KeyError, TypeError, OSError):
        manifest, sums = {}, ""
    removed = []
    for stamp in sorted((work_dir / "published").glob("*.json")):
        try:
            entry = json.loads(stamp.read_text())
            intact = manifest.get(stamp.stem) == entry and all(
                (store_dir / rel).is_file() and (store_dir / rel).stat().st_size == info["size"]
                and f"{info['sha256']}  {rel}\n" in sums
                for rel, info in entry["files"].items())
        except (ValueError, KeyError, TypeError, OSError):
            intact = False
        if not intact:
            stamp.unlink(missing_ok=True)
            removed.append(stamp.stem)
    return removed


@contextlib.contextmanager
def run_step(smk) -> Iterator[logging.Logger]:
    """Log a Snakemake script's start, end, wall time and peak RSS to its log file (and stderr)."""
    logger = logging.getLogger("nasbench_store")
    logger.setLevel(logging.INFO)
    handlers = [logging.StreamHandler(sys.stderr)]
    if smk.log:
        Path(smk.log[0]).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(smk.log[0], mode="w"))
    for h in handlers:
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(h)
    started = time.perf_counter()
    logger.info("rule %s started", smk.rule)
    try:
        yield logger
    except Exception as exc:
        logger.error("rule %s failed: %s", smk.rule, exc)
        raise
    finally:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        logger.info("rule %s finished in %.1f s, peak RSS %.0f MB, CPU %.1f s", smk.rule,
                    time.perf_counter() - started, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)
        for h in handlers:
            logger.removeHandler(h)
            h.close()


def compare_raw_digest(path, source: dict, digest: dict, benchmark: str, log: logging.Logger) -> dict:
    """Compare a raw input with the configured digest; return the manifest's `raw` entry.

    A downloaded file was already verified by the download step. A local `path` wins over the
    `url` and its digest: it is the user's explicit choice (often their copy of the release,
    sometimes a sample), so a mismatch is logged and recorded in the manifest, not fatal.
    """
    expected = source.get("sha256")
    entry = dict(digest)
    if expected:
        entry["matches_configured_sha256"] = digest["sha256"] == expected
        if not entry["matches_configured_sha256"]:
            log.warning("%s: sha256 %s differs from sources.%s.sha256 %s; this is not that release, "
                        "and the manifest will say so", path, digest["sha256"], benchmark, expected)
    return entry
