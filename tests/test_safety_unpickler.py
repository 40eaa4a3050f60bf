"""The restricted unpickler on its own: the allowed globals build plain values; any other global,
a persistent id or a misused stand-in is refused, named, before anything is called."""
from __future__ import annotations

import codecs
import collections
import math
import os
import pickle

import numpy as np
import pytest

from nasbench_store.errors import RawFormatError, UnsafePickleError
from nasbench_store.safety.unpickler import TOMBSTONE_GLOBAL, restricted_loads


class _Call:
    """Pickles as a call of `func(*args)`."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("protocol", [2, 4])
def test_allowed_globals_build_plain_values(protocol):
    value = collections.OrderedDict([("f8", np.float64(0.25)), ("nan", np.float64("nan")), ("f4", np.float32(1.5)),
                                     ("i8", np.int64(-3)), ("b1", np.bool_(True)), ("raw", b"\x00\xff")])
    got = restricted_loads(pickle.dumps(value, protocol=protocol), "where.pth")
    assert type(got) is dict and list(got) == list(value)
    assert [type(v) for v in got.values()] == [float, float, float, int, bool, bytes]
    assert got["f8"] == 0.25 and math.isnan(got["nan"]) and got["f4"] == 1.5
    assert got["i8"] == -3 and got["b1"] is True and got["raw"] == b"\x00\xff"


@pytest.mark.parametrize("data, named", [
    (None, "posix.system"),
    (b"c__builtin__\neval\n(S'1'\ntR.", r"builtins\.eval \(written __builtin__\.eval, Python 2's name\)"),
    (b"c%s\n%s\n." % tuple(s.encode() for s in TOMBSTONE_GLOBAL), r"nasbench_store\.safety\.unpickler\.TOMBSTONE"),
])
def test_other_globals_are_refused_by_name_before_they_run(tmp_path, data, named):
    marker = tmp_path / "marker"
    data = data or pickle.dumps(_Call(os.system, f"touch {marker}"), protocol=2)
    with pytest.raises(UnsafePickleError, match=f"where.pth: the pickle asks for the global {named}, which is not"):
        restricted_loads(data, "where.pth")
    assert not marker.exists()


def test_persistent_ids_are_refused():
    with pytest.raises(UnsafePickleError, match=r"where.pth: the pickle asks for persistent id 'storage'"):
        restricted_loads(b"\x80\x02X\x07\x00\x00\x00storageQ.", "where.pth")


@pytest.mark.parametrize("value, problem", [
    (_Call(codecs.encode, "text", "rot13"), "_codecs.encode is only allowed for latin1 text, not 'rot13'"),
    (np.dtype(object), "numpy dtype 'O8' is not a plain numeric type"),
])
def test_stand_ins_refuse_anything_but_plain_values(value, problem):
    with pytest.raises(RawFormatError, match=f"where.pth: the pickle is damaged or truncated .*{problem}") as err:
        restricted_loads(pickle.dumps(value, protocol=2), "where.pth")
    assert not isinstance(err.value, UnsafePickleError)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_sets_build_plain_sets_at_every_protocol(protocol):
    """Protocol 2 names __builtin__.set / frozenset (an official NB201 script saves evaluated_indexes as a set);
    protocol 4 has EMPTY_SET/ADDITEMS/FROZENSET opcodes, which need no global."""
    value = {"evaluated_indexes": {0, 8, 15624}, "frozen": frozenset({"a", 1.5}), "empty": set(),
             "shared": [frozenset(), {(1, 2)}]}
    got = restricted_loads(pickle.dumps(value, protocol=protocol), "where.pth")
    assert got == value
    assert [type(v) for v in got.values()] == [set, frozenset, set, list]
    assert [type(v) for v in got["shared"]] == [frozenset, set]


def test_protocol_2_names_sets_the_python_2_way():
    assert b"c__builtin__\nset\n" in pickle.dumps({1}, protocol=2)
    assert restricted_loads(b"\x80\x02c__builtin__\nset\n]K\x07a\x85R.", "where.pth") == {7}
    assert restricted_loads(b"\x80\x03cbuiltins\nfrozenset\n]K\x07a\x85R.", "where.pth") == frozenset({7})


@pytest.mark.parametrize("value, problem", [
    (_Call(set, "abc"), r"set\(\) is only allowed on one list of values"),
    (_Call(frozenset, [1], [2]), r"frozenset\(\) is only allowed on one list of values"),
    (_Call(set, [[1, 2]]), r"set\(\) of unhashable items"),
    (_Call(set, [{"k": 1}]), r"set\(\) of unhashable items"),
])
def test_set_stand_ins_build_sets_of_plain_values_only(value, problem):
    with pytest.raises(RawFormatError, match=f"where.pth: the pickle is damaged or truncated .*{problem}") as err:
        restricted_loads(pickle.dumps(value, protocol=2), "where.pth")
    assert not isinstance(err.value, UnsafePickleError)


@pytest.mark.parametrize("name", ["setattr", "list", "dict", "getattr", "type", "object"])
def test_builtins_other_than_the_set_types_stay_refused(name):
    for module in (b"__builtin__", b"builtins"):
        with pytest.raises(UnsafePickleError, match=rf"global builtins\.{name}\b"):
            restricted_loads(b"\x80\x02c%s\n%s\n." % (module, name.encode()), "where.pth")
