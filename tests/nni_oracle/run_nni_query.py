"""Run NNI's own benchmark code (nni==3.0) on a nasbench-store database and print the results as JSON.

Runs INSIDE the NNI venv made from tests/nni_oracle/requirements.txt, never in the project venv:
NNI needs peewee < 4 (playhouse.sqlite_ext.SqliteExtDatabase), the project uses peewee 4.

    python run_nni_query.py STORE_DIR BENCHMARK < request.json

BENCHMARK is nasbench101, nasbench201 or nds. The request is
    {"calls": [{kwargs of query_<b>_trial_stats}, ...], "probes": [{"op": ...}, ...]}
and the output is
    {"versions": {...}, "calls": [{"rows": [...]} or {"error": type, "message": str}, ...],
     "probes": [...]}
Probes read the file through NNI's peewee models directly: {"op": "count"} (rows per model),
{"op": "config", "where": {field: value}} (Config.get(**where) followed through its backrefs
trial_stats and intermediates), {"op": "hash_module"} (NAS-Bench-101 only: NNI's graph hash
of every stored arch, by config id), {"op": "schema"} (DDL text, columns, foreign keys and indexes of
the file next to those NNI's models create in an empty database).

Only NNI's benchmark modules run: the parent packages nni, nni.common, nni.nas and
nni.nas.benchmark are registered as bare packages, because their __init__ files import all of NNI
(torch, pytorch_lightning, scipy, ...). Every module that does run (nni/nas/benchmark/utils.py,
constants.py, nni/common/blob_utils.py, nni/nas/benchmark/<b>/*) is NNI's file, unmodified. The
database is bound the way NNI's load_benchmark binds it (SqliteExtDatabase(path, autoconnect=True)),
bypassing only its hash-suffixed file name and SHA-256 prefix check.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import sys
import types
from pathlib import Path

BENCHMARKS = {
    # benchmark: (db file in the store, query function, config, stats, intermediate model names)
    "nasbench101": ("nasbench101.db", "query_nb101_trial_stats", "Nb101TrialConfig", "Nb101TrialStats",
                    "Nb101IntermediateStats"),
    "nasbench201": ("nasbench201.db", "query_nb201_trial_stats", "Nb201TrialConfig", "Nb201TrialStats",
                    "Nb201IntermediateStats"),
    "nds": ("nds.db", "query_nds_trial_stats", "NdsTrialConfig", "NdsTrialStats", "NdsIntermediateStats"),
}


def load_nni_benchmark(benchmark: str) -> types.ModuleType:
    """Import nni.nas.benchmark.<benchmark> from the installed NNI without its parents' __init__."""
    if "nni.nas.benchmark" not in sys.modules:
        _register_bare_parents()
    return importlib.import_module(f"nni.nas.benchmark.{benchmark}")


def _register_bare_parents() -> None:
    spec = importlib.util.find_spec("nni")  # locates the package without executing nni/__init__.py
    if spec is None or not spec.submodule_search_locations:
        sys.exit("nni is not installed in this interpreter: use the NNI venv (tests/nni_oracle/requirements.txt)")
    root = Path(list(spec.submodule_search_locations)[0])
    for name, sub in (("nni", ""), ("nni.common", "common"), ("nni.nas", "nas"),
                      ("nni.nas.benchmark", "nas/benchmark")):
        package = types.ModuleType(name)
        package.__path__ = [str(root / sub)]
        sys.modules[name] = package


def bind(module: types.ModuleType, db_path: Path):
    from playhouse.sqlite_ext import SqliteExtDatabase
    if not db_path.is_file():  # SqliteExtDatabase would silently create an empty file
        sys.exit(f"{db_path} does not exist: build the store first")
    db = SqliteExtDatabase(str(db_path), autoconnect=True)  # what nni's load_benchmark returns
    module.schema.proxy.initialize(db)
    return db


def run_call(query, kwargs: dict) -> dict:
    try:
        return {"rows": list(query(**kwargs))}
    except Exception as exc:  # NNI's own errors are part of what is compared
        return {"error": type(exc).__name__, "message": str(exc)}


def _describe(conn, tables) -> dict:
    out = {}
    for t in tables:
        indexes = {}
        for _, name, unique, _origin, _partial in conn.execute(f'PRAGMA index_list("{t}")').fetchall():
            cols = [r[2] for r in conn.execute(f'PRAGMA index_info("{name}")').fetchall()]
            indexes[name] = {"unique": unique, "columns": cols}
        ddl = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL "
                           "ORDER BY type DESC, name", (t,)).fetchall()
        out[t] = {"ddl": [list(r) for r in ddl],
                  "columns": [list(r) for r in conn.execute(f'PRAGMA table_info("{t}")').fetchall()],
                  "foreign_keys": [list(r[2:5]) for r in conn.execute(f'PRAGMA foreign_key_list("{t}")')],
                  "indexes": dict(sorted(indexes.items()))}
    return out


def run_probe(probe: dict, models: list, db) -> object:
    from playhouse.shortcuts import model_to_dict
    from playhouse.sqlite_ext import SqliteExtDatabase
    config_model = models[0]
    if probe["op"] == "count":
        return {m.__name__: m.select().count() for m in models}
    if probe["op"] == "config":
        config = config_model.get(**probe["where"])
        return {**model_to_dict(config),
                "trial_stats": [{**model_to_dict(t, recurse=False),
                                 "intermediates": [model_to_dict(i, recurse=False) for i in t.intermediates]}
                                for t in config.trial_stats]}
    if probe["op"] == "hash_module":  # NAS-Bench-101: NNI's graph hash of every stored arch
        from nni.nas.benchmark.nasbench101.graph_util import hash_module, infer_num_vertices
        return {c.id: hash_module(c.arch, infer_num_vertices(c.arch)) for c in config_model.select()}
    if probe["op"] == "schema":
        tables = [m._meta.table_name for m in models]
        empty = SqliteExtDatabase(":memory:")
        with empty.bind_ctx(models):
            empty.create_tables(models)
            nni_schema = _describe(empty.connection(), tables)
        return {"nni": nni_schema, "store": _describe(db.connection(), tables),
                "store_tables": sorted(t for t in db.get_tables() if not t.startswith("sqlite_"))}
    raise ValueError(f"unknown probe {probe!r}")


def main(argv: list[str]) -> None:
    if len(argv) != 3 or argv[2] not in BENCHMARKS:
        sys.exit(f"usage: {argv[0]} STORE_DIR {{{','.join(BENCHMARKS)}}} < request.json")
    store, benchmark = Path(argv[1]), argv[2]
    filename, query_name, *model_names = BENCHMARKS[benchmark]
    request = json.load(sys.stdin)
    module = load_nni_benchmark(benchmark)
    db = bind(module, store / filename)
    query = getattr(module, query_name)
    models = [getattr(module, name) for name in model_names]
    result = {
        "versions": {p: importlib.metadata.version(p) for p in ("nni", "peewee")},
        "calls": [run_call(query, kwargs) for kwargs in request.get("calls", [])],
        "probes": [run_probe(p, models, db) for p in request.get("probes", [])],
    }
    db.close()
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main(sys.argv)
