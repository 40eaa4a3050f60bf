"""The opcode walk in C (`safety/_opwalk.c`, through `unpickler._walk_c`) returns what the Python walk
(`unpickler._walk`, the oracle) returns, for every input.

Differential on what can differ: fixture `.pth` files at many offsets, ends, bounds and shifts;
hostile pickles (memo indices, text PUT lines Python's int() reads, lengths that overflow, truncated
arguments, tuple floods); seeded random and mutated byte strings; every truncation of a small pickle;
the buffer types (bytes, bytearray, mmap; others go to the Python walk); and check_pickle's errors.
"""
from __future__ import annotations

import importlib.util
import mmap
import os
import pickle
import pickletools
import random
import struct
import subprocess
import sys

import pytest
from helpers import require_or_skip

from nasbench_store.errors import RawFormatError
from nasbench_store.nasbench201.synthetic import LEGACY_HEADER, write_nb201_pth
from nasbench_store.safety import unpickler as u


@pytest.fixture(scope="module", autouse=True)
def opwalk():
    """The C module; skipped where it was not built, a failure under NASBENCH_REQUIRE_CEXT=1 (CI)."""
    if u._opwalk is None:
        if importlib.util.find_spec("nasbench_store.safety._opwalk") is not None:
            pytest.skip("NASBENCH_PURE_PYTHON is set: the C opcode walk is switched off")
        require_or_skip("NASBENCH_REQUIRE_CEXT", "the C opcode walk (safety._opwalk) was not built "
                                                 "(no compiler at install time)")
    return u._opwalk


def _outcome(fn, *args):
    try:
        return fn(*args)
    except Exception as exc:   # the same exception type from both (the C path hands odd inputs to Python)
        return type(exc).__name__


def same(data, pos=0, end=None, last=None, limit=None, shift=0, count_tuples=False):
    end = len(data) if end is None else end
    last = end if last is None else last
    args = (data, pos, end, last, limit, shift, count_tuples)
    want = _outcome(u._walk, *args)
    got = _outcome(u._walk_c, *args)
    assert got == want, (bytes(data[:200]), pos, end, last, limit, shift, count_tuples)
    return want


def all_ways(data, rng: random.Random | None = None, pos: int = 0):
    """The walk from `pos` under the bound rules and ends the callers use; the results seen."""
    n = len(data)
    seen = []
    for limit in (None, 0, 3, n, 1 << 40):
        for shift in (0, -pos, 5):
            for count_tuples in (False, True):
                seen.append(same(data, pos, n, n, limit, shift, count_tuples))
    if rng is not None and n:
        end = rng.randrange(pos, n + 1)
        seen.append(same(data, pos, end, rng.randrange(pos, end + 2), rng.choice([None, rng.randrange(1 << 33)]),
                         rng.randrange(-n, n + 1), rng.random() < 0.5))
    return seen


