"""TFRecord framing: length + masked CRC-32C header, payload, masked CRC-32C of the payload.

Both CRCs are checked on every record. Records are read from a memory map, so memory stays flat
whatever the file size, and a byte range can be read on its own (one shard per job).

Format: docs/formats.md#nb101-tfrecord-framing.
"""
from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import crc32c

from .errors import RawFormatError
from .extensions import c_extension

_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")
HEADER_SIZE = 12
FOOTER_SIZE = 4
# Real NB101 records are ~400 bytes; anything past this is a corrupt length, not a record.
MAX_RECORD = 1 << 24


def masked_crc(data: bytes) -> int:
    """TensorFlow's masked CRC-32C (rotate right by 15, add a constant)."""
    c = crc32c.crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame(payload: bytes) -> bytes:
    """One framed record."""
    length = struct.pack("<Q", len(payload))
    return length + struct.pack("<I", masked_crc(length)) + payload + struct.pack("<I", masked_crc(payload))


def _is_header(buf, pos: int, size: int) -> bool:
    if pos + HEADER_SIZE > size:
        return False
    length, crc = _HEADER.unpack_from(buf, pos)
    return length <= MAX_RECORD and masked_crc(bytes(buf[pos:pos + 8])) == crc


def sync_forward(buf, pos: int, limit: int, size: int) -> int:
    """First offset in [pos, limit) where a valid record header starts, or `limit` if none.

    Used to start a shard at an arbitrary byte; the converter checks afterwards that consecutive
    shards meet exactly, so a false sync point cannot go unnoticed. The scan runs in C where the
    extension is built (`sync_forward_py` is the fallback and the test oracle, with the same results):
    a shard that starts inside a huge record or a range of garbage scans it at memory speed.
    """
    fast = _sync_forward_c if _sync_forward_c is not _UNRESOLVED else _resolve_sync_forward()
    if fast is not None and type(buf) in _C_BUFFERS:
        try:
            found = fast(buf, pos, limit, size)
        except (TypeError, ValueError, OverflowError):  # arguments C does not take: Python decides
            found = None
        if found is not None:
            return found
    return sync_forward_py(buf, pos, limit, size)


def sync_forward_py(buf, pos: int, limit: int, size: int) -> int:
    """`sync_forward` in Python, byte by byte (~1 µs per byte)."""
    while pos < limit and not _is_header(buf, pos, size):
        pos += 1
    return pos


_UNRESOLVED = object()
_C_BUFFERS = (bytes, bytearray, mmap.mmap)  # plain byte buffers, read the same way by both paths
_sync_forward_c = _UNRESOLVED  # the C scan, looked up on first use: the extension lives in nasbench101/


def _resolve_sync_forward():
    global _sync_forward_c
    _sync_forward_c = c_extension(f"{__package__}.nasbench101._recordscan", "sync_forward")
    return _sync_forward_c


def sync_implementation() -> str:
    """Which loop `sync_forward` runs: "c" (the extension) or "python" (`sync_forward_py`)."""
    fast = _sync_forward_c if _sync_forward_c is not _UNRESOLVED else _resolve_sync_forward()
    return "python" if fast is None else "c"


@contextmanager
def open_map(path: str | Path) -> Iterator[tuple[mmap.mmap, int]]:
    """(read-only memory map, size) of a non-empty file."""
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        yield buf, len(buf)


def iter_records(path: str | Path, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, bytes]]:
    """Yield (offset, payload) for records that *start* in [start, stop).

    `start` need not be a record boundary: reading begins at the first valid header at or after it.
    The last record may extend past `stop`. Raises RawFormatError naming the file and offset on a
    CRC mismatch or a truncated record.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        return
    with open_map(path) as (buf, size):
        stop = size if stop is None else min(stop, size)
        pos = start if start == 0 else sync_forward(buf, start, stop, size)
        yield from _walk(path, buf, pos, stop, size)


_RELEASE_EVERY = 1 << 25


def release_pages(buf: mmap.mmap, released: int, pos: int) -> int:
    """Drop the mapped pages in [released, pos) already read, so RSS stays flat while a file is
    read front to back; returns where the pages still mapped begin."""
    upto = pos - pos % mmap.PAGESIZE
    buf.madvise(mmap.MADV_DONTNEED, released, upto - released)
    return upto


def read_record(path: Path, buf, pos: int, size: int) -> bytes:
    """The payload of the record at `pos`, or the RawFormatError `iter_records` raises there."""
    return next(_walk(path, buf, pos, size, size))[1]


def _walk(path: Path, buf, pos: int, stop: int, size: int) -> Iterator[tuple[int, bytes]]:
    unpack_header = _HEADER.unpack_from
    unpack_footer = _FOOTER.unpack_from
    released = pos - pos % mmap.PAGESIZE
    while pos < stop:
        if pos - released >= _RELEASE_EVERY:
            released = release_pages(buf, released, pos)
        if pos + HEADER_SIZE > size:
            raise RawFormatError(path, pos, f"truncated record header ({size - pos} bytes left, 12 needed)")
        length, length_crc = unpack_header(buf, pos)
        if masked_crc(buf[pos:pos + 8]) != length_crc:
            raise RawFormatError(path, pos, "CRC mismatch in the record length header")
        end = pos + HEADER_SIZE + length
        if end + FOOTER_SIZE > size:
            raise RawFormatError(path, pos, f"truncated record: {length} payload bytes announced, "
                                            f"{max(0, size - pos - HEADER_SIZE - FOOTER_SIZE)} present")
        payload = buf[pos + HEADER_SIZE:end]
        if masked_crc(payload) != unpack_footer(buf, end)[0]:
            raise RawFormatError(path, pos, "CRC mismatch in the record payload")
        yield pos, payload
        pos = end + FOOTER_SIZE
