"""The restricted unpickler: every pickle in a raw file is loaded through here.

Nothing in a raw file is executed. The C unpickler is used with `find_class` limited to the
globals the releases contain (OrderedDict, numpy's dtype and scalar constructors, _codecs.encode,
and set/frozenset, which a protocol-2 pickle of a set names as `__builtin__.set`), each replaced by
an inert stand-in that builds plain Python values; every other global and every persistent id
raises UnsafePickleError naming it before anything is called. The pickle cannot change a stand-in
either: BUILD (`__setstate__`) is refused on every one of them, except the one state numpy writes
for a plain dtype, once, right after the dtype is made.

The one exception is the tombstone the streaming `.pth` reader (nasbench201/pth.py) writes into
memo slots it no longer needs: it is only reachable while that reader sets `maintenance`, and it
is an inert object of this module, so a file naming it gets the usual refusal.

A small pickle must not be able to take much memory or crash the process. `check_pickle` runs
before the C unpickler sees the bytes (docs/formats.md#safety-rules):

* **Memo indices.** The C unpickler keeps its memo in an array as long as the largest index
  stored, plus as much again (16 bytes per index): `80 02 4e 72 00 00 00 04 2e`, nine bytes,
  stores to index 2**26 and takes 1 GB. A pickler numbers memo entries 0, 1, 2, ... and every
  entry costs at least two bytes of input (an object and its PUT or MEMOIZE), so a genuine PUT
  stores to an index below its own byte offset. A PUT whose index is larger than the bytes of
  the pickle before it is refused (the streamed `.pth` bounds it by the whole pickle's length
  instead, see `LegacyPth.archs`). Finding the real PUTs needs their positions: a byte search
  for `r` (LONG_BINPUT, a 4-byte index) and `p<digits>\\n` (PUT) finds every real PUT and also
  data that looks like one (text such as "ori-test" reads as LONG_BINPUT 1.7e9). A look-alike that
  breaks the rule is checked precisely: up to _LOCAL_PROOFS of them are each shown not to start an
  opcode from the bytes just before it (`_not_an_opcode`, cheap); otherwise the pickle is walked
  opcode by opcode from its start, exactly as the C unpickler reads it (`_walk`, about 20 ns a
  byte in Python; `_walk_c`, the same walk in C, _opwalk.c, where it is built). Only a real PUT
  is refused, by its offset. BINPUT (1-byte index) and MEMOIZE (the next index) cannot break the
  rule.
* **Tuples.** Hashing a tuple recurses in C without a depth check: a dict key of 150,000 nested
  tuples (150 KB) crashes the interpreter inside the C unpickler. Tuple depth is at most the
  number of tuple opcodes (TUPLE1-3, and TUPLE, which needs a MARK each); if the bytes that look
  like them allow more than MAX_TUPLE_OPCODES, the opcode walk counts the real ones, and a pickle
  with more is refused.

`check_nesting` runs on what was loaded: containers nested more than MAX_NESTING deep (the
releases nest 8 deep) are refused, so no later recursive code (repr, json) meets them.
"""
from __future__ import annotations

import _compat_pickle
import gc
import io
import mmap
import pickle
import pickletools
import re
import struct
from itertools import compress

import numpy as np

from ..errors import RawFormatError, UnsafePickleError, shown
from ..extensions import c_extension

_opwalk = c_extension(f"{__package__}._opwalk")  # the opcode walk in C
# Which opcode walk check_pickle runs, decided once above: "c" (`_walk_c`) or "python" (`_walk`).
WALK_IMPLEMENTATION = "python" if _opwalk is None else "c"

TOMBSTONE_GLOBAL = ("nasbench_store.safety.unpickler", "TOMBSTONE")
MAX_NESTING = 100
MAX_TUPLE_OPCODES = 20_000
_HINT = "this is not a genuine NAS-Bench-201 file; nothing was loaded"


def _dtype_state_problem(state) -> str | None:
    """Why `state` is not what numpy writes for a plain dtype (3, '<', None, None, None, -1, -1, 0)."""
    if not (type(state) is tuple and len(state) == 8):
        return "is not numpy's 8-item dtype state"
    version, order, subdescr, names, fields, elsize, alignment, flags = state
    if (version, subdescr, names, fields, elsize, alignment, flags) != (3, None, None, None, -1, -1, 0):
        return "is not the state of a plain numeric dtype"
    if order not in ("<", ">", "=", "|") and order is not TOMBSTONE:
        return "has no byte order"
    return None