# -- hostile pickles ---------------------------------------------------------------------------------
NESTED = 100_000
HOSTILE = [
    b"\x80\x02Nr\x00\x00\x00\x40.",                                                    # 9 bytes -> 1 GB memo
    b"\x80\x02Np1073741824\n.",
    b"\x80\x02Np  +1_073_741_824 \n.",                                                 # int() reads it
    b"\x80\x02X\x10\x00\x00\x00ori-test@1 pr123\x85r\xff\xff\xff\x7f.",
    b"\x80\x02N" + b"r\x00\x00\x00\x00" * 3 + b"r\x03\x00\x00\x00.",
    b"\x80\x02X\x05\x00\x00\x00ri-te\x94.",
    b"\x80\x02G@\x08r\xfb\x16\x14\x01\x85.",
    b"\x80\x02X\x07\x00\x00\x00p12345\n\x94.",
    b"\x80\x02" + b"N" + b"\x85" * NESTED + b".",                                       # a tuple flood
    b"\x80\x02" + b"(" * 30_000 + b"N" + b"t" * 30_000 + b".",
    b"\x80\x04" + b"N" + b"\x85\x86\x87" * 8000 + b".",
    b"\x80\x02" + b"(" * NESTED + b"N" + b"l" * NESTED + b".",
    b"\x80\x02]q\x00(" + b"h\x00" * 5000 + b"e.",
    b"\x80\x02\x8b" + struct.pack("<i", 2077) + b"\x01" * 2077 + b".",                  # LONG4
    b"\x80\x02\x8b\xff\xff\xff\xffNr\x00\x00\x00\x10.",                                 # a negative LONG4
    b"\x80\x02\x8b\xff\xff\xff\x7fNr\x00\x00\x00\x10.",                                 # one past the end
    b"\x80\x04\x8e" + b"\xff" * 8 + b"Nr\x00\x00\x00\x10.",                             # BINBYTES8 of 2**64-1
    b"\x80\x04\x8d" + (1 << 63).to_bytes(8, "little") + b"Nr\x00\x00\x00\x10.",         # BINUNICODE8 of 2**63
    b"\x80\x04\x8d" + (1 << 62).to_bytes(8, "little") + b"r\x00\x00\x00\x10.",
    b"\x80\x04\x96" + b"\xff" * 7 + b"\x7f.",                                           # BYTEARRAY8
    b"\x80\x04\x95" + b"\xff" * 8 + b"Nr\x00\x00\x00\x10.",                             # FRAME: fixed length
    b"\x80\x02T\xff\xff\xff\xffNr\x00\x00\x00\x10.",                                    # BINSTRING: unsigned
    b"\x80\x02B\x00\x00\x00\x80Nr\x00\x00\x00\x10.",                                    # BINBYTES
    b"\x80\x02U\xffxyNr\x00\x00\x00\x10.",                                              # SHORT_BINSTRING past end
    b"\x80\x02cnumpy\ndtype\nr\x00\x00\x00\x10.",                                       # GLOBAL: two lines
    b"\x80\x02cnumpy\ndtype",                                                           # its second line cut
    b"\x80\x02cnumpy",
    b"\x80\x02I12\nr\x00\x00\x00\x10.",                                                 # INT: one line
    b"\x80\x02Ir\x00\x00\x00\x10",                                                      # INT without a newline
    b"(dp0\nS'a'\np1\nI1\nsS'b'\np2\n(lp3\n.",                                           # protocol 0
    b"Np0012\n.", b"Np12\r\n.", b"Np-5\n.", b"Np+7\n.", b"Np 9 \n.", b"Np1__2\n.", b"Np_1\n.", b"Np1_\n.",
    b"Np\n.", b"Np \n.", b"Np\x0b12\x0c\n.", b"Np12\x00\n.", b"Np\xd9\xa3\n.", b"Np\xef\xbc\x91\n.",
    b"Np" + b"9" * 18 + b"\n.", b"Np" + b"9" * 19 + b"\n.", b"Np" + b"1" * 5000 + b"\n.",   # int() refuses 4301+ digits
    b"Np0x10\n.", b"Np1e3\n.", b"Np\n", b"Np12", b"p",
    b"Nr\x00\x00", b"Nr", b"r\x05\x00\x00\x00", b"\x8c", b"\x8c\x05ab", b"", b".", b"\xff", b"N" * 100,
]


