"""The restricted unpickler: every pickle in a raw file is loaded through here.

Nothing in a raw file is executed. The C unpickler is used with `find_class` limited to the
globals the releases contain (OrderedDict, numpy's dtype and scalar constructors, _codecs.encode,
and set/frozenset, which a protocol-2 pickle of a set names as `__builtin__.set`), each replaced by
an inert stand-in that builds plain Python values; every other global and every persistent id
raises UnsafePickleError naming it before anything is called.

The one exception is the tombstone the streaming `.pth` reader (nasbench201/pth.py) writes into
memo slots it no longer needs: it is only reachable while that reader sets `maintenance`, and it
is an inert object of this module, so a file naming it gets the usual refusal.
"""
from __future__ import annotations

import _compat_pickle
import io
import pickle
import struct

from ..errors import RawFormatError, UnsafePickleError

TOMBSTONE_GLOBAL = ("nasbench_store.safety.unpickler", "TOMBSTONE")


class _Tombstone:
    """Left in memo slots of converted architectures. Whatever the parse does with one (store it,
    call it, fill it, build it), it ends up referenced, so a fetch of a dropped entry shows up as
    a higher reference count after the parse and the entry is restored (see `LegacyPth._parse_range`
    in nasbench201/pth.py). The stand-ins below pass a tombstone through for the same reason."""

    def __repr__(self):
        return "<dropped memo entry>"

    def __call__(self, *args, **kwargs):
        return self

    def __setitem__(self, key, value):
        pass

    def __setstate__(self, state):
        pass

    def append(self, item):
        pass

    def extend(self, items):
        pass


TOMBSTONE = _Tombstone()


# -- inert stand-ins for the allowed globals -------------------------------------------------------
class _DType:
    """numpy.dtype('<f8')-style descriptor, enough to decode numpy scalars; nothing else."""
    _FORMATS = {"f8": "d", "f4": "f", "f2": "e", "i8": "q", "i4": "i", "i2": "h", "i1": "b",
                "u8": "Q", "u4": "I", "u2": "H", "u1": "B", "b1": "?"}

    def __new__(cls, spec, align=False, copy=False):
        return TOMBSTONE if spec is TOMBSTONE else super().__new__(cls)

    def __init__(self, spec, align=False, copy=False):
        if not isinstance(spec, str) or spec not in self._FORMATS:
            raise pickle.UnpicklingError(f"numpy dtype {spec!r} is not a plain numeric type")
        self.format = self._FORMATS[spec]
        self.byteorder = "<"

    def __setstate__(self, state):
        if state is TOMBSTONE:
            return
        order = state[1] if isinstance(state, tuple) and len(state) > 1 else None
        if order not in ("<", ">", "=", "|"):
            raise pickle.UnpicklingError(f"numpy dtype state {state!r} has no byte order")
        self.byteorder = "<" if order in ("=", "|") else order


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
        raise pickle.UnpicklingError(f"_codecs.encode is only allowed for latin1 text, not {encoding!r}")
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


_SET, _FROZENSET = _set_of(set), _set_of(frozenset)

ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): dict,
    ("_codecs", "encode"): _latin1_encode,
    ("numpy", "dtype"): _DType,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("__builtin__", "set"): _SET,              # Python 2's module name, as protocol 2 writes it
    ("builtins", "set"): _SET,
    ("__builtin__", "frozenset"): _FROZENSET,
    ("builtins", "frozenset"): _FROZENSET,
}


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
    """One pickle from bytes, restricted; RawFormatError naming `where` if it is damaged."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), where).load()
    except UnsafePickleError:
        raise
    except Exception as exc:
        raise RawFormatError(where, None, f"the pickle is damaged or truncated ({exc})") from None