class _Tombstone:
    """Left in memo slots of converted architectures. Whatever the parse does with one (store it,
    call it, fill it), it ends up referenced, so a fetch of a dropped entry shows up as a higher
    reference count after the parse and the entry is restored (see `LegacyPth._parse_range` in
    nasbench201/pth.py). The stand-ins below pass a tombstone through for the same reason; BUILD
    takes only the dtype state a dtype made from a dropped spec string receives."""
    __slots__ = ()

    def __repr__(self):
        return "<dropped memo entry>"

    def __call__(self, *args, **kwargs):
        return self

    def __setitem__(self, key, value):
        pass

    def __setstate__(self, state):
        if state is not TOMBSTONE and _dtype_state_problem(state):
            raise pickle.UnpicklingError(f"BUILD on a dropped memo entry with state {shown(state)} is not allowed")

    def append(self, item):
        pass

    def extend(self, items):
        pass


TOMBSTONE = _Tombstone()


# -- inert stand-ins for the allowed globals -------------------------------------------------------
class _DType:
    """numpy.dtype('<f8')-style descriptor, enough to decode numpy scalars; nothing else."""
    __slots__ = ("format", "byteorder", "_built")
    _FORMATS = {"f8": "d", "f4": "f", "f2": "e", "i8": "q", "i4": "i", "i2": "h", "i1": "b",
                "u8": "Q", "u4": "I", "u2": "H", "u1": "B", "b1": "?"}

    def __init__(self, spec, align=False, copy=False):
        if not isinstance(spec, str) or spec not in self._FORMATS:
            raise pickle.UnpicklingError(f"numpy dtype {shown(spec)} is not a plain numeric type")
        self.format = self._FORMATS[spec]
        self.byteorder = "<"
        self._built = False

    def __setstate__(self, state):
        """numpy's BUILD right after the dtype is made, once: (3, order, None, None, None, -1, -1, 0)."""
        if state is TOMBSTONE or (type(state) is tuple and any(s is TOMBSTONE for s in state)):
            return   # a dropped '<' or state: the reference count brings the record back (pth.py)
        if self._built:
            raise pickle.UnpicklingError("a second BUILD on a numpy dtype is not allowed")
        problem = _dtype_state_problem(state)
        if problem:
            raise pickle.UnpicklingError(f"numpy dtype state {shown(state)} {problem}")
        self._built = True
        self.byteorder = "<" if state[1] in ("=", "|") else state[1]


def _dtype(spec, align=False, copy=False):
    return TOMBSTONE if spec is TOMBSTONE else _DType(spec, align, copy)


def _scalar(dtype, data):
    """numpy.core.multiarray.scalar(dtype, bytes) -> the Python float/int/bool it holds."""
    if dtype is TOMBSTONE or data is TOMBSTONE:
        return TOMBSTONE
    if not isinstance(dtype, _DType) or not isinstance(data, bytes):
        raise pickle.UnpicklingError("numpy scalar needs a dtype and its bytes")
    fmt = struct.Struct(dtype.byteorder + dtype.format)
    if len(data) != fmt.size:
        raise pickle.UnpicklingError(f"numpy scalar of {len(data)} bytes for a {fmt.size}-byte type")
    return fmt.unpack(data)[0]


def _latin1_encode(text, encoding="utf-8", errors="strict"):
    """_codecs.encode as protocol 2 uses it for bytes: latin-1 text -> bytes, nothing else."""
    if text is TOMBSTONE or encoding is TOMBSTONE:
        return TOMBSTONE
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode is only allowed for latin1 text, not {shown(encoding)}")
    return text.encode("latin1")


def _set_of(kind: type):
    """set / frozenset as protocol 2 pickles them, `set([items])`: a plain set of already-built values."""
    def build(items=(), *rest):
        if items is TOMBSTONE:
            return TOMBSTONE
        if rest or not isinstance(items, (list, tuple, set, frozenset)):
            raise pickle.UnpicklingError(f"{kind.__name__}() is only allowed on one list of values")
        try:
            return kind(items)
        except TypeError as exc:   # an unhashable item: a list or dict cannot be a set member
            raise pickle.UnpicklingError(f"{kind.__name__}() of unhashable items ({exc})") from None
    build.__name__ = build.__qualname__ = f"inert_{kind.__name__}"
    return build


