"""Set-typed `evaluated_indexes` (issue 10 point 5): one official generation script saves the set
itself, so a protocol-2 pickle names `__builtin__.set` (protocol 4: EMPTY_SET/ADDITEMS). Such a
`.pth` (legacy and zip) and NATS meta read through the restricted unpickler and convert to the
same store as the list form; the official nas_201_api reads the fixture too."""
from __future__ import annotations

import bz2
import hashlib
import pickle

import pyarrow.parquet as pq
import pytest
from helpers import require_or_skip

from nasbench_store.nasbench201 import synthetic as fx
from nasbench_store.nasbench201.convert import convert
from nasbench_store.nasbench201.nats import NatsArchive
from nasbench_store.nasbench201.picklewriter import pickle_bytes
from nasbench_store.nasbench201.pth import LegacyPth

NUM_ARCHS, SEED, CHOSEN = 5, 4, [0, 2, 3]
WRITERS = {"legacy": fx.write_nb201_pth, "zip": fx.write_nb201_pth_zip}
PTH_NAME = "NAS-Bench-201-v1_1-096897.pth"


def store_digests(tmp_path, raw, name: str) -> dict[str, str]:
    """The .db's bytes, and each Parquet file's rows and row groups (its provenance names the raw file)."""
    out = tmp_path / name
    convert(raw, db_path=out / "nasbench201.db", parquet_dir=out, work_dir=tmp_path)
    digests = {}
    for p in sorted(out.iterdir()):
        if p.suffix == ".parquet":
            pf = pq.ParquetFile(p)
            layout = [pf.metadata.row_group(i).num_rows for i in range(pf.num_row_groups)]
            data = repr((layout, pf.read().replace_schema_metadata(None).to_pydict())).encode()
        else:
            data = p.read_bytes()
        digests[p.name] = hashlib.sha256(data).hexdigest()
    return digests


@pytest.mark.parametrize("kind", [set, frozenset])
def test_writer_writes_a_set_as_the_c_pickler_does(tmp_path, kind):
    obj = fx.benchmark_dict(NUM_ARCHS, SEED, CHOSEN, evaluated_type=kind)
    assert type(obj["evaluated_indexes"]) is kind
    expected = pickle.dumps(obj, protocol=2).replace(b"cnumpy._core.multiarray\nscalar\n",
                                                     b"cnumpy.core.multiarray\nscalar\n")
    assert f"c__builtin__\n{kind.__name__}\n".encode() in expected
    assert pickle_bytes(obj) == expected
    data = fx.write_nb201_pth(tmp_path / "a.pth", NUM_ARCHS, SEED, CHOSEN, evaluated_type=kind).read_bytes()
    assert data == fx.LEGACY_HEADER + expected + fx.LEGACY_TAIL


@pytest.mark.parametrize("layout", sorted(WRITERS))
def test_pth_with_a_set_reads_and_converts_like_the_list_form(tmp_path, layout):
    write = WRITERS[layout]
    as_list = write(tmp_path / "list" / PTH_NAME, NUM_ARCHS, SEED, CHOSEN)
    as_set = write(tmp_path / "set" / PTH_NAME, NUM_ARCHS, SEED, CHOSEN, evaluated_type=set)
    assert b"c__builtin__\nset\n" in as_set.read_bytes()
    with LegacyPth(as_list) as a, LegacyPth(as_set) as b:
        assert list(a.archs()).__repr__() == list(b.archs()).__repr__()   # NaN losses: compare reprs
        assert a.evaluated_indexes == b.evaluated_indexes == CHOSEN
    assert store_digests(tmp_path, as_set, "set-store") == store_digests(tmp_path, as_list, "list-store")


def test_pth_reader_sorts_a_set_of_indexes(tmp_path):
    chosen = [1, 8]
    assert list(set(chosen)) == [8, 1]   # a set's order is its hash table's, not the indexes'
    path = fx.write_nb201_pth(tmp_path / "a.pth", 9, SEED, chosen, evaluated_type=frozenset)
    with LegacyPth(path) as src:
        assert [k for k, _ in src.archs()] == chosen
        assert src.evaluated_indexes == chosen


def test_nats_meta_with_a_set_reads_and_converts_like_the_release(tmp_path):
    release = fx.write_nats_tss_archive(tmp_path / "release", NUM_ARCHS, SEED, CHOSEN)   # meta: set()
    p4 = fx.write_nats_tss_archive(tmp_path / "p4" / fx.NATS_TSS_NAME, NUM_ARCHS, SEED, CHOSEN, evaluated_type=set)
    meta_p4 = bz2.decompress((p4 / "meta.pickle.pbz2").read_bytes())
    assert pickle.EMPTY_SET in meta_p4 and pickle.ADDITEMS in meta_p4   # protocol 4's own set opcodes
    # The same meta written with protocol 2, where the set is the global __builtin__.set.
    p2 = fx.write_nats_tss_archive(tmp_path / "p2" / fx.NATS_TSS_NAME, NUM_ARCHS, SEED, CHOSEN)
    meta = pickle.loads(bz2.decompress((p2 / "meta.pickle.pbz2").read_bytes()))
    meta["evaluated_indexes"] = set(CHOSEN)
    meta_p2 = pickle.dumps(meta, protocol=2)
    assert b"c__builtin__\nset\n" in meta_p2
    (p2 / "meta.pickle.pbz2").write_bytes(bz2.compress(meta_p2))
    for archive in (p4, p2):
        with NatsArchive(archive) as a:
            assert a.meta_archs == fx.arch_strings(NUM_ARCHS, SEED) and a.indexes == CHOSEN
    expected = store_digests(tmp_path, release, "release-store")
    assert store_digests(tmp_path, p4, "p4-store") == expected
    assert store_digests(tmp_path, p2, "p2-store") == expected


@pytest.mark.oracle
@pytest.mark.parametrize("layout", sorted(WRITERS))
def test_the_official_api_reads_the_set_fixture(tmp_path, monkeypatch, layout):
    try:
        import torch  # noqa: F401
        from nas_201_api import NASBench201API
    except ImportError as exc:
        require_or_skip("NASBENCH_REQUIRE_ORACLE", f"the official NAS-Bench-201 oracle is missing ({exc}; "
                                                   "pip install -e '.[oracle]')")
    raw = WRITERS[layout](tmp_path / PTH_NAME, NUM_ARCHS, SEED, CHOSEN, evaluated_type=set)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")   # torch>=2.6 refuses numpy globals otherwise
    api = NASBench201API(str(raw), verbose=False)
    assert len(api) == NUM_ARCHS and api.evaluated_indexes == CHOSEN
    assert api.query_index_by_arch(fx.REFERENCE_ARCHS[2]) == 2
    with LegacyPth(raw) as src:
        ours = dict(src.archs())
    assert api.query_meta_info_by_index(3, hp="200").get_dataset_seeds("cifar100") == sorted(
        seed for dataset, seed in ours[3][200]["all_results"] if dataset == "cifar100")
