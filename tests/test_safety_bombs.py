"""Small crafted pickles and archives that took memory or CPU out of all proportion to their size,
crashed the interpreter, or changed the unpickler's stand-ins (issue 11, points 3, 6 and 7).

Each crafted input runs in a fresh interpreter under a memory limit (tests/helpers/bombs.py) and must
now end quickly, small, in a RawFormatError naming the file and the byte offset. The comments give
what the same input did before.
"""
from __future__ import annotations

import bz2
import io
import pickle
import pickletools
import struct
import tarfile
import zipfile
from pathlib import Path

import pytest
from helpers.bombs import run_limited

from nasbench_store.errors import RawFormatError, UnsafePickleError
from nasbench_store.nasbench201 import synthetic as fx
from nasbench_store.nasbench201.nats import NatsArchive
from nasbench_store.nasbench201.pth import LegacyPth
from nasbench_store.safety import unpickler
from nasbench_store.safety.unpickler import TOMBSTONE, TOMBSTONE_GLOBAL, RestrictedUnpickler, restricted_loads

HEADER = len(fx.LEGACY_HEADER)
NESTED = 100_000
READ_PTH = """
from nasbench_store.nasbench201.pth import LegacyPth
def read(path):
    with LegacyPth(path) as source:
        return sum(1 for _ in source.archs())
"""
READ_NATS = """
from nasbench_store.nasbench201.nats import NatsArchive
def read(path):
    with NatsArchive(path) as source:
        return sum(1 for _ in source.archs())
"""
CONVERT = """
from nasbench_store.nasbench201.convert import convert_part
def read(path):
    return convert_part(path, path + ".part.parquet")["trials"]
"""


def _refused(run, *fragments: str, mb: float = 100, seconds: float = 10):
    """The run ended in RawFormatError (or UnsafePickleError) with `fragments`, within the bounds."""
    assert not run.ok and run.error_type in ("RawFormatError", "UnsafePickleError"), run
    for fragment in fragments:
        assert fragment in run.message, run
    assert run.peak_mb < mb and run.seconds < seconds, run


def _ops(data: bytes, start: int = HEADER) -> list[tuple[str, object, int]]:
    """(opcode name, argument, file offset) of the pickle at `start`."""
    return [(op.name, arg, start + pos) for op, arg, pos in pickletools.genops(data[start:])]


def _nats_with(path: Path, members: dict[str, bytes]) -> Path:
    """A NATS-tss tar of 3 architectures with some members' pickles replaced (compressed here)."""
    files = dict(fx.nats_files(3))
    files.update({name: bz2.compress(data) for name, data in members.items()})
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{fx.NATS_TSS_NAME}/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def _arch0(ops) -> int:
    """File offset of architecture 0's value (its '}') in the fixture's benchmark pickle."""
    a2i = next(i for i, (name, arg, _) in enumerate(ops) if name == "BINUNICODE" and arg == "arch2infos")
    key = next(i for i in range(a2i, len(ops)) if ops[i][0] == "BININT1" and ops[i][1] == 0)
    assert ops[key + 1][0] == "EMPTY_DICT"
    return ops[key + 1][2]


def _arch_pickle(index: int = 1) -> bytes:
    return bz2.decompress(dict(fx.nats_files(3))[f"{index:06d}.pickle.pbz2"])


# -- memo indices the bytes cannot justify ----------------------------------------------------------
def test_a_9_byte_pickle_cannot_take_a_gigabyte_of_memo():
    run = run_limited("result = restricted_loads(data, 'x.pickle')",
                      "from nasbench_store.safety.unpickler import restricted_loads\n"
                      "data = b'\\x80\\x02Nr\\x00\\x00\\x00\\x04.'")
    # Before: loaded, after the C unpickler grew its memo to 2**27 slots: 1 GB in 0.7 s.
    _refused(run, "x.pickle at byte offset 3", "memo index 67108864", "(3)", mb=50)


GENUINE = _arch_pickle()