@pytest.mark.parametrize("data", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_pickles_every_start_and_bound(data):
    rng = random.Random(len(data))
    if len(data) <= 300:
        for pos in range(len(data)):
            all_ways(data, rng, pos)
        return
    all_ways(data, rng)
    for pos in sorted(rng.sample(range(len(data)), 12)):   # long inputs: fewer starts, each under random bounds
        for _ in range(3):
            same(data, pos, len(data), rng.randrange(pos, len(data) + 1), rng.choice([None, 0, len(data)]),
                 rng.randrange(-pos, 9), rng.random() < 0.5)


def test_hostile_pickles_find_what_they_should():
    assert same(HOSTILE[0]) == ("put", 3, 1 << 30)
    assert same(HOSTILE[2]) == ("put", 3, 1073741824)        # handed back to Python's int()
    assert same(b"Np" + b"9" * 19 + b"\n.") == ("put", 1, 10 ** 19 - 1)
    assert same(b"Np" + b"1" * 5000 + b"\n.") is None
    assert same(HOSTILE[8], count_tuples=True) == ("tuples", 3 + u.MAX_TUPLE_OPCODES, u.MAX_TUPLE_OPCODES + 1)
    assert same(HOSTILE[8], count_tuples=False) is None
    for data in HOSTILE[14:20] + HOSTILE[21:24]:
        assert same(data) is None, data                     # the walk ends before the PUT
    assert same(HOSTILE[20]) == ("put", 12, 1 << 28)         # FRAME's argument is fixed: the PUT is read


def test_a_small_tuple_limit_and_resumed_text_puts(monkeypatch):
    """The tuple count carries over the text PUT lines the C loop hands back to Python."""
    data = b"(" + b"Np 1\nN\x85" * 50 + b"t."
    for limit in (0, 1, 7, 49, 50, 51):
        monkeypatch.setattr(u, "MAX_TUPLE_OPCODES", limit)
        for pos in range(12):
            same(data, pos, count_tuples=True)
    monkeypatch.setattr(u, "MAX_TUPLE_OPCODES", 7)
    assert same(data, count_tuples=True) == ("tuples", 1 + 7 * 7 + 6, 8)


def test_bounds_and_offsets_the_c_loop_does_not_take_go_to_python():
    data = b"\x80\x02Nr\x00\x00\x00\x40.Np99\n."
    for limit in (None, -1, 1 << 61, (1 << 61) + 1, 1 << 70, -(1 << 70)):
        for shift in (0, -(1 << 70), 1 << 62, (1 << 40) + 7):
            for pos, end, last in ((0, len(data), len(data)), (-3, len(data), 50), (0, len(data) + 5, 100),
                                   (2, 5, -(1 << 70)), (9, len(data), 1 << 80), (3, 2, 9), (0, -1, 5)):
                same(data, pos, end, last, limit, shift, True)


# -- random and mutated bytes ------------------------------------------------------------------------
_ALPHABET = b"pr(t\x85\x86\x87\x8c\x8d\x8e\x96\x95\x8aXTBUCcI.N0123456789 _+-\n\x00\xff"


def _value(rng: random.Random, depth: int = 0):
    r = rng.random()
    if depth > 3 or r < 0.3:
        return rng.choice([rng.random(), rng.randint(-10**6, 10**40), f"ori-test@{rng.randint(0, 300)}",
                           b"xr\x00\x00\x10" * rng.randint(0, 5), None, "p123\nabc", "x" * rng.randint(0, 300),
                           (1, "a"), {1, 2}, bytearray(b"ab")])
    if r < 0.6:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    if r < 0.8:
        return {str(rng.random()): _value(rng, depth + 1) for _ in range(rng.randint(0, 5))}
    return tuple(_value(rng, depth + 1) for _ in range(rng.randint(0, 4)))


def test_random_and_mutated_byte_strings():
    rng = random.Random(20240611)
    for i in range(3000):
        kind = i % 3
        if kind == 0:
            data = rng.randbytes(rng.randint(0, 400))
        elif kind == 1:
            data = bytes(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 200)))
        else:
            value = _value(rng)
            data = bytearray(pickle.dumps([value, value], protocol=rng.randrange(6)))
            for _ in range(rng.randint(0, 4)):
                if not data:
                    break
                at = rng.randrange(len(data))
                what = rng.random()
                if what < 0.4:
                    data[at] = rng.getrandbits(8)
                elif what < 0.6:
                    data[at:at] = rng.choice([b"r\xff\xff\xff\x7f", b"p%d\n" % rng.randrange(1 << 40),
                                              b"p %d_0\n" % rng.randrange(100), b"\x85" * 3, b"\x8e" + b"\xff" * 8])
                else:
                    del data[at:at + rng.randint(1, 8)]
            data = bytes(data)
        pos = rng.randrange(len(data) + 1)
        same(data, 0, len(data), len(data), None, 0, True)
        same(data, pos, len(data), rng.randrange(len(data) + 2), rng.choice([None, 0, 1, len(data), 1 << 31]),
             rng.randrange(-len(data) - 1, len(data) + 2), rng.random() < 0.5)


