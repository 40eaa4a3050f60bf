"""Parse-time helpers for the Snakemake workflow: the config's schema check with short messages,
checks the JSON schema cannot express (sources, the kind of each local `path`), and run_step."""
from __future__ import annotations

import contextlib
import difflib
import json
import logging
import os
import resource
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

from . import extensions
from .errors import ConfigError
from .registry import get

_SPECIAL_FILES = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                  (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def check_config(config: dict) -> None:
    """Every benchmark to build has a source, and its local `path` is something the benchmark reads.

    Raise ConfigError naming the key, the path and what was expected. Nothing is opened: a FIFO
    or a device is refused from its mode, before anything could wait on it.
    """
    sources = config.get("sources") or {}
    generated = bool(config.get("demo"))  # the demo makes its raw files in the workflow
    for benchmark in config["benchmarks"]:
        source = sources.get(benchmark)
        if not source:
            raise ConfigError(f"config: benchmarks lists {benchmark!r} but sources.{benchmark} is missing; "
                              f"add sources.{benchmark}.url (+ sha256) or sources.{benchmark}.path")
        if source.get("path"):
            check_raw_path(benchmark, source["path"], missing_ok=generated)


def check_raw_path(benchmark: str, value: str, missing_ok: bool = False) -> None:
    """`sources.<benchmark>.path` exists, is readable and is of a kind its registry entry accepts (`raw`)."""
    kind = get(benchmark).raw
    path = Path(value).expanduser()
    where, expected = f"config: sources.{benchmark}.path = {value!r}", f"expected {kind.expected}"
    try:
        mode = path.stat().st_mode  # follows links: the kind of what the link points to
    except FileNotFoundError:
        if missing_ok:
            return
        raise ConfigError(f"{where} does not exist; fix the path or remove it to download "
                          f"from sources.{benchmark}.url") from None
    except OSError as exc:  # a parent directory that may not be searched, a loop of links, ...
        raise ConfigError(f"{where} cannot be looked at ({exc.strerror}); {expected}") from None
    is_dir = stat.S_ISDIR(mode)
    if not (is_dir or stat.S_ISREG(mode)):
        what = next((name for test, name in _SPECIAL_FILES if test(mode)), "a special file")
        raise ConfigError(f"{where} is {what}, not a regular file or directory (reading it could wait "
                          f"forever); {expected}")
    if is_dir and not kind.directory_holds:
        raise ConfigError(f"{where} is a directory; {expected}")
    if not is_dir and kind.file_suffixes and path.suffix not in kind.file_suffixes:
        raise ConfigError(f"{where} is a file ending in {path.suffix or 'no suffix'!r}, not "
                          f"{' or '.join(kind.file_suffixes)}; {expected}")
    if not os.access(path, os.R_OK | os.X_OK if is_dir else os.R_OK):
        raise ConfigError(f"{where} is not readable by this user (permission denied); {expected}, "
                          f"readable by the user running the build")
    if is_dir and not (path / kind.directory_holds).is_file():
        raise ConfigError(f"{where} is a directory without {kind.directory_holds}"
                          f"{_holder_below(path, kind.directory_holds)}; {expected}")


def _holder_below(directory: Path, name: str) -> str:
    """' (did you mean SUB?)' when one subdirectory holds `name`: the user named its parent."""
    try:
        holders = [e.path for e in os.scandir(directory) if e.is_dir() and os.path.isfile(os.path.join(e.path, name))]
    except OSError:
        return ""
    return f" (did you mean {holders[0]!r}?)" if len(holders) == 1 else ""


def validate_config(config: dict, schema_path: str | Path, cache: str | Path | None = None) -> None:
    """Check `config` against the JSON schema; ConfigError with one short line per problem.

    Snakemake's own `validate` prints the whole schema; this names the key path and, for a
    misspelt key or value, the closest valid one. Like `validate`, it fills in schema defaults.

    With `cache` (a file; the workflow keeps it under .snakemake/), a config that passed with the
    same schema and this same checker is not checked again: its filled-in form is read back from
    the file. That spares every later parse (`snakemake -n`, each cluster job) the jsonschema
    import. A config that fails is never cached.
    """
    schema_text = Path(schema_path).read_text()
    key = _validation_key(config, schema_text) if cache else None
    if key and _filled_from_cache(config, Path(cache), key):
        return
    _validate(config, schema_text)
    if key:
        _remember_validated(config, Path(cache), key)


def _validation_key(config: dict, schema_text: str) -> str | None:
    """Digest of the config, the schema and this module's code (None: the config is not plain JSON)."""
    import hashlib
    try:
        text = json.dumps(config, sort_keys=True)
    except (TypeError, ValueError):
        return None
    h = hashlib.sha256()
    for part in (text, schema_text, Path(__file__).read_text()):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _filled_from_cache(config: dict, cache: Path, key: str) -> bool:
    """Fill in `config` as the cached validation of the same key did; False on any miss."""
    try:
        record = json.loads(cache.read_text())
        if record.get("key") != key:
            return False
        filled = record["config"]
        candidate = json.loads(json.dumps(config))
        _set_missing(candidate, filled)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    if candidate != filled:
        return False
    _set_missing(config, filled)
    return True


def _set_missing(config: dict, filled: dict) -> None:
    """Add, in place, the keys (defaults) that `filled` has and `config` lacks, at every depth."""
    for name, value in filled.items():
        if name not in config:
            config[name] = value
        elif isinstance(config[name], dict) and isinstance(value, dict):
            _set_missing(config[name], value)


def _remember_validated(config: dict, cache: Path, key: str) -> None:
    text = json.dumps({"key": key, "config": config}, sort_keys=True)
    if json.loads(text)["config"] != config:  # would not read back equal (a tuple, a non-str key)
        return
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.replace(cache)
    except OSError:  # a read-only working directory: validate every time
        pass


def _validate(config: dict, schema_text: str) -> None:
    import yaml
    from jsonschema import Draft202012Validator, validators

    schema = yaml.safe_load(schema_text)
    base_properties = Draft202012Validator.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if isinstance(subschema, dict) and "default" in subschema:
                    instance.setdefault(name, subschema["default"])
        yield from base_properties(validator, properties, instance, schema)

    validator_class = validators.extend(Draft202012Validator, {"properties": properties_with_defaults})
    problems: list[str] = []
    unknown_at: set[tuple] = set()
    errors = sorted(validator_class(schema).iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    for error in errors:
        if error.validator == "additionalProperties":
            unknown_at.add(tuple(error.absolute_path))
    for error in errors:
        line = _schema_problem(error, unknown_at)
        if line and line not in problems:
            problems.append(line)
    if problems:
        raise ConfigError("\n".join(problems))


def _key_path(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _where(parts) -> str:
    return f"in {_key_path(parts)}" if len(parts) else "at top level"


def _closest(word, candidates) -> str:
    """'; did you mean X?' for the valid value closest to `word`, else the list of valid values."""
    candidates = [str(c) for c in candidates]
    match = difflib.get_close_matches(str(word), candidates, n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else f"; valid: {', '.join(candidates)}"


def _schema_problem(error, unknown_at: set[tuple]) -> str | None:
    """One line for one jsonschema error: the key path and what is wrong, never the schema."""
    parts = list(error.absolute_path)
    key = _key_path(parts)
    if error.validator == "additionalProperties":
        known = error.schema.get("properties", {})
        extra = sorted(k for k in error.instance if k not in known)
        return "\n".join(f"config: unknown key {k!r} {_where(parts)}{_closest(k, known)}" for k in extra)
    if "propertyNames" in error.relative_schema_path:  # a key outside an enum of names (sources.<benchmark>)
        name = error.instance
        return f"config: unknown key {name!r} {_where(parts)}{_closest(name, error.validator_value)}"
    if error.validator == "enum":
        return (f"config: {key}: {error.instance!r} is not one of "
                f"{', '.join(map(str, error.validator_value))}{_closest(error.instance, error.validator_value)}")
    if error.validator == "anyOf" and error.context and all(e.validator == "required" for e in error.context):
        if tuple(parts) in unknown_at:  # the misspelt key was reported: that is the problem to fix
            return None
        names = [e.validator_value[0] if len(e.validator_value) == 1 else "+".join(e.validator_value)
                 for e in error.context]
        return f"config: {key} needs one of {', '.join(names)}"
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return f"config: missing key {', '.join(map(repr, missing))} {_where(parts)}"
    message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
    about = error.schema.get("description") if isinstance(error.schema, dict) else None
    return f"config: {key or 'top level'}: {message}" + (f" ({about})" if about else "")


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
        if extensions.USED:
            logger.info("C extensions (c) or their pure-Python paths (python): %s", extensions.used())
        for h in handlers:
            logger.removeHandler(h)
            h.close()


def compare_raw_digest(path, source: dict, digest: dict, benchmark: str, log: logging.Logger) -> dict:
    """Compare a raw input with the configured digests; return the manifest's `raw` entry.

    A downloaded file was already verified by the download step. A local `path` wins over the
    `url` and its digest: it is the user's explicit choice (often their copy of the release,
    sometimes a sample), so a mismatch is logged and recorded in the manifest
    (`matches_configured_sha256` / `matches_configured_md5`), not fatal. Only files have a
    published digest: a directory (an extracted NATS-tss archive) is recorded by its tree digest.
    """
    from .fetch.digests import expected_digests, file_digests

    expected = expected_digests(source, benchmark)
    entry = dict(digest)
    if not expected:
        return entry
    if digest.get("kind") == "directory":
        log.info("%s is a directory: a directory has no published digest, so sources.%s.%s is not compared; "
                 "the manifest records the directory's tree digest", path, benchmark, " / ".join(expected))
        return entry
    actual = {algo: digest[algo] for algo in expected if algo in digest}
    missing = [algo for algo in expected if algo not in actual]
    if missing:  # md5 (NAS-Bench-201) is not among the manifest's digests: one more pass over the file
        actual.update(file_digests(Path(path), missing))
    for algo, want in expected.items():
        entry[f"matches_configured_{algo}"] = actual[algo] == want
        if actual[algo] != want:
            log.warning("%s: %s %s differs from sources.%s.%s %s; this is not that release, "
                        "and the manifest will say so", path, algo, actual[algo], benchmark, algo, want)
    return entry