@pytest.mark.parametrize("name, data, offset", [
    ("LONG_BINPUT", b"\x80\x02Nr\x00\x00\x00\x40.", 3),
    ("PUT", b"\x80\x02Np1073741824\n.", 3),
    ("PUT with spaces and a sign", b"\x80\x02Np  +1_073_741_824 \n.", 3),
    ("LONG_BINPUT after text that looks like PUTs", b"\x80\x02X\x10\x00\x00\x00ori-test@1 pr123\x85r\xff\xff\xff\x7f.",
     24),
    ("at the end of a genuine NATS pickle", GENUINE[:-1] + b"r\x00\x00\x00\x04.", len(GENUINE) - 1),
])
def test_memo_indices_beyond_the_bytes_read_are_refused_by_offset(name, data, offset):
    with pytest.raises(RawFormatError, match=rf"w.pickle at byte offset {offset}: the pickle stores to memo index \d+, "
                                             r"more than the bytes of the pickle before it \(\d+\)"):
        restricted_loads(data, "w.pickle")


@pytest.mark.parametrize("data", [
    b"\x80\x02N" + b"r\x00\x00\x00\x00" * 3 + b"r\x03\x00\x00\x00.",          # indices the bytes can pay for
    b"\x80\x02X\x05\x00\x00\x00ri-te\x94.",                                  # text that reads as a PUT
    b"\x80\x02G@\x08r\xfb\x16\x14\x01\x85.",                                  # a float that does
    b"\x80\x02X\x07\x00\x00\x00p12345\n\x94.",                               # text that reads as a text PUT
])
def test_pickles_whose_look_alike_puts_are_data_still_load(data):
    assert restricted_loads(data, "w.pickle") == pickle.loads(data)
    assert set(restricted_loads(GENUINE, "w.pickle")) == {"12", "200"}   # thousands of look-alikes


def _pth_with_put(tmp_path: Path, which: str) -> tuple[Path, int]:
    """The 3-architecture fixture with one memo index set to 2**26 (the file is 0.9 MB)."""
    path = fx.write_nb201_pth(tmp_path / "memo.pth", 3)
    data = bytearray(path.read_bytes())
    ops = _ops(bytes(data))
    record = next(i for i, op in enumerate(ops) if op[2] == _arch0(ops))
    if which == "skeleton":       # the memo index of the benchmark dict itself
        at = next(pos for name, arg, pos in ops if name in ("BINPUT", "LONG_BINPUT"))
    elif which == "record":       # architecture 0's own memo index, right after its '}'
        at = ops[record + 1][2]
    else:                         # a PUT deep inside architecture 0's record
        at = next(pos for name, arg, pos in ops[record + 500:] if name == "LONG_BINPUT")
    if data[at] == ord("q"):
        data[at:at + 2] = b"r" + struct.pack("<I", 1 << 26)
    else:
        data[at + 1:at + 5] = struct.pack("<I", 1 << 26)
    path.write_bytes(bytes(data))
    return path, at


@pytest.mark.parametrize("which", ["skeleton", "record", "inside"])
def test_a_pth_cannot_store_beyond_its_length(tmp_path, which):
    path, at = _pth_with_put(tmp_path, which)
    run = run_limited("result = read(path)", READ_PTH + f"path = {str(path)!r}")
    # Before ("inside"): the C unpickler's memo grew to 2**27 slots (1 GB) before the record failed.
    _refused(run, f"{path} at byte offset {at}: the pickle stores to memo index 67108864, more than the pickle's "
             f"length", mb=150)


def test_a_pth_header_cannot_store_beyond_its_bytes(tmp_path):
    path = fx.write_nb201_pth(tmp_path / "header.pth", 3)
    data = path.read_bytes()
    magic = data[:15]                                   # 80 02 8a 0a <10 bytes> 2e
    path.write_bytes(magic[:-1] + b"r\x00\x00\x00\x04." + data[15:])
    with pytest.raises(RawFormatError, match=r"header.pth at byte offset 14: the pickle stores to memo index 67108864"):
        LegacyPth(path)


def test_a_nats_member_cannot_store_beyond_its_bytes(tmp_path):
    tar = _nats_with(tmp_path / "n.tar", {"000001.pickle.pbz2": GENUINE[:-1] + b"r\x00\x00\x00\x04."})
    run = run_limited("result = read(path)", READ_NATS + f"path = {str(tar)!r}")
    # Before: 1 GB of memo, then loaded.
    _refused(run, f"{tar}:000001.pickle.pbz2 at byte offset {len(GENUINE) - 1}: the pickle stores to memo index "
             "67108864", mb=150)