class _Global:
    """What `find_class` hands the C unpickler for an allowed global: calling it builds a plain
    value; it has no attributes to set and BUILD on it is refused (a pickle could otherwise set
    attributes of the functions and classes behind it, for every later load in the process).
    Each global is an instance of its own subclass whose `__call__` is the stand-in itself, so a
    call costs no extra Python frame."""
    __slots__ = ()
    _name = ""

    def __setstate__(self, state):
        raise pickle.UnpicklingError(f"BUILD on the global {self._name} is not allowed")

    def __repr__(self):
        return f"<inert {self._name}>"


def _global(build, name: str) -> _Global:
    return type(f"_Inert_{name.replace('.', '_')}", (_Global,),
                {"__slots__": (), "__call__": staticmethod(build), "_name": name})()


_SET, _FROZENSET = _set_of(set), _set_of(frozenset)

ALLOWED_GLOBALS = {key: _global(build, ".".join(key)) for key, build in {
    ("collections", "OrderedDict"): dict,
    ("_codecs", "encode"): _latin1_encode,
    ("numpy", "dtype"): _dtype,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("__builtin__", "set"): _SET,              # Python 2's module name, as protocol 2 writes it
    ("builtins", "set"): _SET,
    ("__builtin__", "frozenset"): _FROZENSET,
    ("builtins", "frozenset"): _FROZENSET,
}.items()}


class RestrictedUnpickler(pickle.Unpickler):
    """The C unpickler, allowed only ALLOWED_GLOBALS and no persistent ids; errors name `where`."""

    def __init__(self, file, where: str, offset: int | None = None):
        super().__init__(file)
        self.where = where
        self.offset = offset
        self.maintenance = False

    def find_class(self, module, name):
        if self.maintenance and (module, name) == TOMBSTONE_GLOBAL:
            return TOMBSTONE
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            py3 = ".".join(_compat_pickle.NAME_MAPPING.get(
                (module, name), (_compat_pickle.IMPORT_MAPPING.get(module, module), name)))
            written = "" if py3 == f"{module}.{name}" else f" (written {module}.{name}, Python 2's name)"
            raise UnsafePickleError(
                self.where, self.offset, f"the pickle asks for the global {py3}{written}, which is not allowed",
                "NAS-Bench-201 files only contain OrderedDict, numpy scalars, _codecs.encode and sets; "
                "this file is not a genuine release and was not loaded") from None

    def persistent_load(self, pid):
        raise UnsafePickleError(self.where, self.offset, f"the pickle asks for persistent id {pid!r}",
                                "genuine NAS-Bench-201 files hold no tensors; this file was not loaded")


def restricted_loads(data: bytes, where: str) -> object:
    """One pickle from bytes, restricted and checked; RawFormatError naming `where` if it is damaged."""
    check_pickle(data, where)
    try:
        value = RestrictedUnpickler(io.BytesIO(data), where).load()
    except UnsafePickleError:
        raise
    except Exception as exc:
        raise RawFormatError(where, None, f"the pickle is damaged or truncated ({exc})") from None
    check_nesting(value, where, None, data)
    return value


# -- the opcode walk -------------------------------------------------------------------------------
# How the C unpickler reads each opcode: > 0 a fixed total length; else one of these kinds.
_INVALID, _STOP, _LEN1, _LEN4, _LEN4_SIGNED, _LEN8, _LINE, _LINES2, _LONG_BINPUT, _PUT, _TUPLE = range(0, -11, -1)


def _opcode_kinds() -> list[int]:
    kinds = [_INVALID] * 256
    for op in pickletools.opcodes:
        code, n = ord(op.code), (None if op.arg is None else op.arg.n)
        if op.name in ("TUPLE", "TUPLE1", "TUPLE2", "TUPLE3"):
            kinds[code] = _TUPLE
        elif op.name == "STOP":
            kinds[code] = _STOP
        elif op.name == "LONG_BINPUT":
            kinds[code] = _LONG_BINPUT
        elif op.name == "PUT":
            kinds[code] = _PUT
        elif n is None or n >= 0:
            kinds[code] = 1 + (n or 0)
        elif n == pickletools.UP_TO_NEWLINE:
            kinds[code] = _LINES2 if op.name in ("GLOBAL", "INST") else _LINE
        elif n == pickletools.TAKEN_FROM_ARGUMENT1:
            kinds[code] = _LEN1
        elif op.name == "LONG4":                 # the only signed count; BINSTRING's is unsigned in C
            kinds[code] = _LEN4_SIGNED
        elif n in (pickletools.TAKEN_FROM_ARGUMENT4, pickletools.TAKEN_FROM_ARGUMENT4U):
            kinds[code] = _LEN4
        elif n == pickletools.TAKEN_FROM_ARGUMENT8U:
            kinds[code] = _LEN8
        else:  # pragma: no cover - pickletools has no other argument kinds
            raise AssertionError(op.name)
    return kinds


