"""NAS-Bench-201 readers: byte-faithful fixtures, streaming == whole-file pickle, hostile and damaged input."""
from __future__ import annotations

import bz2
import io
import math
import os
import pickle
import zipfile

import pytest

from nasbench_store.errors import RawFormatError, UnsafePickleError
from nasbench_store.nasbench201 import synthetic as fx
from nasbench_store.nasbench201.nats import NatsArchive
from nasbench_store.nasbench201.picklewriter import pickle_bytes
from nasbench_store.nasbench201.pth import LegacyPth


def whole(path) -> dict:
    """The .pth read the way torch's legacy loader does: five plain pickle.load calls."""
    with open(path, "rb") as f:
        objs = [pickle.load(f) for _ in range(5)]
        assert f.read() == b""
    assert objs[0] == 0x1950A86A20F9469CFC6C and objs[1] == 1001 and objs[4] == []
    return objs[3]


def by_epochs(arch2infos: dict) -> dict:
    return {k: {200: v["full"], 12: v["less"]} for k, v in arch2infos.items()}


def same(a, b) -> bool:
    """Deep equality where NaN equals NaN (the fixtures hold NaN losses)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def read_all(source) -> dict:
    with source as s:
        return dict(s.archs())


def test_writer_matches_the_c_pickler_byte_for_byte(tmp_path):
    obj = fx.benchmark_dict(5, seed=3, arch_indexes=[0, 1, 4])
    expected = pickle.dumps(obj, protocol=2).replace(b"cnumpy._core.multiarray\nscalar\n",
                                                     b"cnumpy.core.multiarray\nscalar\n")
    assert pickle_bytes(obj) == expected
    path = fx.write_nb201_pth(tmp_path / "a.pth", 5, seed=3, arch_indexes=[0, 1, 4])
    data = path.read_bytes()
    assert data[:137] == fx.LEGACY_HEADER and len(fx.LEGACY_HEADER) == 137
    assert data[137:-6] == expected and data[-6:] == b"\x80\x02]q\x00."


def test_fixture_layout_follows_the_release(tmp_path):
    obj = whole(fx.write_nb201_pth(tmp_path / "a.pth", 3))
    assert list(obj) == ["meta_archs", "total_archs", "arch2infos", "evaluated_indexes"]
    assert obj["meta_archs"] == list(fx.REFERENCE_ARCHS)
    state = obj["arch2infos"][0]["full"]
    assert list(state) == ["arch_index", "arch_str", "all_results", "dataset_seed", "clear_net_done"]
    assert list(state["all_results"])[:5] == [("cifar10-valid", 999), ("cifar10", 999), ("cifar100", 999),
                                              ("ImageNet16-120", 999), ("cifar10-valid", 777)]
    r = state["all_results"][("cifar100", 777)]
    assert list(r) == ["name", "train_acc1es", "train_acc5es", "train_losses", "train_times", "arch_config",
                       "params", "flop", "seed", "epochs", "latency", "eval_names", "eval_acc1es", "eval_times",
                       "eval_losses", "net_state_dict"]
    assert r["seed"] == "0777" and r["train_acc5es"] is None and type(r["train_times"]).__name__ == "OrderedDict"
    assert r["eval_names"] == ["ori-test", "x-valid", "x-test"] and len(r["eval_acc1es"]) == 202
    assert len(r["eval_times"]) == 600 and type(r["params"]).__name__ == "float64"
    less = obj["arch2infos"][0]["less"]["all_results"]
    assert sorted(less) == sorted([("cifar10-valid", 111), ("cifar10-valid", 777), ("cifar10", 111),
                                   ("cifar100", 111), ("ImageNet16-120", 111)])
    assert len(less[("cifar100", 111)]["eval_acc1es"]) == 36


@pytest.mark.parametrize("num_archs,chosen", [(4, None), (6, [1, 3, 5]), (3, [2]), (2, [])])
def test_streaming_reader_equals_whole_file_load(tmp_path, num_archs, chosen):
    path = fx.write_nb201_pth(tmp_path / "a.pth", num_archs, seed=1, arch_indexes=chosen)
    expected = whole(path)
    src = LegacyPth(path)
    got = read_all(src)
    assert same(got, by_epochs(expected["arch2infos"]))
    assert src.meta_archs == expected["meta_archs"]
    assert src.evaluated_indexes == expected["evaluated_indexes"]


def test_memo_entries_of_converted_architectures_are_dropped(tmp_path):
    """Once an architecture is converted its memo slots hold a tombstone, except the few strings
    later architectures fetch (defined by the first one), which stay pinned."""
    path = fx.write_nb201_pth(tmp_path / "a.pth", 4, seed=2)
    with LegacyPth(path) as src:
        it = src.archs()
        next(it)
        next(it)
        first, nxt, _, _ = src._ranges[0]
        memo = src._c.memo.copy()
        pinned = set(src._pinned)
    slots = range(max(first, 256), nxt)   # entries below 256 (BINGET-reachable) are kept
    assert all((type(memo[i]).__name__ == "_Tombstone") != (i in pinned) for i in slots)
    assert 0 < len(pinned) < len(slots) / 50
    assert {"cifar100", "ImageNet16-120"} <= {memo[i] for i in pinned if isinstance(memo[i], str)}


def test_zip_pth_and_nats_archives_hold_the_same_records(tmp_path):
    legacy = read_all(LegacyPth(fx.write_nb201_pth(tmp_path / "a.pth", 5, 7, [0, 2, 4])))
    zipped = read_all(LegacyPth(fx.write_nb201_pth_zip(tmp_path / "z.pth", 5, 7, [0, 2, 4])))
    tarred = read_all(NatsArchive(fx.write_nats_tss_archive(tmp_path / "n.tar", 5, 7, [0, 2, 4])))
    folder = read_all(NatsArchive(fx.write_nats_tss_archive(tmp_path / "n", 5, 7, [0, 2, 4])))
    assert same(legacy, zipped)
    assert same(tarred, folder)
    assert same({k: {e: v[e] for e in (200, 12)} for k, v in tarred.items()}, legacy)
    with zipfile.ZipFile(tmp_path / "z.pth") as zf:
        assert "z/data.pkl" in zf.namelist()
    with NatsArchive(tmp_path / "n.tar") as a:
        assert a.indexes == [0, 2, 4] and a.meta_archs == fx.arch_strings(5, 7)


# -- hostile input ------------------------------------------------------------------------------------
class _Payload:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _marker_payloads(marker):
    import subprocess
    return {
        "posix.system": _Payload(os.system, f"touch {marker}"),
        "builtins.eval": _Payload(eval, f"open({str(marker)!r}, 'w')"),
        "subprocess.call": _Payload(subprocess.call, ["touch", str(marker)]),
    }


def _legacy_with(tmp_path, payload_value, name="evil.pth") -> os.PathLike:
    """A genuine-looking .pth whose second architecture carries `payload_value` in a result."""
    obj = fx.benchmark_dict(3, seed=0)
    obj["arch2infos"][1]["full"]["all_results"][("cifar10", 888)]["flop"] = payload_value
    path = tmp_path / name
    path.write_bytes(fx.LEGACY_HEADER + pickle.dumps(obj, protocol=2) + fx.LEGACY_TAIL)
    return path


@pytest.mark.parametrize("name", ["posix.system", "builtins.eval", "subprocess.call"])
def test_pickled_code_is_refused_before_it_runs(tmp_path, name):
    marker = tmp_path / "marker"
    payload = _marker_payloads(marker)[name]
    path = _legacy_with(tmp_path, payload)
    with pytest.raises(UnsafePickleError, match=name.replace(".", r"\.")) as err:
        read_all(LegacyPth(path))
    assert str(path) in str(err.value)
    assert not marker.exists()
    # The same payload in a NATS per-architecture file, and as the whole NATS meta file.
    nats = fx.write_nats_tss_archive(tmp_path / "n", 2)
    (nats / "000001.pickle.pbz2").write_bytes(bz2.compress(pickle.dumps(
        {"12": {"all_results": {}, "x": payload}}, protocol=4)))
    with pytest.raises(UnsafePickleError, match=name.replace(".", r"\.")):
        read_all(NatsArchive(nats))
    (nats / "meta.pickle.pbz2").write_bytes(bz2.compress(pickle.dumps(payload, protocol=4)))
    with pytest.raises(UnsafePickleError, match=name.replace(".", r"\.")):
        NatsArchive(nats)
    assert not marker.exists()


def test_payload_in_the_top_level_structure_is_refused(tmp_path):
    marker = tmp_path / "marker"
    obj = fx.benchmark_dict(2)
    obj["meta_archs"].append(_Payload(os.system, f"touch {marker}"))
    path = tmp_path / "evil.pth"
    path.write_bytes(fx.LEGACY_HEADER + pickle.dumps(obj, protocol=2) + fx.LEGACY_TAIL)
    with pytest.raises(UnsafePickleError, match="posix.system.*outside the architecture records"):
        read_all(LegacyPth(path))
    assert not marker.exists()


def test_payload_in_the_legacy_header_is_refused(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps(_Payload(os.system, f"touch {marker}"), protocol=2) + fx.LEGACY_HEADER)
    with pytest.raises(UnsafePickleError, match="posix.system"):
        LegacyPth(path)
    assert not marker.exists()


def test_persistent_ids_are_refused(tmp_path):
    class WithPid(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", "FloatStorage", "0", "cpu", 4) if isinstance(obj, bytearray) else None

    obj = fx.benchmark_dict(2)
    obj["arch2infos"][1]["less"]["all_results"][("cifar10", 111)]["params"] = bytearray(b"abcd")
    buf = io.BytesIO()
    WithPid(buf, protocol=2).dump(obj)
    path = tmp_path / "pid.pth"
    path.write_bytes(fx.LEGACY_HEADER + buf.getvalue() + fx.LEGACY_TAIL)
    with pytest.raises(UnsafePickleError, match="persistent id"):
        read_all(LegacyPth(path))


@pytest.mark.parametrize("cut", [50, 140, 5000, 0.5, 0.999, -3])
def test_truncated_pth_names_the_file(tmp_path, cut):
    path = fx.write_nb201_pth(tmp_path / "a.pth", 3)
    data = path.read_bytes()
    n = int(len(data) * cut) if isinstance(cut, float) else cut
    bad = tmp_path / "cut.pth"
    bad.write_bytes(data[:n])
    with pytest.raises(RawFormatError) as err:
        read_all(LegacyPth(bad))
    assert str(bad) in str(err.value) and not isinstance(err.value, UnsafePickleError)


def test_truncated_zip_and_nats_name_the_file(tmp_path):
    z = fx.write_nb201_pth_zip(tmp_path / "z.pth", 2)
    z.write_bytes(z.read_bytes()[:-4000])
    with pytest.raises(RawFormatError, match="z.pth"):
        read_all(LegacyPth(z))
    nats = fx.write_nats_tss_archive(tmp_path / "n", 2)
    arch = nats / "000001.pickle.pbz2"
    arch.write_bytes(arch.read_bytes()[:-100])
    with pytest.raises(RawFormatError, match="000001.pickle.pbz2.*truncated"):
        read_all(NatsArchive(nats))
    tar = fx.write_nats_tss_archive(tmp_path / "n.tar", 2)
    tar.write_bytes(tar.read_bytes()[:3000])
    with pytest.raises(RawFormatError, match="n.tar"):
        read_all(NatsArchive(tar))
