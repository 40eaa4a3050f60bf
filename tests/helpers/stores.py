"""Small published stores for the read-side tests (frames, report, examples): NAS-Bench-201 and NDS
built by the converters without the workflow, and one store directory holding all three benchmarks
with a manifest, as a build publishes them (NB101's files come from the session's `nb101_store`)."""
from __future__ import annotations

from pathlib import Path

from nasbench_store.manifest import publish, read_manifest, sha256_file
from nasbench_store.nasbench201.synthetic import write_nb201_pth
from nasbench_store.nds.synthetic import write_nds_zip
from nasbench_store.registry import get

from . import nb201, nds


def raw_entry(path: Path) -> dict:
    """The manifest's `raw` entry of a raw input, as raw_digest records it."""
    return {"file": path.name, "size": path.stat().st_size, "sha256": sha256_file(path)}


def built_files(benchmark: str, built: Path) -> dict[str, Path]:
    """{store-relative name: file} of a converter's output directory (Parquet at <built>/<rel>, or
    directly in <built> as helpers.nb201.build writes it)."""
    entry = get(benchmark)
    files = {}
    for rel in entry.published_files:
        nested = built / rel
        files[rel] = nested if nested.exists() else built / Path(rel).name
    return files


def nb201_built(tmp: Path) -> tuple[Path, Path]:
    """A NAS-Bench-201 .pth of 6 architectures (5 with results: both budgets, all four datasets,
    1-3 seeds, some NaN losses) and its converted tables; (raw, built dir)."""
    raw = write_nb201_pth(tmp / "NAS-Bench-201-v1_1-096897.pth", num_archs=6, seed=5, arch_indexes=[0, 1, 2, 3, 5])
    out, _ = nb201.build(tmp, raw, name="nb201-built")
    return raw, out


def nds_built(tmp: Path) -> tuple[Path, Path]:
    """An NDS data.zip with 4 records in each of the 34 sweep files (rng sweeps share configs) and
    its converted tables; (raw, built dir)."""
    raw = write_nds_zip(tmp / "data.zip", records_per_file=4, max_ep=4, seed=2)
    out, _ = nds.build(tmp, raw, name="nds-built")
    return raw, out


def all_benchmarks_store(tmp: Path, nb101_store: Path) -> Path:
    """tmp/store with NB101 (the session's fixture store), NB201 and NDS published into it."""
    store = tmp / "store"
    entry = read_manifest(nb101_store)["benchmarks"]["nasbench101"]
    publish(store, "nasbench101", built_files("nasbench101", nb101_store), entry["raw"])
    for name, make in (("nasbench201", nb201_built), ("nds", nds_built)):
        work = tmp / f"{name}-work"
        work.mkdir()
        raw, built = make(work)
        publish(store, name, built_files(name, built), raw_entry(raw))
    return store


_SHARED: dict[str, Path] = {}


def shared_store(tmp_path_factory, nb101_store: Path) -> Path:
    """`all_benchmarks_store`, built once per test session for every module that asks (read-only)."""
    key = str(nb101_store)
    if key not in _SHARED:
        _SHARED[key] = all_benchmarks_store(tmp_path_factory.mktemp("all-benchmarks"), nb101_store)
    return _SHARED[key]