_KINDS = _opcode_kinds()
_LEN_BYTES = {_LEN4: 4, _LEN4_SIGNED: 4, _LEN8: 8}
# bytes.translate tables: the opcodes with a 4- or 8-byte count -> 1, 2, 3; the tuple opcodes and MARK kept.
_COUNTED = bytes(1 + list(_LEN_BYTES).index(k) if k in _LEN_BYTES else 0 for k in _KINDS)
_NOT_TUPLE_OR_MARK = bytes(b for b in range(256) if b not in b"t(\x85\x86\x87")
_COUNTED_BY_1 = re.compile(b"[" + re.escape(bytes(c for c in range(256) if _KINDS[c] == _LEN1)) + b"]")
# Every line the C unpickler's PUT reads as a number (PyLong_FromString: spaces, a sign, digits and
# underscores, spaces), and more.
_PUT_LINE = re.compile(rb"p[ \t\r\x0b\x0c]*[-+]?[0-9][0-9_]*[ \t\r\x0b\x0c]*\n")


def _put_index(line: bytes) -> int | None:
    """The index of a text PUT line (`p<index>\\n` without the p), as the C unpickler parses it."""
    try:
        return int(line)
    except ValueError:
        return None


def _walk(data, pos: int, end: int, last: int, limit: int | None, shift: int, count_tuples: bool):
    """Walk the opcodes of data[pos:end] from `pos`, an opcode boundary, as the C unpickler reads
    them (it stops where the walk stops: STOP, an unknown opcode, or a truncated argument).

    A PUT at offset o may store up to `limit`, or up to o + shift if limit is None. Returns the first
    problem, ('put', offset, index) for a PUT beyond that or ('tuples', offset, count) for one tuple
    opcode too many if `count_tuples`, else None. The walk ends after `last` (no problem lies beyond).
    """
    kinds, len1, long_binput = _KINDS, _LEN1, _LONG_BINPUT   # locals: this loop runs per opcode
    tuples = 0
    stop = min(end, last + 1)
    while pos < stop:
        kind = kinds[data[pos]]
        if kind > 0:
            pos += kind
        elif kind == len1:
            if pos + 2 > end:
                return None
            pos += 2 + data[pos + 1]
        elif kind == long_binput:
            if pos + 5 > end:
                return None
            index = int.from_bytes(data[pos + 1:pos + 5], "little")
            if index > (pos + shift if limit is None else limit):
                return "put", pos, index
            pos += 5
        elif kind == _TUPLE:
            tuples += 1
            if count_tuples and tuples > MAX_TUPLE_OPCODES:
                return "tuples", pos, tuples
            pos += 1
        elif kind == _LEN4 or kind == _LEN4_SIGNED:
            if pos + 5 > end:
                return None
            n = int.from_bytes(data[pos + 1:pos + 5], "little", signed=kind == _LEN4_SIGNED)
            if n < 0:
                return None
            pos += 5 + n
        elif kind == _LEN8:
            if pos + 9 > end:
                return None
            pos += 9 + int.from_bytes(data[pos + 1:pos + 9], "little")
        elif kind == _LINE or kind == _PUT or kind == _LINES2:
            nl = data.find(b"\n", pos + 1, end)
            if nl < 0:
                return None
            if kind == _PUT:
                index = _put_index(bytes(data[pos + 1:nl + 1]))
                if index is not None and index > (pos + shift if limit is None else limit):
                    return "put", pos, index
            elif kind == _LINES2:
                nl = data.find(b"\n", nl + 1, end)
                if nl < 0:
                    return None
            pos = nl + 1
        else:   # STOP or not an opcode
            return None
    return None