def test_every_truncation_of_a_small_pickle():
    value = {"a": [1, 2.5, "p12\n", (3, 4)], "b": {1, 2}, "c": b"\x00r" * 40, "d": 10**30}
    for protocol in range(6):
        data = pickle.dumps([value, value], protocol=protocol)
        boundaries = [at for _, _, at in pickletools.genops(data)]
        for cut in range(len(data) + 1):
            for limit in (None, 0, 2):
                same(data[:cut], 0, cut, cut, limit, 0, True)
                same(data, 0, cut, cut, limit, -1, True)               # the end, not the buffer, cuts
            for pos in boundaries[:: max(1, len(boundaries) // 6)]:
                same(data, pos, cut, len(data), None, 0, False)


# -- the fixture .pth files ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pth_bytes(tmp_path_factory) -> bytes:
    path = write_nb201_pth(tmp_path_factory.mktemp("opwalk") / "nb201.pth", num_archs=6, arch_indexes=[0, 2, 3, 5])
    return path.read_bytes()


def test_fixture_pth_at_many_offsets_ends_and_bounds(pth_bytes):
    data = pth_bytes
    n = len(data)
    assert n > 64 * 1024          # the C loop releases the GIL on ranges this long
    rng = random.Random(5)
    all_ways(data)
    for _ in range(300):
        pos = rng.randrange(n)
        end = rng.choice([n, rng.randrange(pos, n + 1)])
        limit = rng.choice([None, None, n, rng.randrange(1 << 16), 0])
        shift = rng.choice([0, -pos, rng.randrange(-n, n)])
        same(data, pos, end, rng.choice([end, rng.randrange(pos, end + 1)]), limit, shift, rng.random() < 0.5)


def test_fixture_pth_main_pickle_walked_to_its_end(pth_bytes, monkeypatch):
    """From the main pickle's first opcode, over more than 64 KiB (the C loop without the GIL)."""
    data = pth_bytes
    start = len(LEGACY_HEADER)
    ops = list(pickletools.genops(data[start:]))
    tuples = [at for op, _, at in ops if op.name in ("TUPLE", "TUPLE1", "TUPLE2", "TUPLE3")]
    assert ops[-1][2] > 64 * 1024 and len(tuples) > 10
    assert same(data, start, len(data), len(data), None, -start, True) is None
    assert same(data, start, len(data), len(data), 0, 0, False)[0] == "put"    # the first PUT to index 1
    monkeypatch.setattr(u, "MAX_TUPLE_OPCODES", len(tuples) - 1)
    assert same(data, start, len(data), len(data), None, -start, True) == ("tuples", start + tuples[-1], len(tuples))


def test_fixture_pth_with_damage(pth_bytes):
    rng = random.Random(9)
    for _ in range(60):
        data = bytearray(pth_bytes)
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] = rng.choice(_ALPHABET)
        data = bytes(data)
        same(data, 0, len(data), len(data), None, 0, True)
        same(data, 0, len(data), len(data), len(data), 0, True)


def test_buffer_types(pth_bytes, tmp_path):
    path = tmp_path / "walk.bin"
    cases = [pth_bytes[:5000], HOSTILE[2], HOSTILE[0], b"Np 5\nr\xff\xff\xff\x00."]
    for data in cases:
        path.write_bytes(data)
        want = u._walk(data, 0, len(data), len(data), None, 0, True)
        assert u._walk_c(bytearray(data), 0, len(data), len(data), None, 0, True) == want
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            assert u._walk_c(m, 0, len(data), len(data), None, 0, True) == want
            assert same(m) == same(data)
        same(memoryview(data))                # not a type the C loop takes: the Python walk, errors and all


# -- the hookup ----------------------------------------------------------------------------------------
def test_kind_codes_and_the_implementation_switch(opwalk):
    assert opwalk.KIND_CODES == (u._INVALID, u._STOP, u._LEN1, u._LEN4, u._LEN4_SIGNED, u._LEN8, u._LINE,
                                 u._LINES2, u._LONG_BINPUT, u._PUT, u._TUPLE)
    assert len(u._KIND_BYTES) == 256 and all(-11 < k < 10 for k in u._KINDS)
    assert u.WALK_IMPLEMENTATION == "c" and u._walk_opcodes is u._walk_c
    code = "from nasbench_store.safety import unpickler as u; print(u.WALK_IMPLEMENTATION, u._walk_opcodes.__name__)"
    env = {k: v for k, v in os.environ.items() if k != "NASBENCH_PURE_PYTHON"}
    for pure, expected in (("1", ["python", "_walk"]), ("0", ["c", "_walk_c"]), (None, ["c", "_walk_c"])):
        run_env = env if pure is None else {**env, "NASBENCH_PURE_PYTHON": pure}
        proc = subprocess.run([sys.executable, "-c", code], env=run_env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == expected, pure


def _check_error(data, walk, monkeypatch, **kw):
    monkeypatch.setattr(u, "_walk_opcodes", walk)
    try:
        u.check_pickle(data, "w.pickle", **kw)
    except RawFormatError as exc:
        return str(exc)
    return None


def test_check_pickle_says_the_same_with_either_walk(monkeypatch, pth_bytes):
    lookalikes = b"\x80\x02(" + b"X\x04\x00\x00\x00r\xff\xff\xff" * 100 + b"Nr\x00\x00\x00\x40."   # > _LOCAL_PROOFS
    cases = [*HOSTILE, pth_bytes[:20000], lookalikes]
    refused = 0
    for data in cases:
        for kw in ({}, {"limit": 10}, {"base": 7, "offset": 1000}):
            c = _check_error(data, u._walk_c, monkeypatch, **kw)
            assert c == _check_error(data, u._walk, monkeypatch, **kw), (data[:100], kw)
            refused += c is not None
    assert refused > 30
