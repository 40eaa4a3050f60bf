"""The memo-index check against the C unpickler itself, on seeded random pickles (issue 11, point 3).

check_pickle finds PUT look-alikes with a byte search and tells real PUTs from data by an opcode
walk or by a local proof (`_not_an_opcode`). Whatever it lets through must stay small in the C
unpickler, and the local proof must never call a real opcode data.
"""
from __future__ import annotations

import io
import pickle
import pickletools
import random
import tracemalloc

import pytest

from nasbench_store.errors import RawFormatError
from nasbench_store.safety import unpickler as u


class _AnyGlobal(pickle.Unpickler):
    """The plain C unpickler, every global a dict: only its memory is of interest here."""

    def find_class(self, module, name):
        return dict

    def persistent_load(self, pid):
        return None


def _value(rng: random.Random, depth: int = 0):
    r = rng.random()
    if depth > 4 or r < 0.3:
        return rng.choice([rng.random(), rng.randint(-10**6, 10**12), f"ori-test@{rng.randint(0, 300)}",
                           b"xr\x00\x00\x10" * rng.randint(0, 30), None, "p123\nabc", "x" * rng.randint(0, 300),
                           (1, "a")])
    if r < 0.6:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 6))]
    if r < 0.8:
        return {str(rng.random()): _value(rng, depth + 1) for _ in range(rng.randint(0, 6))}
    return tuple(_value(rng, depth + 1) for _ in range(rng.randint(0, 4)))


def _pickles(seed: int, count: int):
    """Random pickles of every protocol: genuine, with a PUT beyond its offset at a real opcode, or damaged."""
    rng = random.Random(seed)
    for _ in range(count):
        value = _value(rng)
        data = bytearray(pickle.dumps([value, value], protocol=rng.randrange(5)))
        ops = list(pickletools.genops(bytes(data)))
        what = rng.random()
        if what < 0.4:
            pos = ops[rng.randrange(2, len(ops) - 1)][2]
            index = rng.choice([pos + 5, 1 << 22, rng.randrange(pos + 1, 1 << 31)])
            data[pos:pos] = b"r" + index.to_bytes(4, "little") if rng.random() < 0.7 else b"p%d\n" % index
        elif what < 0.8:
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] = rng.getrandbits(8)
        yield bytes(data)


@pytest.mark.filterwarnings("ignore")
def test_what_the_check_lets_through_stays_small_in_the_c_unpickler():
    refused = 0
    for data in _pickles(7, 800):
        try:
            u.check_pickle(data, "w.pickle")
        except RawFormatError:
            refused += 1
            continue
        tracemalloc.start()
        try:
            _AnyGlobal(io.BytesIO(data)).load()
        except Exception:
            pass
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 64 * len(data) + (1 << 20), data
    assert refused > 200   # the inserted PUTs


def test_a_local_proof_never_calls_a_real_opcode_data():
    rng = random.Random(3)
    for data in _pickles(11, 300):
        if rng.random() < 0.3:
            data = bytes(rng.getrandbits(8) for _ in range(rng.randint(50, 600)))
        end = len(data)
        real, pos = set(), 0
        while 0 <= pos < end:
            real.add(pos)
            pos = u._step(data, pos, end)
        landings = u._long_landings(data, 0, end, end)
        for c in range(end):
            if c in real:
                assert not u._not_an_opcode(data, 0, end, c, landings), (c, data)