_KIND_BYTES = bytes(k & 0xFF for k in _KINDS)     # _KINDS as signed bytes, the table the C walk reads
_C_BUFFERS = (bytes, bytearray, mmap.mmap)
_C_FAR = 1 << 61                                  # bounds and shifts the C walk takes (int64, no overflow)


def _walk_c(data, pos: int, end: int, last: int, limit: int | None, shift: int, count_tuples: bool):
    """`_walk` in C (_opwalk.walk, GIL released on long ranges): the same answer for every input.

    The C loop reads text PUT lines of plain ASCII digits itself and hands any other line back here
    for `_put_index` (Python's int(): spaces, a sign, underscores), then goes on after it. Arguments
    it does not take (another type of buffer, pos < 0, end past the data, bounds beyond 2**61) run
    the Python walk instead.
    """
    stop = min(end, last + 1)
    if pos >= stop:
        return None
    if (_opwalk is None or not isinstance(data, _C_BUFFERS) or pos < 0 or end > len(data)
            or not -_C_FAR <= shift <= _C_FAR or (limit is not None and not -_C_FAR <= limit <= _C_FAR)):
        return _walk(data, pos, end, last, limit, shift, count_tuples)
    walk, kinds, has_limit, max_tuples = _opwalk.walk, _KIND_BYTES, limit is not None, min(MAX_TUPLE_OPCODES, _C_FAR)
    start, tuples = pos, 0
    while True:
        status, pos, value, tuples = walk(data, kinds, pos, stop, end, has_limit, limit or 0, shift,
                                          count_tuples, tuples, max_tuples)
        if status == _opwalk.WALK_DONE:
            return None
        if status == _opwalk.WALK_PUT:
            return "put", pos, value
        if status == _opwalk.WALK_TUPLES:
            return "tuples", pos, value
        if status != _opwalk.WALK_SLOW:   # WALK_ARGS: not reached after the checks above
            return _walk(data, start, end, last, limit, shift, count_tuples)
        index = _put_index(bytes(data[pos + 1:value + 1]))
        if index is not None and index > (pos + shift if limit is None else limit):
            return "put", pos, index
        pos = value + 1


# The walk check_pickle runs: C where built (and not NASBENCH_PURE_PYTHON=1), else the Python loop.
_walk_opcodes = _walk if _opwalk is None else _walk_c


def _put_lookalikes(data, start: int, end: int, bound_at_start: int, limit: int | None) -> list[int]:
    """Offsets in data[start:end] of the byte sequences that read as a PUT breaking the rule, in order.

    A superset of the real offending PUTs: every LONG_BINPUT `r` byte whose next four bytes exceed
    the bound at that offset, and every `p<digits>` whose number does.
    """
    found: list[int] = []
    n = end - start
    if n >= 5 and (limit is None or limit < 0xFFFFFFFF):
        arr = np.frombuffer(data, dtype=np.uint8, count=n, offset=start)
        pos = np.flatnonzero(arr[:n - 4] == ord("r"))
        # Only an index of at least the smallest bound can break it: screen by the top byte first.
        floor = bound_at_start if limit is None else limit
        pos = pos[arr[pos + 4] >= min(floor >> 24, 255)]
        if pos.size:
            index = _unaligned(data, start + 1, n - 4, "<u4")[pos].astype(np.int64)
            rule = limit if limit is not None else bound_at_start + pos
            found = (pos[index > rule] + start).tolist()
        del arr
    lines = []
    for m in _PUT_LINE.finditer(data, start, end):
        index = _put_index(m.group()[1:])
        if index is not None and index > (limit if limit is not None else bound_at_start + m.start() - start):
            lines.append(m.start())
    return sorted(found + lines) if lines else found


def _unaligned(data, offset: int, count: int, dtype: str) -> np.ndarray:
    """The integer at every byte offset offset, offset + 1, ... (count of them): a view, no copy."""
    return np.ndarray((max(count, 0),), dtype=dtype, buffer=data, offset=offset, strides=(1,))


def _tuple_bound(data, start: int, end: int) -> int:
    """An upper bound on the tuple opcodes data[start:end] runs: TUPLE1-3 look-alikes, and TUPLE
    look-alikes up to the MARK look-alikes (each TUPLE takes the items above a MARK)."""
    kept = (data if start == 0 and end == len(data) else data[start:end]).translate(None, _NOT_TUPLE_OR_MARK)
    return (kept.count(b"\x85") + kept.count(b"\x86") + kept.count(b"\x87")
            + min(kept.count(b"t"), kept.count(b"(")))


