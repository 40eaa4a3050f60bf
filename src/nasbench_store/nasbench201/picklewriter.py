"""A streaming protocol-2 pickle writer that reproduces CPython's C pickler byte for byte.

Why not `pickle.dump`: the benchmark needs a 5 GB pickle of one dict written without holding the
dict (the C pickler needs the whole object), and the 2020 release names numpy's scalar
constructor `numpy.core.multiarray.scalar` where numpy 2 says `numpy._core`. This writer emits
the same opcodes, memo indices and batching as `pickle.dumps(obj, protocol=2)`, lets the caller
write a dict's items one at a time, and forgets per-item objects once they are written (memo
indices keep increasing, as in the real file). Tests check it against the C pickler.
"""
from __future__ import annotations

import collections
import io
import struct
from collections.abc import Iterable
from typing import BinaryIO

import numpy as np

BATCHSIZE = 1000
_SCALAR_GLOBAL = b"cnumpy.core.multiarray\nscalar\n"
_NP_DTYPE_GLOBAL = b"cnumpy\ndtype\n"
_ENCODE_GLOBAL = b"c_codecs\nencode\n"
_ODICT_GLOBAL = b"ccollections\nOrderedDict\n"
_SET_GLOBAL = b"c__builtin__\nset\n"
_FROZENSET_GLOBAL = b"c__builtin__\nfrozenset\n"
_LATIN1 = "latin1"
_pack_d = struct.Struct(">d").pack
_pack_I = struct.Struct("<I").pack
_pack_i = struct.Struct("<i").pack
_pack_H = struct.Struct("<H").pack


class _GlobalRef:
    """Identity token for a global that is written once and fetched from the memo afterwards."""
    __slots__ = ("opcode",)

    def __init__(self, opcode: bytes):
        self.opcode = opcode


_SCALAR, _DTYPE_CLS, _ENCODE, _ODICT, _SET, _FROZENSET = (
    _GlobalRef(g) for g in (_SCALAR_GLOBAL, _NP_DTYPE_GLOBAL, _ENCODE_GLOBAL, _ODICT_GLOBAL, _SET_GLOBAL,
                            _FROZENSET_GLOBAL))


class _DTypeToken:
    """Stands for numpy.dtype('<f8') in the writer's memo (written once, then fetched)."""


_DTYPE_F8 = _DTypeToken()


