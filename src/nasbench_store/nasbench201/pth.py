"""The streaming reader of NAS-Bench-201's `.pth` (legacy torch.save or zip), one architecture at a time.

Nothing in the file is executed: the skeleton walk below refuses any global outright, and the
header and every architecture record go through `nasbench_store.safety.unpickler`.

The legacy `.pth` is one 5 GB pickle of a dict; loaded whole it needs ~24 GB. `LegacyPth` walks
the dict's skeleton (meta_archs, the arch2infos batches, the tail) with a small pure-Python
opcode reader and hands each architecture's value to one persistent C unpickler, so parsing runs
at C speed while one architecture is alive at a time:

* An architecture's value ends where the next one starts: a key opcode, then `}` and a PUT whose
  memo index is larger than the current one's. Candidates come from a C-speed regex search. The
  C unpickler runs the candidate range with no STOP appended: a range that cuts an opcode short
  stops before running it, and the range is accepted only if it ends on an opcode boundary with
  the architecture's dict (fetched from its memo slot) complete, which happens only once its
  final SETITEMS ran. The last architecture is parsed together with the tail.
* The memo is shared across architectures (later ones fetch strings earlier ones defined), so one
  C unpickler keeps its memo across `load()` calls. After an architecture is converted its memo
  slots get an inert tombstone. A later record that fetches one is caught by the tombstone's
  reference count; the LONG_BINGET-shaped byte patterns in that record (a superset of its real
  fetches) then say which earlier records to re-parse, and the entries they restore stay pinned.
* Every range handed to the C unpickler passes `safety.unpickler.check_pickle` first, with the
  memo bound set to the pickle's length (see `archs`); the skeleton walk checks its own PUTs.
  The windows of the C unpickler that this reader writes itself (`_put_all`: tombstones, `None`
  placeholders, the skeleton's placeholders in `_tail`) only store to memo indices of ranges
  already checked, so they stay allowed.
* Finding a record's end tries candidate ends in order, each a parse from the record's start; the
  attempts for one record may parse at most REPARSE_FACTOR times the bytes up to the candidate,
  so contents that imitate record ends cost a bounded multiple of the record, not its square.

Format: docs/formats.md#nb201-legacy-torch-file.
"""
from __future__ import annotations

import io
import mmap
import pickle
import re
import struct
import sys
import zipfile
from bisect import bisect_right
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path, PurePosixPath

import numpy as np

from ..errors import RawFormatError, UnsafePickleError, shown
from ..safety.archives import zip_member_problem
from ..safety.unpickler import (
    MAX_TUPLE_OPCODES,
    TOMBSTONE,
    TOMBSTONE_GLOBAL,
    RestrictedUnpickler,
    check_nesting,
    check_pickle,
    memo_index_error,
    tuples_error,
)
from .constants import HP_EPOCHS

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001
LEGACY_STORAGE_KEYS = b"\x80\x02]q\x00."
MAX_TAIL_BYTES = 256 << 20
RELEASE_BYTES = 64 << 20
# Candidate ends one record may try, as bytes parsed over the bytes up to the candidate. Genuine
# records need 1 to 6 tries (the ends of inner dicts that follow an int look like record ends).
REPARSE_FACTOR = 16
# Of the work a .pth job spends per byte of a record it converts, the part that is the conversion;
# the rest is parsing, which every job does up to the end of its share (release-shaped 4 GB file:
# parsing 42 s, converting 53 s).
CONVERT_SHARE = 0.56
_ZIP_HINT = "a torch.save zip holds plain relative names and stores data.pkl uncompressed; this is not one"


class _Feed:
    """File-like input for the persistent C unpickler; `set()` swaps in the next sub-pickle."""

    def __init__(self):
        self.data = memoryview(b"")
        self.pos = 0

    def set(self, data) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def peek(self, n=0):
        return self.data[self.pos:]

    def read(self, n=-1):
        # Never a short read: the C unpickler keeps a short read's bytes buffered after its
        # "truncated" error and would start its next load() with them.
        end = len(self.data) if n is None or n < 0 else self.pos + n
        if end > len(self.data):
            return b""
        out = bytes(self.data[self.pos:end])
        self.pos = end
        return out

    def readinto(self, b):
        chunk = self.read(len(b))
        b[:len(chunk)] = chunk
        return len(chunk)

    def readline(self):
        data = self.data[self.pos:]
        end = bytes(data[:4096]).find(b"\n")
        end = len(data) if end < 0 else end + 1
        return self.read(end)