# -- a few look-alikes: each shown not to be an opcode without walking from the start --------------
_LOCAL_PROOFS = 64       # look-alikes in one range proved one by one; more, and the range is walked
_REACH = 192             # how far before a look-alike the proof starts walking
_FIXED_MAX = 9           # the longest opcode of fixed length (BINFLOAT, FRAME)


def _step(data, pos: int, end: int) -> int:
    """Offset of the opcode after the one at `pos`, or -1 where the C unpickler would stop."""
    kind = _KINDS[data[pos]]
    if kind > 0:
        return pos + kind
    if kind in (_LONG_BINPUT, _TUPLE):
        return pos + (5 if kind == _LONG_BINPUT else 1)
    if kind == _LEN1:
        return pos + 2 + data[pos + 1] if pos + 2 <= end else -1
    width = _LEN_BYTES.get(kind)
    if width:
        if pos + 1 + width > end:
            return -1
        n = int.from_bytes(data[pos + 1:pos + 1 + width], "little", signed=kind == _LEN4_SIGNED)
        return pos + 1 + width + n if n >= 0 else -1
    if kind in (_LINE, _PUT, _LINES2):
        nl = data.find(b"\n", pos + 1, end)
        if nl >= 0 and kind == _LINES2:
            nl = data.find(b"\n", nl + 1, end)
        return nl + 1 if nl >= 0 else -1
    return -1