class Protocol2Writer:
    """Write pickle opcodes to `out`; `save(obj)` handles the types NAS-Bench-201 files contain."""

    def __init__(self, out: BinaryIO, flush_bytes: int = 1 << 22):
        self._out = out
        self._buf = bytearray()
        self._flush_bytes = flush_bytes
        self.memo: dict[int, tuple[int, object]] = {}
        self.next_index = 0
        self._scopes: list[int] = []
        self._scope_ids: list[int] = []

    # -- low level -------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        self._buf += data
        if len(self._buf) >= self._flush_bytes:
            self.flush()

    def flush(self) -> None:
        self._out.write(self._buf)
        self._buf = bytearray()

    def _memoize(self, obj) -> None:
        idx = self.next_index
        self.next_index += 1
        self.memo[id(obj)] = (idx, obj)
        if self._scopes:
            self._scope_ids.append(id(obj))
        self._buf += (b"q" + bytes((idx,))) if idx < 256 else (b"r" + _pack_I(idx))

    def _get(self, idx: int) -> bytes:
        return (b"h" + bytes((idx,))) if idx < 256 else (b"j" + _pack_I(idx))

    def begin_scope(self) -> None:
        """Objects memoized from now on are forgotten by `end_scope` (they are never reused)."""
        self._scopes.append(len(self._scope_ids))

    def end_scope(self, keep: Iterable[object] = ()) -> None:
        """Forget the scope's objects except `keep`, globals, the dtype and 'latin1'."""
        start = self._scopes.pop()
        keep_ids = {id(o) for o in keep} | {id(_LATIN1)}
        for oid in self._scope_ids[start:]:
            obj = self.memo[oid][1]
            if oid not in keep_ids and type(obj) not in (_GlobalRef, _DTypeToken):
                del self.memo[oid]
        del self._scope_ids[start:]

    # -- objects ---------------------------------------------------------------------------
    def save(self, obj) -> None:
        t = type(obj)
        if t is float:
            self._buf += b"G" + _pack_d(obj)
        elif t is int:
            self._buf += _int(obj)
        elif obj is None:
            self._buf += b"N"
        elif t is bool:
            self._buf += b"\x88" if obj else b"\x89"
        else:
            hit = self.memo.get(id(obj))
            if hit is not None:
                self._buf += self._get(hit[0])
            elif t is str:
                data = obj.encode("utf-8", "surrogatepass")
                self._buf += b"X" + _pack_I(len(data)) + data
                self._memoize(obj)
            elif t is dict:
                self._buf += b"}"
                self._memoize(obj)
                self.save_items(obj.items(), len(obj), exact=True)
            elif t is list:
                self._buf += b"]"
                self._memoize(obj)
                self._save_list_items(obj)
            elif t is tuple:
                self._save_tuple(obj)
            elif t is collections.OrderedDict:
                self._save_global(_ODICT)
                self._buf += b")R"
                self._memoize(obj)
                self.save_items(obj.items(), len(obj), exact=False)
            elif t is set or t is frozenset:
                self._save_set(obj)
            elif t is np.float64:
                self._save_scalar(obj)
            elif t is bytes:
                self._save_bytes(obj)
            elif t is _DTypeToken:
                self.save_dtype(obj)
            else:
                raise TypeError(f"Protocol2Writer cannot write {t.__name__}")
        if len(self._buf) >= self._flush_bytes:
            self.flush()

    def save_items(self, items: Iterable[tuple], n: int, exact: bool) -> None:
        """A dict's SETITEM(S) opcodes as the C pickler batches them (exact dict or iterator)."""
        if n == 0:
            return
        if n == 1:
            (k, v), = items
            self.save(k)
            self.save(v)
            self._buf += b"s"
            return
        save = self.save
        written = 0
        it = iter(items)
        while written < n:
            batch = min(BATCHSIZE, n - written)
            if batch == 1 and not exact:
                k, v = next(it)
                save(k)
                save(v)
                self._buf += b"s"
                return
            self._buf += b"("
            for _ in range(batch):
                k, v = next(it)
                save(k)
                save(v)
            self._buf += b"u"
            written += batch

    def _save_list_items(self, items: list) -> None:
        n = len(items)
        if n == 0:
            return
        if n == 1:
            self.save(items[0])
            self._buf += b"a"
            return
        for start in range(0, n, BATCHSIZE):
            self._buf += b"("
            for item in items[start:start + BATCHSIZE]:
                self.save(item)
            self._buf += b"e"

    def _save_tuple(self, obj: tuple) -> None:
        if not obj:
            self._buf += b")"
            return
        if len(obj) <= 3:
            for item in obj:
                self.save(item)
            self._buf += b"\x85\x86\x87"[len(obj) - 1:len(obj)]
        else:
            self._buf += b"("
            for item in obj:
                self.save(item)
            self._buf += b"t"
        self._memoize(obj)

    def _save_global(self, ref: _GlobalRef) -> None:
        hit = self.memo.get(id(ref))
        if hit is not None:
            self._buf += self._get(hit[0])
        else:
            self._buf += ref.opcode
            self._memoize(ref)

    def _save_bytes(self, obj: bytes) -> None:
        # Protocol 2 has no bytes opcode under Python 3: _codecs.encode(latin-1 text, 'latin1').
        self._save_global(_ENCODE)
        self._save_tuple((obj.decode("latin1"), _LATIN1))
        self._buf += b"R"
        self._memoize(obj)

    def _save_set(self, obj: set | frozenset) -> None:
        # Protocol 2 has no set opcodes: set([items in iteration order]), the list and tuple memoized.
        self._save_global(_SET if type(obj) is set else _FROZENSET)
        self._save_tuple((list(obj),))
        self._buf += b"R"
        self._memoize(obj)

    def _save_scalar(self, value: np.float64) -> None:
        self._save_global(_SCALAR)
        self._save_tuple((_DTYPE_F8, value.tobytes()))
        self._buf += b"R"
        self._memoize(value)

    def save_dtype(self, dtype: _DTypeToken) -> None:
        self._save_global(_DTYPE_CLS)
        self._save_tuple(("f8", False, True))
        self._buf += b"R"
        self._memoize(dtype)
        self._save_tuple((3, "<", None, None, None, -1, -1, 0))
        self._buf += b"b"


def _int(n: int) -> bytes:
    if 0 <= n < 256:
        return b"K" + bytes((n,))
    if 0 <= n < 65536:
        return b"M" + _pack_H(n)
    if -(1 << 31) <= n < (1 << 31):
        return b"J" + _pack_i(n)
    data = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes((len(data),)) + data


def pickle_bytes(obj) -> bytes:
    """One complete protocol-2 pickle of `obj` (PROTO ... STOP), as bytes."""
    out = io.BytesIO()
    w = Protocol2Writer(out)
    w.write(b"\x80\x02")
    w.save(obj)
    w.write(b".")
    w.flush()
    return out.getvalue()