def test_genuine_files_are_read_as_before(tmp_path):
    for path in (fx.write_nb201_pth(tmp_path / "a.pth", 4), fx.write_nb201_pth_zip(tmp_path / "a.zip.pth", 4)):
        with LegacyPth(path) as source:
            assert [k for k, _ in source.archs()] == [0, 1, 2, 3]
    with NatsArchive(fx.write_nats_tss_archive(tmp_path / "a.tar", 4)) as source:
        assert [k for k, _ in source.archs()] == [0, 1, 2, 3]


# -- compressed members -----------------------------------------------------------------------------
def _zip_pth(path: Path, data_pkl: bytes, method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        zf.writestr("archive/data.pkl", data_pkl)
        zf.writestr("archive/version", "3\n")
    return path


def test_a_torch_zip_with_a_compressed_data_pkl_is_refused_unread(tmp_path):
    genuine = fx.write_nb201_pth_zip(tmp_path / "genuine.pth", 3)
    with zipfile.ZipFile(genuine) as zf:
        body = zf.read("genuine/data.pkl")
    path = _zip_pth(tmp_path / "deflated.pth", body)
    with pytest.raises(UnsafePickleError, match=r"deflated.pth at byte offset 0: archive/data.pkl is compressed "
                                                r"\(zip method 8\); torch.save stores it uncompressed"):
        LegacyPth(path)


def test_a_deflate_bomb_data_pkl_is_refused_unread(tmp_path):
    path = _zip_pth(tmp_path / "bomb.pth", b"\x80\x02" + b"N0" * (64 << 20) + b"}.")   # 128 MB -> 0.1 MB
    run = run_limited("result = read(path)", READ_PTH + f"path = {str(path)!r}")
    # Before: data.pkl inflated whole into memory (128 MB), then walked.
    _refused(run, f"{path} at byte offset 0: archive/data.pkl is compressed", mb=30)


def test_other_members_of_a_torch_zip_pass_the_shared_member_check(tmp_path):
    path = fx.write_nb201_pth_zip(tmp_path / "names.pth", 3)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("names/../../escape", b"\x00" * (4 << 20))
    with pytest.raises(UnsafePickleError, match=r"refusing zip member 'names/../../escape': '..' in the path"):
        LegacyPth(path)


def test_a_nats_member_that_inflates_past_its_cap_is_refused(tmp_path):
    refs = b"\x80\x02]q\x00(" + b"h\x00" * (12 << 20) + b"e."            # 24 MB of memo references
    tar = _nats_with(tmp_path / "bomb.tar", {"000001.pickle.pbz2": refs})
    run = run_limited("result = read(path)", READ_NATS + f"path = {str(tar)!r}")
    # Before: inflated (24 MB) and unpickled into a list of 12.6 million references (more than 120 MB);
    # 256 MB of them, just under the old cap, took more than 1 GB.
    _refused(run, f"{tar}:000001.pickle.pbz2", "more than 4 MiB once decompressed", mb=40)


# -- record ends that are not -----------------------------------------------------------------------
def test_record_contents_that_imitate_record_ends_cost_a_bounded_parse(tmp_path):
    path = fx.write_nb201_pth(tmp_path / "ends.pth", 3)
    data = path.read_bytes()
    ops = _ops(data)
    record = _arch0(ops)
    first = next(arg for name, arg, pos in ops if pos > record and name in ("BINPUT", "LONG_BINPUT"))
    at, text = next((pos, arg) for name, arg, pos in ops if name == "BINUNICODE" and arg.startswith("x-valid@"))
    # "K\0}r<first+1>": arch key 0, '}', its memo index: every 8 bytes a candidate end that passes every
    # test but the parse. 1.7 MB of them, as one key string.
    fake = (b"K\x00}r" + struct.pack("<I", first + 1)) * ((17 << 20) // 80)
    size = len(text.encode())
    path.write_bytes(data[:at] + b"X" + struct.pack("<I", len(fake)) + fake + data[at + 5 + size:])
    run = run_limited("result = read(path)", READ_PTH + f"path = {str(path)!r}", timeout=120)
    # Before: each of the 220,000 candidates re-parsed the record from its start: more than 5 minutes.
    _refused(run, f"{path} at byte offset {record}: cannot find where the architecture record starting here ends",
             "more than 16 times", mb=100, seconds=10)


# -- nesting ----------------------------------------------------------------------------------------
DEEP_LIST = b"(" * NESTED + b"N" + b"l" * NESTED
DEEP_DICT = b"(K\x00" * NESTED + b"N" + b"d" * NESTED
DEEP_TUPLE = b"N" + b"\x85" * NESTED


@pytest.mark.parametrize("kind, body, offset", [
    ("lists", DEEP_LIST, 2 + NESTED + 1 + 100),               # the 101st LIST
    ("dicts", DEEP_DICT, 2 + 3 * NESTED + 1 + 100),           # the 101st DICT
    ("tuples", DEEP_TUPLE, None),
])
def test_deeply_nested_values_are_refused_by_position(kind, body, offset):
    # Before: loaded; whatever later recursed over them (repr, json, ==) raised RecursionError.
    match = (r"w.pickle at byte offset \d+: the pickle builds more than 20000 tuples" if kind == "tuples" else
             rf"w.pickle at byte offset {offset}: the pickle nests lists, dicts, tuples or sets more than 100 levels")
    with pytest.raises(RawFormatError, match=match):
        restricted_loads(b"\x80\x02" + body + b".", "w.pickle")


def test_containers_shared_out_of_proportion_are_refused():
    # 40 lists, each holding the previous one twice: 0.4 KB that json.dumps or repr would walk as 2**40 lists.
    data = b"\x80\x02]q\x00" + b"".join(b"](" + b"h" + bytes([i - 1]) + b"h" + bytes([i - 1]) + b"eq" + bytes([i])
                                          for i in range(1, 40)) + b"."
    # Before: loaded; json.dumps of it ran for ever.
    with pytest.raises(RawFormatError, match=r"w.pickle: the pickle's containers refer to each other more than its "
                                             r"357 bytes allow for a tree"):
        restricted_loads(data, "w.pickle")


def test_nesting_the_releases_use_loads():
    value = {"a": [[[[[[[[{"b": (1, (2, (3,)))}]]]]]]]]}
    assert restricted_loads(pickle.dumps(value, protocol=2), "w.pickle") == value


def test_a_dict_key_of_a_million_nested_tuples_does_not_crash_the_reader(tmp_path):
    key = b"}N" + b"\x85" * 1_000_000 + b"Ns"                                 # 1 MB
    tar = _nats_with(tmp_path / "crash.tar", {"000001.pickle.pbz2": b"\x80\x04" + key + b"."})
    run = run_limited("result = read(path)", READ_NATS + f"path = {str(tar)!r}")
    # Before: the C unpickler hashed the key recursively and the interpreter died (SIGSEGV).
    _refused(run, f"{tar}:000001.pickle.pbz2 at byte offset 20004: the pickle builds more than 20000 tuples")


def test_a_nats_meta_nested_100000_deep_is_refused_by_position(tmp_path):
    meta = (b"\x80\x02}(X\x0a\x00\x00\x00meta_archs](" + DEEP_LIST
            + b"".join(b"X" + struct.pack("<I", len(a)) + a.encode() for a in fx.arch_strings(3)) + b"eu.")
    tar = _nats_with(tmp_path / "meta.tar", {"meta.pickle.pbz2": meta})
    run = run_limited("result = read(path)", CONVERT + f"path = {str(tar)!r}")
    # Before: RecursionError from json.dumps, writing meta_archs into the part's metadata.
    _refused(run, f"{tar}:meta.pickle.pbz2 at byte offset {21 + NESTED + 1 + 100}: the pickle nests lists")


def test_a_pth_meta_archs_nested_100000_deep_is_refused_by_position(tmp_path):
    path = fx.write_nb201_pth(tmp_path / "meta.pth", 3)
    data = path.read_bytes()
    ops = _ops(data)
    at, arg = next((pos, arg) for name, arg, pos in ops if name == "BINUNICODE" and arg.startswith("|"))
    deep = b"]" * NESTED + b"a" * (NESTED - 1)                               # the skeleton builds it in Python
    path.write_bytes(data[:at] + deep + data[at + 5 + len(arg):])
    run = run_limited("result = read(path)", CONVERT + f"path = {str(path)!r}")
    # Before: RecursionError from json.dumps.
    _refused(run, f"{path} at byte offset {at + NESTED + 99}: the pickle nests lists")


def test_a_5000_digit_magic_number_is_a_message(tmp_path):
    path = fx.write_nb201_pth(tmp_path / "long.pth", 3)
    digits = (10 ** 5000).to_bytes(2077, "little")
    path.write_bytes(b"\x80\x02\x8b" + struct.pack("<i", len(digits)) + digits + b"." + path.read_bytes()[15:])
    # Before: ValueError (Exceeds the limit (4300 digits) for integer string conversion) from the message itself.
    with pytest.raises(RawFormatError, match=r"long.pth at byte offset 0: magic an integer of 166\d\d bits / "
                                             r"protocol version 1001"):
        LegacyPth(path)


# -- stand-ins the pickle cannot change -------------------------------------------------------------
DTYPE = b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00f8\x89\x88\x87R"
PLAIN_STATE = b"(K\x03X\x01\x00\x00\x00>NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"


@pytest.fixture
def stand_ins_restored():
    """Whatever a test's pickle does to the stand-ins is undone afterwards (it mutated them before)."""
    encode = unpickler._latin1_encode
    saved = (encode.__defaults__, dict(encode.__dict__))
    yield
    encode.__defaults__ = saved[0]
    encode.__dict__.clear()
    encode.__dict__.update(saved[1])


@pytest.mark.parametrize("data, problem", [
    (b"\x80\x02c_codecs\nencode\nN}X\x0c\x00\x00\x00__defaults__X\x06\x00\x00\x00latin1\x85s\x86b.",
     "BUILD on the global _codecs.encode is not allowed"),
    (b"\x80\x02c_codecs\nencode\n}X\x01\x00\x00\x00xK\x01sb.", "BUILD on the global _codecs.encode is not allowed"),
    (b"\x80\x02cnumpy\ndtype\n}X\x01\x00\x00\x00xK\x01sb.", "BUILD on the global numpy.dtype is not allowed"),
    (DTYPE + b"(K\x03X\x01\x00\x00\x00<X\x04\x00\x00\x00junkNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb.",
     "is not the state of a plain numeric dtype"),
    (DTYPE + b"}X\x09\x00\x00\x00byteorderX\x01\x00\x00\x00>sb.", "is not numpy's 8-item dtype state"),
    (DTYPE + PLAIN_STATE + PLAIN_STATE + b".", "a second BUILD on a numpy dtype is not allowed"),
])
def test_build_on_a_stand_in_is_refused(stand_ins_restored, data, problem):
    # Before: each loaded; the first set _codecs.encode's defaults to latin1 for every later load.
    with pytest.raises(RawFormatError, match=f"w.pickle: the pickle is damaged or truncated .*{problem}"):
        restricted_loads(data, "w.pickle")
    assert unpickler._latin1_encode.__defaults__ == ("utf-8", "strict")
    assert not unpickler._latin1_encode.__dict__


def test_the_dtype_state_numpy_writes_is_kept():
    value = restricted_loads(DTYPE + PLAIN_STATE + b"0" + b"cnumpy.core.multiarray\nscalar\n" + DTYPE[2:]
                             + PLAIN_STATE + b"C\x08" + struct.pack(">d", 2.5) + b"\x86R.", "w.pickle")
    assert value == 2.5


def test_build_on_a_dropped_memo_entry_takes_only_a_dtype_state():
    tombstone = b"c%s\n%s\n" % tuple(s.encode() for s in TOMBSTONE_GLOBAL)

    def load(data: bytes):
        u = RestrictedUnpickler(io.BytesIO(b"\x80\x02" + data + b"."), "w.pth")
        u.maintenance = True
        return u.load()

    assert load(tombstone + PLAIN_STATE) is TOMBSTONE
    with pytest.raises(pickle.UnpicklingError, match="BUILD on a dropped memo entry"):
        load(tombstone + b"}X\x01\x00\x00\x00xK\x01sb")