def _long_landings(data, start: int, stop: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """(where each opcode with a 4- or 8-byte count would end, where it starts), sorted by the end,
    for every byte of data[start:stop] read as such an opcode (a superset of the real ones); only
    ends up to `stop` are kept."""
    total = end - start
    kinds = np.frombuffer(data[start:stop].translate(_COUNTED), dtype=np.uint8)
    every = np.flatnonzero(kinds != 0)
    codes = kinds[every]
    ends, starts = [], []
    for code, (kind, width) in enumerate(_LEN_BYTES.items(), 1):
        pos = every[(codes == code) & (every + width < total)]
        length = _unaligned(data, start + 1, total - width, "<u4" if width == 4 else "<u8")[pos].astype(np.uint64)
        if kind == _LEN4_SIGNED:
            length[length >= (1 << 31)] = np.uint64(1 << 62)     # negative: the C unpickler stops
        keep = length < np.uint64(stop - start)
        pos, length = pos[keep], length[keep].astype(np.int64)
        ends.append(pos + 1 + width + length + start)
        starts.append(pos + start)
    ends_all, starts_all = np.concatenate(ends), np.concatenate(starts)
    order = np.argsort(ends_all, kind="stable")
    return ends_all[order], starts_all[order]


def _not_an_opcode(data, origin: int, end: int, c: int, landings) -> bool:
    """True if, read from `origin` (an opcode boundary), data[c] is not where an opcode starts.

    The opcodes read from `origin` have one first opcode at or after a = c - _REACH. The one before it
    starts before a: if its length is fixed (at most 9 bytes), that first opcode lies in [a, a + 9);
    otherwise it is where a counted or newline-ended opcode that starts before a ends. Walking from
    each of these candidates to c covers the real reading; if none lands on c, no opcode starts
    there. (A walk that fails to land proves nothing about the others, so all must miss.)
    """
    a = c - _REACH
    if a <= origin + _FIXED_MAX:
        starts = {origin}
    else:
        starts = set(range(a, a + _FIXED_MAX))
        nl = data.find(b"\n", a + _FIXED_MAX - 1, c)
        while nl >= 0:                                  # after a line opcode
            starts.add(nl + 1)
            nl = data.find(b"\n", nl + 1, c)
        for m in _COUNTED_BY_1.finditer(data, max(origin, a - 257), a):   # after a 1-byte-counted opcode
            t = m.start()
            if a + _FIXED_MAX <= t + 2 + data[t + 1] <= c:
                starts.add(t + 2 + data[t + 1])
        ends, froms = landings
        lo, hi = np.searchsorted(ends, [a + _FIXED_MAX, c + 1])
        if hi > lo:
            before = froms[lo:hi]
            starts.update(ends[lo:hi][(before >= origin) & (before < a)].tolist())
    seen: set[int] = set()
    for pos in sorted(starts):
        while 0 <= pos < c and pos not in seen:
            seen.add(pos)
            pos = _step(data, pos, end)
        if pos == c:
            return False
    return True


def check_pickle(data, where: str, start: int = 0, end: int | None = None, *, base: int = 0,
                 limit: int | None = None, offset: int | None = None) -> None:
    """Refuse, before the C unpickler runs them, the opcodes of data[start:end] that could take memory
    or crash the process out of proportion to their size (see the module docstring).

    data[start] is an opcode boundary at byte `base` of its pickle. A PUT may store to an index up to
    the pickle's bytes before it, or up to `limit` if one is given (the streamed `.pth`: the pickle's
    length). `offset` is where data[start] lies in the file, for messages (None: `base`).
    """
    end = len(data) if end is None else end
    offset = base if offset is None else offset

    def bound(pos: int) -> int:
        return limit if limit is not None else base + pos - start

    looks = _put_lookalikes(data, start, end, base, limit)
    count_tuples = _tuple_bound(data, start, end) > MAX_TUPLE_OPCODES
    if not looks and not count_tuples:
        return
    last = end if count_tuples else looks[-1]
    if not count_tuples and len(looks) <= _LOCAL_PROOFS:
        landings = _long_landings(data, start, last, end)
        unresolved = [c for c in looks if not _not_an_opcode(data, start, end, c, landings)]
        if not unresolved:
            return
        last = unresolved[-1]
    problem = _walk_opcodes(data, start, end, last, limit, base - start, count_tuples)
    if problem is None:
        return
    kind, pos, value = problem
    at = offset + pos - start
    if kind == "put":
        raise memo_index_error(where, at, value, bound(pos), limit is not None)
    raise tuples_error(where, at)


def memo_index_error(where, at: int, index: int, bound: int, whole_pickle: bool) -> RawFormatError:
    """The error for a PUT to memo index `index` above `bound`: the pickle's bytes before it, or
    (`whole_pickle`) the pickle's length."""
    read = "the pickle's length" if whole_pickle else "the bytes of the pickle before it"
    return RawFormatError(where, at, f"the pickle stores to memo index {index}, more than {read} ({bound}); "
                          f"memo entries are numbered from 0 and each takes at least two bytes, so no pickler "
                          f"writes this", _HINT)


def tuples_error(where, at: int) -> RawFormatError:
    return RawFormatError(where, at, f"the pickle builds more than {MAX_TUPLE_OPCODES} tuples (NAS-Bench-201 "
                          f"pickles hold a few hundred); tuples nested that deep would crash the unpickler", _HINT)


# -- nesting of what was loaded --------------------------------------------------------------------
_CONTAINERS = frozenset({dict, list, tuple, set, frozenset})
_is_container = _CONTAINERS.__contains__


def _too_deep(value, limit: int, budget: int) -> str | None:
    """What is wrong with the nesting of `value`: containers more than `limit` deep ("deep"), or more
    than `budget` containers seen as a tree ("shared": containers referring to the same ones over and
    over, a value that recursive code such as json would walk out of all proportion); else None.

    Level by level, as a tree (a container met twice counts twice), so the work stops at `budget`,
    the pickle's size: a tree cannot have more containers than its pickle has bytes. A dict CPython
    does not track for garbage collection holds only atomic values and untracked tuples (whose depth
    check_pickle bounds), so its values are not visited: the per-epoch dicts of floats, most of a
    record, cost nothing.
    """
    level = [value] if type(value) in _CONTAINERS else []
    depth = 0
    while level:
        depth += 1
        budget -= len(level)
        if depth > limit:
            return "deep"
        if budget < 0:
            return "shared"
        below = []
        for obj in level:
            if type(obj) is dict:
                if gc.is_tracked(obj):
                    values, keys = obj.values(), obj.keys()
                    below.extend(compress(values, map(_is_container, map(type, values))))
                    below.extend(compress(keys, map(_is_container, map(type, keys))))
            else:
                below.extend(compress(obj, map(_is_container, map(type, obj))))
        level = below
    return None


def check_nesting(value, where: str, offset: int | None, data=None, start: int = 0, end: int | None = None) -> None:
    """Refuse a loaded value whose containers nest more than MAX_NESTING deep, naming where the
    pickle data[start:end] (if given) builds the too-deep container."""
    end = (len(data) if end is None else end) if data is not None else None
    budget = (end - start if data is not None else 1 << 30) + 16
    problem = _too_deep(value, MAX_NESTING, budget)
    if problem is None:
        return
    if problem == "shared":
        raise RawFormatError(where, offset, f"the pickle's containers refer to each other more than its "
                             f"{budget - 16} bytes allow for a tree (a value recursive code would walk out of "
                             f"all proportion)", _HINT)
    at = offset
    if data is not None:
        pos = _nesting_offset(data, start, end, MAX_NESTING)
        if pos is not None:
            at = (offset or 0) + pos - start
    raise RawFormatError(where, at, f"the pickle nests lists, dicts, tuples or sets more than {MAX_NESTING} levels "
                         f"deep (NAS-Bench-201 values nest 8 deep)", _HINT)


def _nesting_offset(data, pos: int, end: int, limit: int) -> int | None:
    """Where the opcodes from `pos` first build a container more than `limit` deep (an estimate:
    containers filled after they were memoized are not followed); None if not found."""
    kinds = _KINDS
    stack: list[int] = []
    marks: list[int] = []
    memo: dict[int, int] = {}
    try:
        while pos < end:
            op = data[pos]
            kind = kinds[op]
            at = pos
            if kind > 0:
                pos += kind
            elif kind in (_LONG_BINPUT, _TUPLE):
                pos += 5 if kind == _LONG_BINPUT else 1
            elif kind == _LEN1:
                pos += 2 + data[pos + 1]
            elif kind in (_LEN4, _LEN4_SIGNED):
                pos += 5 + int.from_bytes(data[pos + 1:pos + 5], "little")
            elif kind == _LEN8:
                pos += 9 + int.from_bytes(data[pos + 1:pos + 9], "little")
            elif kind in (_LINE, _PUT, _LINES2):
                pos = data.find(b"\n", pos + 1, end) + 1
                if kind == _LINES2:
                    pos = data.find(b"\n", pos, end) + 1
                if pos <= 0:
                    return None
            else:
                return None
            depth = _stack_effect(op, data, at, stack, marks, memo)
            if depth > limit:
                return at
    except (IndexError, ValueError):
        return None
    return None


def _stack_effect(op: int, data, at: int, stack: list, marks: list, memo: dict) -> int:
    """Apply opcode `op` at `at` to a stack of nesting depths; return the depth it made (0 if none)."""
    c = chr(op)
    if c == "(":
        marks.append(len(stack))
        return 0
    if c in "tld\x91":                    # a container of the items above the mark
        m = marks.pop()
        items = stack[m:]
        del stack[m:]
        stack.append(1 + max(items, default=0))
        return stack[-1]
    if c in "eu\x90":                     # items above the mark into the container below it
        m = marks.pop()
        items = stack[m:]
        del stack[m:]
        stack[-1] = max(stack[-1], 1 + max(items, default=0))
        return stack[-1]
    if c in "\x85\x86\x87":
        n = op - 0x84
        items = stack[-n:]
        del stack[-n:]
        stack.append(1 + max(items))
        return stack[-1]
    if c in "as":                          # one item (s: key and value) into the container below
        n = 1 if c == "a" else 2
        items = stack[-n:]
        del stack[-n:]
        stack[-1] = max(stack[-1], 1 + max(items))
        return stack[-1]
    if c in "Rb\x81":                      # callable/class and its args or state
        top = stack.pop()
        stack[-1] = max(stack[-1], top)
        return stack[-1]
    if c in "}])\x8f":
        stack.append(1)
    elif c in "qr\x94":
        index = (data[at + 1] if c == "q" else int.from_bytes(data[at + 1:at + 5], "little")
                 if c == "r" else len(memo))
        memo[index] = stack[-1]
    elif c in "hj":
        stack.append(memo.get(data[at + 1] if c == "h" else int.from_bytes(data[at + 1:at + 5], "little"), 0))
    elif c in "0":
        stack.pop()
    elif c == "1":
        del stack[marks.pop():]
    elif c == "2":
        stack.append(stack[-1])
    elif c in "\x93\x92":
        del stack[-(2 if c == "\x93" else 3):]
        stack.append(0)
    elif c in "oi":
        m = marks.pop()
        items = stack[m:]
        del stack[m:]
        stack.append(max(items, default=0))
    elif c not in "\x80\x95p":             # everything else pushes one plain value (or nothing we follow)
        stack.append(0)
    return 0