_CANDIDATE = re.compile(rb"\}(?:q|r)")
_KEY_FORMS = ((2, ord("K"), "<B"), (3, ord("M"), "<H"), (5, ord("J"), "<i"))
_MARK, _STOP = ord("("), ord(".")
_IS_OPCODE = np.zeros(256, dtype=bool)
_IS_OPCODE[list(b"(.012FIJKLMNPQRSTUVXabcd}eghijl]opqrst)uG")] = True
_IS_OPCODE[0x80:0x8C] = True


def _put_index(buf, pos: int) -> int | None:
    """Memo index of the PUT opcode at `pos` (q/r), else None."""
    op = buf[pos] if pos < len(buf) else None
    if op == ord("q"):
        return buf[pos + 1]
    if op == ord("r"):
        return struct.unpack_from("<I", buf, pos + 1)[0]
    return None


class LegacyPth:
    """NAS-Bench-201 benchmark dict in a pickle stream, read one architecture at a time.

    `meta_archs` is available once `archs()` has started; `archs()` yields (arch_index, info)
    where info maps epochs (12, 200) to ArchState dicts, and `record_offset` is then the file
    offset where that architecture's record starts. Use as a context manager.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.meta_archs: list[str] | None = None
        self.evaluated_indexes: list[int] | None = None
        self.record_offset: int | None = None
        self._stack = ExitStack()
        self.buf, self.start, self.end, self.is_legacy = self._open()

    # -- container ------------------------------------------------------------------------
    def _open(self):
        f = self._stack.enter_context(open(self.path, "rb"))
        size = self.path.stat().st_size
        if size == 0:
            raise RawFormatError(self.path, 0, "the file is empty")
        buf = self._stack.enter_context(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))
        if buf[:4] == b"PK\x03\x04":      # torch's own test for its zip format
            return self._open_zip(buf)
        offset = self._read_header(buf)
        return buf, offset, size, True

    def _open_zip(self, buf):
        try:
            with zipfile.ZipFile(self.path) as zf:
                infos = zf.infolist()
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise RawFormatError(self.path, None, f"the torch zip file is damaged or truncated ({exc})") from None
        names = [i for i in infos if PurePosixPath(i.filename).name == "data.pkl"]
        if len(names) != 1:
            raise RawFormatError(self.path, None, "a torch zip file must hold exactly one */data.pkl",
                                 "this is not a torch.save file")
        info = names[0]
        if info.compress_type != zipfile.ZIP_STORED:
            raise UnsafePickleError(self.path, info.header_offset, f"{info.filename} is compressed (zip method "
                                    f"{info.compress_type}); torch.save stores it uncompressed, so it is not "
                                    f"decompressed", _ZIP_HINT)
        for member in infos:   # torch stores every member: none can be larger than the file that holds it
            problem = zip_member_problem(member, len(buf))
            if problem:
                raise UnsafePickleError(self.path, member.header_offset, f"refusing zip member "
                                        f"{member.filename!r}: {problem}", _ZIP_HINT)
        if info.header_offset + 30 > len(buf) or buf[info.header_offset:info.header_offset + 4] != b"PK\x03\x04":
            raise RawFormatError(self.path, info.header_offset, "data.pkl has no local header (the zip is damaged)")
        name_len, extra_len = struct.unpack_from("<HH", buf, info.header_offset + 26)
        start = info.header_offset + 30 + name_len + extra_len
        if start + info.file_size > len(buf):
            raise RawFormatError(self.path, start, "data.pkl runs past the end of the file (truncated)")
        return buf, start, start + info.file_size, False

    def _read_header(self, buf) -> int:
        header = bytes(buf[:4096])
        feed = io.BytesIO(header)
        where = str(self.path)
        values = []
        try:
            for _ in range(3):   # magic, protocol version, sys_info
                at = feed.tell()
                check_pickle(header, where, at, offset=at)
                values.append(RestrictedUnpickler(feed, where, at).load())
                check_nesting(values[-1], where, at, header, at, feed.tell())
        except (UnsafePickleError, RawFormatError):
            raise
        except Exception as exc:
            raise RawFormatError(self.path, feed.tell(), f"not a legacy torch.save header ({exc})",
                                 "expected NAS-Bench-201-v1_*.pth (truncated or another file?)") from None
        magic, version, sys_info = values
        if magic != LEGACY_MAGIC or version != LEGACY_PROTOCOL_VERSION:
            raise RawFormatError(self.path, 0, f"magic {shown(magic)} / protocol version {shown(version)} are not "
                                               f"torch's legacy format", "expected a NAS-Bench-201 .pth")
        if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
            raise RawFormatError(self.path, feed.tell(), f"unsupported torch sys_info {shown(sys_info)}")
        return feed.tell()

    def byte_share(self, index: int, count: int) -> tuple[int, int]:
        """Job `index` of `count`'s share [lo, hi) of the pickle's bytes: the records starting there.

        Job k parses every record up to its share's end and converts its own, so equal shares would
        leave the last job the longest. With a fraction c of a byte's work in converting it, shares
        ending at (1 - c^k) / (1 - c^count) of the file give every job the same work.
        """
        size, c = self.end - self.start, CONVERT_SHARE

        def bound(k: int) -> int:
            return self.start + (size if k == count else round(size * (1 - c ** k) / (1 - c ** count)))
        return bound(index), bound(index + 1)

    def __enter__(self) -> LegacyPth:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.buf = None
        self._stack.close()

    # -- skeleton walk ----------------------------------------------------------------------
    def archs(self) -> Iterator[tuple[int, dict[int, dict]]]:
        buf, pos = self.buf, self.start
        stack: list = []
        marks: list[int] = []
        memo: dict[int, object] = {}
        self._feed = _Feed()
        self._c = RestrictedUnpickler(self._feed, str(self.path))
        self._c_seeded = False
        self._released = 0
        self._ranges: list[tuple[int, int, int, int]] = []   # (first memo idx, next idx, start, end)
        self._range_starts: list[int] = []
        self._pinned: set[int] = set()
        self._pinned_arr = np.empty(0, dtype=np.uint32)
        # Memo indices may go up to the pickle's length (not each PUT's own offset, as for a standalone
        # pickle: text in the records such as "ori-test" reads as LONG_BINPUT 1.7e9, which would send
        # most records of the 5 GB release through the opcode walk). The worst case is the same either
        # way, a PUT at the end of the pickle: 16 bytes of memo per byte of input. The release (5.0 GB)
        # is longer than any 4-byte index, so its records are never walked.
        self._memo_limit = self.end - self.start
        self._at = pos
        try:
            yield from self._walk_skeleton(buf, pos, stack, marks, memo)
        except (IndexError, KeyError, TypeError, AttributeError, ValueError, OverflowError, struct.error) as exc:
            raise RawFormatError(self.path, self._at, f"the benchmark pickle is damaged ({type(exc).__name__}: "
                                 f"{shown(exc)})") from None

    def _walk_skeleton(self, buf, pos: int, stack: list, marks: list[int], memo: dict):
        """The dict's skeleton in Python; each architecture's value goes to the C unpickler."""
        a2i = None
        tuples = 0
        end = self.end
        while True:
            if pos >= end:
                raise RawFormatError(self.path, pos, "the pickle ends early (the file is truncated)")
            op = buf[pos]
            at = self._at = pos
            pos += 1
            if op == 0x80:                       # PROTO
                pos += 1
            elif op == ord("}"):
                if a2i is not None and self._is_arch_value(stack, marks, a2i):
                    key = stack[-1]
                    if not self._c_seeded:        # the C memo learns the skeleton's entries
                        self._c_load(bytes(buf[self.start:at]) + b".", self.start)
                        self._c_seeded = True
                    result = self._arch_value(at, stack, marks)
                    if result is None:            # tail mode consumed the rest of the pickle
                        yield self._last
                        return
                    value, pos = result
                    self.record_offset = at
                    yield key, self._normalize(key, value, at)
                    self._drop_last()
                    self._release(at)
                    stack.append(None)
                    continue
                obj = {}
                if stack and type(stack[-1]) is str and stack[-1] == "arch2infos":
                    a2i = obj
                    self.meta_archs = self._pending(stack, "meta_archs")
                    check_nesting(self.meta_archs, self.path, self.start, buf, self.start, at)
                stack.append(obj)
            elif op == ord("]"):
                stack.append([])
            elif op == ord(")"):
                stack.append(())
            elif op == _MARK:
                marks.append(len(stack))
            elif op in (ord("u"), ord("e"), ord("t")):
                if not marks:
                    raise RawFormatError(self.path, at, "MARK missing: the pickle is damaged")
                m = marks.pop()
                items = stack[m:]
                del stack[m:]
                if op == ord("t"):
                    tuples += 1
                    if tuples > MAX_TUPLE_OPCODES:   # hashing deeply nested tuples crashes (unpickler.py)
                        raise tuples_error(self.path, at)
                    stack.append(tuple(items))
                elif op == ord("e"):
                    stack[-1].extend(items)
                else:
                    self._setitems(stack[-1], items, at)
            elif op == ord("s"):
                k, v = stack[-2], stack[-1]
                del stack[-2:]
                self._setitems(stack[-1], [k, v], at)
            elif op == ord("a"):
                v = stack.pop()
                stack[-1].append(v)
            elif op in (0x85, 0x86, 0x87):
                tuples += 1
                if tuples > MAX_TUPLE_OPCODES:
                    raise tuples_error(self.path, at)
                n = op - 0x84
                items = tuple(stack[-n:])
                del stack[-n:]
                stack.append(items)
            elif op == ord("X"):
                n = struct.unpack_from("<I", buf, pos)[0]
                stack.append(str(buf[pos + 4:pos + 4 + n], "utf-8", "surrogatepass"))
                pos += 4 + n
            elif op == ord("K"):
                stack.append(buf[pos])
                pos += 1
            elif op == ord("M"):
                stack.append(struct.unpack_from("<H", buf, pos)[0])
                pos += 2
            elif op == ord("J"):
                stack.append(struct.unpack_from("<i", buf, pos)[0])
                pos += 4
            elif op == ord("G"):
                stack.append(struct.unpack_from(">d", buf, pos)[0])
                pos += 8
            elif op in (ord("N"), 0x88, 0x89):
                stack.append({ord("N"): None, 0x88: True, 0x89: False}[op])
            elif op in (ord("q"), ord("r")):
                if self._c_seeded:
                    raise RawFormatError(self.path, at, "memoized objects between architectures are "
                                                        "not supported (not a NAS-Bench-201 layout)")
                idx = buf[pos] if op == ord("q") else struct.unpack_from("<I", buf, pos)[0]
                if idx > self._memo_limit:
                    raise memo_index_error(self.path, at, idx, self._memo_limit, True)
                memo[idx] = stack[-1]
                pos += 1 if op == ord("q") else 4
            elif op in (ord("h"), ord("j")):
                idx = buf[pos] if op == ord("h") else struct.unpack_from("<I", buf, pos)[0]
                pos += 1 if op == ord("h") else 4
                if idx not in memo:
                    raise RawFormatError(self.path, at, f"memo index {idx} used before it was defined")
                stack.append(memo[idx])
            elif op == _STOP:
                self._finish(stack, pos)
                return
            elif op in (ord("c"), 0x93):
                name = bytes(buf[pos:pos + 200]).split(b"\n")[:2]
                raise UnsafePickleError(self.path, at, f"a global ({b'.'.join(name).decode('latin1')}) outside "
                                                       f"the architecture records",
                                        "not a NAS-Bench-201 layout; the file was not loaded")
            else:
                raise RawFormatError(self.path, at, f"unexpected pickle opcode {bytes([op])!r} in the "
                                                    f"benchmark's top-level structure")

    def _setitems(self, target, items: list, at: int) -> None:
        if not isinstance(target, dict) or len(items) % 2:
            raise RawFormatError(self.path, at, "SETITEMS on a non-dict or with an odd item count")
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]

    @staticmethod
    def _is_arch_value(stack: list, marks: list[int], a2i: dict) -> bool:
        if len(stack) >= 2 and stack[-2] is a2i:
            return True
        return bool(marks) and marks[-1] >= 1 and stack[marks[-1] - 1] is a2i and (len(stack) - marks[-1]) % 2 == 1

    def _pending(self, stack: list, key: str):
        for i in range(len(stack) - 1):
            if type(stack[i]) is str and stack[i] == key:
                return stack[i + 1]
        raise RawFormatError(self.path, None, f"'{key}' does not come before 'arch2infos'",
                             "not a NAS-Bench-201 benchmark file")

    def _finish(self, stack: list, pos: int) -> None:
        top = stack[-1] if stack else None
        if not isinstance(top, dict) or "meta_archs" not in top:
            raise RawFormatError(self.path, pos, "the pickle is not NAS-Bench-201's benchmark dict")
        if self.meta_archs is None:
            self.meta_archs = top["meta_archs"]
            check_nesting(self.meta_archs, self.path, self.start, self.buf, self.start, pos)
        self.evaluated_indexes = self._evaluated(top, pos)
        self._check_end(pos)

    def _evaluated(self, top: dict, pos: int) -> list[int]:
        """evaluated_indexes, sorted: the release saves a list, one generation script a set."""
        value = top.get("evaluated_indexes", [])
        if not isinstance(value, (list, tuple, set, frozenset)) or any(type(i) is not int for i in value):
            raise RawFormatError(self.path, pos, "evaluated_indexes is not a collection of architecture indexes",
                                 "not a NAS-Bench-201 benchmark file")
        return sorted(value)

    def _check_end(self, pos: int) -> None:
        if self.is_legacy:
            if bytes(self.buf[pos:self.end]) != LEGACY_STORAGE_KEYS:
                raise RawFormatError(self.path, pos, "the benchmark pickle is not followed by torch's empty "
                                                     "storage-key list only (truncated or extra bytes)")
        elif pos != self.end:
            raise RawFormatError(self.path, pos, "unexpected bytes after the benchmark pickle in data.pkl")

    # -- one architecture -------------------------------------------------------------------
    def _arch_value(self, p: int, stack: list, marks: list[int]):
        """Parse the architecture value starting at `p`; (value, end) or None after the tail."""
        buf = self.buf
        first = _put_index(buf, p + 1)
        if first is None:
            raise RawFormatError(self.path, p, "architecture dict without a memo index (unsupported layout)")
        if first > self._memo_limit:
            raise memo_index_error(self.path, p + 1, first, self._memo_limit, True)
        n_meta = len(self.meta_archs)
        tried = spent = 0
        for m in _CANDIDATE.finditer(buf, p + 2, self.end):
            c = m.start()
            for back, opcode, fmt in _KEY_FORMS:
                kpos = c - back
                if kpos <= p or buf[kpos] != opcode:
                    continue
                nxt = _put_index(buf, c + 1)
                key = struct.unpack_from(fmt, buf, kpos + 1)[0]
                if (nxt is None or not first < nxt <= min(first + (kpos - p) // 2, self._memo_limit)
                        or not 0 <= key < n_meta):
                    continue
                e = kpos - 2 if buf[kpos - 2:kpos] == b"u(" else kpos
                tried += 1
                spent += e - p
                if spent > REPARSE_FACTOR * (e - p):
                    raise RawFormatError(self.path, p, f"cannot find where the architecture record starting here "
                                         f"ends: {tried} candidate ends tried, parsing {spent} bytes, more than "
                                         f"{REPARSE_FACTOR} times the {e - p} bytes up to the last one",
                                         "the file is damaged or not a NAS-Bench-201 release")
                value = self._try_parse(p, e, first, nxt)
                if value is not None:
                    self._ranges.append((first, nxt, p, e))
                    self._range_starts.append(first)
                    return value, e
        self._tail(p, stack, marks, first)
        return None

    def _try_parse(self, p: int, e: int, first: int, nxt: int):
        """The architecture dict if bytes [p, e) are exactly its value (memo slots first..nxt-1)."""
        if not self._parse_range(p, e, first, nxt):
            return None
        value = self._c_load(_get_opcode(first) + b".", None)
        if isinstance(value, dict) and value and all(k in HP_EPOCHS and isinstance(v, dict) and "all_results" in v
                                                     for k, v in value.items()):
            check_nesting(value, self.path, p, self.buf, p, e)
            return value
        return None

    def _parse_range(self, p: int, e: int, first: int, nxt: int) -> bool:
        """Run [p, e) like `_run_window`; if it fetched dropped memo entries, restore and rerun.

        A fetched tombstone stays referenced by what the parse built, so it shows as a higher
        reference count. The record's own slots are emptied first, so that objects left there
        by an earlier attempt cannot hide it.
        """
        for attempt in range(2):
            self._set_slots(first, nxt, b"N")
            before = self._tombstone_refs()
            if not self._run_window(p, e):
                return False
            if sys.getrefcount(TOMBSTONE) == before:
                return True
            if attempt:
                raise RawFormatError(self.path, p, "this record fetches memo entries that could not be restored")
            self._restore(p, e, first)
        return False

    def _tombstone_refs(self) -> int:
        self._c_load(b"N.", None)   # load() starts by emptying the stack left by the last window
        return sys.getrefcount(TOMBSTONE)

    def _run_window(self, p: int, e: int) -> bool:
        """Run the opcodes in [p, e) without a STOP; True if they end exactly at an opcode boundary.

        No byte is appended: a window that cuts an opcode short stops with "truncated" before that
        opcode runs, so a wrong guess can never store into a memo slot the real stream does not.
        The dict is then fetched from its memo slot, complete only if its last SETITEMS ran.
        """
        window = bytes(self.buf[p:e])
        check_pickle(window, str(self.path), base=p - self.start, limit=self._memo_limit, offset=p)
        try:
            self._c_load(window, p)
        except UnsafePickleError:
            raise
        except EOFError:
            return self._feed.pos == self._feed.data.nbytes
        except pickle.UnpicklingError as exc:
            if "truncated" not in str(exc):
                self._fresh_unpickler()
            return False
        except Exception:
            self._fresh_unpickler()
            return False
        raise RawFormatError(self.path, p, "a STOP opcode inside an architecture record")

    def _fresh_unpickler(self) -> None:
        """After an error mid-window the C unpickler still buffers the window's rest: replace it,
        keeping its memo (one C-level copy; only damaged or unusual files get here)."""
        fresh = RestrictedUnpickler(self._feed, str(self.path))
        fresh.memo = self._c.memo
        self._c = fresh

    def _c_load(self, data: bytes, offset: int):
        self._feed.set(data)
        self._c.offset = offset
        return self._c.load()

    def _tail(self, p: int, stack: list, marks: list[int], first: int) -> None:
        """Parse the last architecture and the rest of the pickle in one C call."""
        if self.end - p > MAX_TAIL_BYTES:
            raise RawFormatError(self.path, p, "cannot find where this architecture's record ends",
                                 "the file is damaged or not a NAS-Bench-201 release")
        prefix = bytearray(b"\x80\x02")
        mark_at = set(marks)
        for i, item in enumerate(stack):
            if i in mark_at:
                prefix += b"("
            prefix += _placeholder(item)
        data = bytes(prefix) + bytes(self.buf[p:self.end])
        check_pickle(data, str(self.path), len(prefix), base=p - self.start, limit=self._memo_limit, offset=p)
        for attempt in range(2):               # as in _parse_range, with the real STOP at the end
            self._set_slots(first, min(first + (self.end - p) // 2, self._memo_limit + 1), b"N")
            before = self._tombstone_refs()
            top = self._tail_load(data, p)
            if sys.getrefcount(TOMBSTONE) == before:
                break
            top = None
            if attempt:
                raise RawFormatError(self.path, p, "the last record fetches memo entries that could not be restored")
            self._restore(p, self.end, first)
        end = p + self._feed.pos - len(prefix)
        key = stack[-1]
        if not isinstance(top, dict) or not isinstance(top.get("arch2infos"), dict) or key not in top["arch2infos"]:
            raise RawFormatError(self.path, p, "the end of the pickle is not the benchmark dict's tail")
        check_nesting(top, self.path, p, data, len(prefix))
        self.evaluated_indexes = self._evaluated(top, p)
        self._check_end(end)
        self._last = (key, self._normalize(key, top["arch2infos"][key], p))
        self.record_offset = p

    def _tail_load(self, data: bytes, p: int):
        try:
            return self._c_load(data, p)
        except UnsafePickleError:
            raise
        except Exception as exc:
            raise RawFormatError(self.path, p, f"the last architecture record or the end of the pickle is "
                                               f"damaged or truncated ({exc})") from None

    def _normalize(self, key, value: dict, offset: int) -> dict[int, dict]:
        if not isinstance(key, int) or not 0 <= key < len(self.meta_archs):
            raise RawFormatError(self.path, offset, f"arch2infos key {shown(key)} is not a meta_archs index")
        return {HP_EPOCHS[hp]: state for hp, state in value.items()}

    # -- memo bookkeeping -----------------------------------------------------------------------
    def _restore(self, lo: int, hi: int, first: int) -> None:
        """Bring back the dropped memo entries bytes [lo, hi) may fetch and pin them.

        LONG_BINGET-shaped byte patterns (a superset of the real fetches) pointing into dropped
        ranges are restored by re-parsing the record that defined them.
        """
        arr = np.frombuffer(self.buf, dtype=np.uint8, count=hi - lo, offset=lo)
        pos = np.flatnonzero(arr[:-5] == ord("j")) + 1
        pos = pos[_IS_OPCODE[arr[pos + 4]]]          # a real fetch is followed by an opcode
        idx = (arr[pos].astype(np.uint32) | arr[pos + 1].astype(np.uint32) << 8
               | arr[pos + 2].astype(np.uint32) << 16 | arr[pos + 3].astype(np.uint32) << 24)
        del arr
        idx = idx[(idx >= max(256, self._range_starts[0] if self._ranges else first)) & (idx < first)]
        missing: dict[int, list[int]] = {}
        for x in set(idx.tolist()) - self._pinned:
            r = bisect_right(self._range_starts, x) - 1
            if r >= 0 and x < self._ranges[r][1]:
                missing.setdefault(r, []).append(x)
        for r, xs in missing.items():
            a, nxt, p, e = self._ranges[r]
            if not self._parse_range(p, e, a, nxt):
                raise RawFormatError(self.path, p, "re-reading an architecture record failed")
            self._pinned.update(xs)
            self._pinned_arr = np.array(sorted(self._pinned), dtype=np.uint32)
            self._drop(a, nxt)
            self._forget_pages(p, e)

    def _release(self, upto: int) -> None:
        """Let the kernel take back the mapped pages already read (they count as our RSS);
        re-reading an old record just faults them in again."""
        if upto - self._released >= RELEASE_BYTES:
            self._forget_pages(self._released, upto)
            self._released = upto

    def _forget_pages(self, lo: int, hi: int) -> None:
        page = mmap.PAGESIZE
        start, end = lo // page * page, hi // page * page
        if isinstance(self.buf, mmap.mmap) and end > start:
            self.buf.madvise(mmap.MADV_DONTNEED, start, end - start)

    def _drop_last(self) -> None:
        a, nxt, _, _ = self._ranges[-1]
        self._drop(a, nxt)

    def _drop(self, a: int, nxt: int) -> None:
        """Overwrite memo slots [a, nxt) (except pinned and < 256) with the tombstone."""
        idx = np.arange(max(a, 256), nxt, dtype=np.uint32)
        if self._pinned_arr.size:
            idx = idx[~np.isin(idx, self._pinned_arr)]
        module, name = TOMBSTONE_GLOBAL
        self._c.maintenance = True
        try:
            self._put_all(b"c" + f"{module}\n{name}\n".encode(), idx)
        finally:
            self._c.maintenance = False

    def _set_slots(self, a: int, nxt: int, push: bytes) -> None:
        """Store the object `push` makes into memo slots [a, nxt)."""
        self._put_all(push, np.arange(a, nxt, dtype=np.uint32))

    def _put_all(self, push: bytes, idx: np.ndarray) -> None:
        if not idx.size:
            return
        small = idx[idx < 256]
        ops = np.empty(idx.size - small.size, dtype=[("op", "u1"), ("idx", "<u4")])
        ops["op"] = ord("r")
        ops["idx"] = idx[idx >= 256]
        self._c_load(b"\x80\x02" + push + b"".join(b"q" + bytes((i,)) for i in small.tolist())
                     + ops.tobytes() + b".", None)


def _get_opcode(idx: int) -> bytes:
    return b"h" + bytes((idx,)) if idx < 256 else b"j" + struct.pack("<I", idx)


def _placeholder(item) -> bytes:
    """Opcodes pushing a stand-in for a skeleton stack item when the tail is parsed in C."""
    if isinstance(item, dict):
        return b"}"
    if isinstance(item, list):
        return b"]"
    if type(item) is int and -(1 << 31) <= item < (1 << 31):
        return b"J" + struct.pack("<i", item)
    if type(item) is str:
        data = item.encode("utf-8", "surrogatepass")
        return b"X" + struct.pack("<I", len(data)) + data
    return b"N"
