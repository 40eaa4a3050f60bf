"""Byte-identity of the fixture stores across refactors: build them, digest them, compare.

`python tests/store_identity.py --write` records the digests of the current code's fixture builds
in tests/data/store-digests.json; `test_store_identity.py` rebuilds them and compares. Two digests
per published file: the file's sha256 (compared when pyarrow and SQLite are the versions that
recorded it, since both write their version into the file) and a content digest (every table's
schema and rows in order, Parquet row-group layout and key-value metadata included), always compared.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
from pathlib import Path

import pyarrow
import pyarrow.parquet as pq
from helpers import Workflow

from nasbench_store.database import connect_readonly

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "data" / "store-digests.json"


def versions() -> dict:
    return {"pyarrow": pyarrow.__version__, "sqlite": sqlite3.sqlite_version}


def _feed(h, value) -> None:
    h.update(repr(value).encode())
    h.update(b"\x00")


def content_digest(path: Path) -> str:
    """sha256 over what a reader sees: schema and rows (SQLite), or schema, metadata, layout and rows (Parquet)."""
    h = hashlib.sha256()
    if path.suffix == ".parquet":
        pf = pq.ParquetFile(path)
        _feed(h, pf.schema_arrow.to_string(show_schema_metadata=False))
        _feed(h, sorted((pf.schema_arrow.metadata or {}).items()))
        _feed(h, [pf.metadata.row_group(i).num_rows for i in range(pf.num_row_groups)])
        table = pf.read()
        for name in table.column_names:
            _feed(h, name)
            _feed(h, table.column(name).to_pylist())
        return h.hexdigest()
    conn = connect_readonly(path)
    try:
        _feed(h, conn.execute("PRAGMA page_size").fetchone())
        master = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()
        _feed(h, master)
        for kind, name, _, _ in master:
            if kind == "table":
                order = "" if name.startswith("sqlite_stat") else " ORDER BY rowid"
                rows = conn.execute(f'SELECT * FROM "{name}"{order}').fetchall()
                _feed(h, (name, sorted(rows) if not order else rows))
    finally:
        conn.close()
    return h.hexdigest()


def digest_store(store: Path) -> dict:
    """{store-relative name: {sha256, content}} for every published file, plus the manifest's sha256."""
    from nasbench_store.manifest import MANIFEST, sha256_file
    manifest = json.loads((store / MANIFEST).read_text())
    out = {}
    for entry in manifest["benchmarks"].values():
        for rel in entry["files"]:
            out[rel] = {"sha256": sha256_file(store / rel), "content": content_digest(store / rel)}
    out[MANIFEST] = {"sha256": sha256_file(store / MANIFEST)}
    return dict(sorted(out.items()))


def raw_files(base: Path) -> dict[str, Path]:
    """The fixture raw releases: the demo's three files, and a NATS-tss tar."""
    from nasbench_store.nasbench101.synthetic import demo_cells, write_tfrecord
    from nasbench_store.nasbench201.synthetic import write_nats_tss_archive, write_nb201_pth
    from nasbench_store.nds.synthetic import write_nds_zip
    base.mkdir(parents=True, exist_ok=True)
    return {
        "nasbench101": write_tfrecord(base / "nasbench_full.tfrecord", demo_cells()),
        "nasbench201": write_nb201_pth(base / "NAS-Bench-201-v1_1-096897.pth", num_archs=8, seed=0,
                                       arch_indexes=[0, 1, 2, 3, 5, 7]),
        "nds": write_nds_zip(base / "data.zip", records_per_file=4, max_ep=5, seed=0),
        "nats": write_nats_tss_archive(base / "NATS-tss-v1_0-3ffb9-simple.tar", num_archs=12, seed=1,
                                       arch_indexes=[0, 2, 3, 4, 6, 7, 8, 11])       ,
    }


def build_configs(raw: dict[str, Path], base: Path) -> dict[str, dict]:
    """Workflow configs of the golden builds, by name."""
    def config(name, benchmarks, sources, **extra):
        return {"store_dir": str(base / name / "store"), "work_dir": str(base / name / "work"),
                "benchmarks": benchmarks, "sources": sources, **extra}
    return {
        "demo": config("demo", ["nasbench101", "nasbench201", "nds"],
                       {b: {"path": str(raw[b])} for b in ("nasbench101", "nasbench201", "nds")},
                       nasbench101={"shards": 3}),
        "nats": config("nats", ["nasbench201"], {"nasbench201": {"path": str(raw["nats"])}},
                       nasbench201={"jobs": 3}),
    }


def build_and_digest(base: Path, env: dict | None = None) -> dict[str, dict]:
    """Build every fixture store (with `env` added to the workflow's environment); their digests."""
    raw = raw_files(base / "raw")
    out = {}
    for name, config in build_configs(raw, base).items():
        wf = Workflow(base / name / "wd", config)
        wf.run(env=env).check()
        out[name] = digest_store(wf.store)
    return out


if __name__ == "__main__":
    import tempfile
    if sys.argv[1:] != ["--write"]:
        raise SystemExit("usage: python tests/store_identity.py --write  (records the current code's digests)")
    with tempfile.TemporaryDirectory() as tmp:
        stores = build_and_digest(Path(tmp))
    GOLDEN.write_text(json.dumps({"versions": versions(), "stores": stores}, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
