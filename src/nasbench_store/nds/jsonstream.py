"""Stream the records of a JSON sweep file one at a time, so memory does not grow with the file.

A sweep file is `[record, ...]` or `{"top": [record, ...], "mid": [record, ...]}`. Python's json
decoder parses each record (it accepts the bare `NaN`/`Infinity` tokens the files contain); this
module only walks the surrounding array/object punctuation and refills a bounded text buffer.
"""
from __future__ import annotations

import codecs
import json
import re
from typing import BinaryIO, Iterator, NamedTuple

CHUNK_BYTES = 1 << 20
# A real record is tens of kilobytes; a "record" past this is a malformed file, not data.
MAX_RECORD_CHARS = 64 << 20
_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


class JsonStreamError(Exception):
    """Malformed structure; `offset` is the byte offset in the decompressed file."""

    def __init__(self, offset: int, problem: str):
        self.offset = offset
        self.problem = problem
        super().__init__(f"byte offset {offset}: {problem}")


class Record(NamedTuple):
    section: str | None  # None for a plain list, else "top" or "mid"
    index: int  # position within its list
    offset: int  # byte offset of the record's "{" in the decompressed file
    value: dict


class _Text:
    """A sliding window over the decoded stream that tracks byte offsets of positions in it."""

    def __init__(self, stream: BinaryIO, chunk: int):
        self._stream = stream
        self._chunk = chunk
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self.buf = ""
        self.pos = 0
        self.eof = False
        self._mark = 0  # index in buf whose byte offset is _mark_bytes
        self._mark_bytes = 0

    def fill(self) -> bool:
        """Append the next chunk, dropping text before `pos`; False at end of input."""
        if self.eof:
            return False
        data = self._stream.read(self._chunk)
        text = self._utf8.decode(data, final=not data)
        self.offset()  # settle the byte offset of pos before dropping what precedes it
        self.buf = self.buf[self.pos:] + text
        self._mark -= self.pos
        self.pos = 0
        self.eof = not data
        return True

    def offset(self) -> int:
        """Byte offset of `pos`; each character is encoded once over the whole stream."""
        self._mark_bytes += len(self.buf[self._mark:self.pos].encode("utf-8"))
        self._mark = self.pos
        return self._mark_bytes

    def peek(self) -> str:
        """Next non-whitespace character ('' at end of input), leaving `pos` on it."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()
            if self.pos < len(self.buf) or not self.fill():
                return self.buf[self.pos:self.pos + 1]

    def expect(self, chars: str, what: str) -> str:
        char = self.peek()
        if not char or char not in chars:
            found = repr(char) if char else "end of file"
            raise JsonStreamError(self.offset(), f"expected {what}, found {found}")
        self.pos += 1
        return char

    def decode(self, what: str):
        """Decode one complete JSON value at `pos`, refilling until it is whole."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if len(self.buf) - self.pos > MAX_RECORD_CHARS or not self.fill():
                    start = self.offset()
                    raise JsonStreamError(
                        start + len(self.buf[self.pos:exc.pos].encode("utf-8")),
                        f"malformed JSON in {what}: {exc.msg}",
                    ) from None
                continue
            self.pos = end
            return value


def iter_records(stream: BinaryIO, chunk: int = CHUNK_BYTES) -> Iterator[Record]:
    """Yield every record of a sweep file in file order, with its section, index and byte offset."""
    text = _Text(stream, chunk)
    opener = text.expect("[{", "'[' (a list of records) or '{' (an object with 'top' and 'mid')")
    if opener == "[":
        yield from _array(text, None)
    else:
        seen: list[str] = []
        if text.peek() == "}":
            text.pos += 1
        else:
            while True:
                key = text.decode("a key of the top-level object")
                if key not in ("top", "mid") or key in seen:
                    raise JsonStreamError(text.offset(), f"unexpected top-level key {key!r}; "
                                          "expected 'top' and 'mid' once each")
                seen.append(key)
                text.expect(":", "':'")
                text.expect("[", f"'[' opening the {key!r} list")
                yield from _array(text, key)
                if text.expect(",}", "',' or '}'") == "}":
                    break
        if sorted(seen) != ["mid", "top"]:
            raise JsonStreamError(text.offset(), f"the top-level object has keys {seen}; "
                                  "expected both 'top' and 'mid'")
    if text.peek():
        raise JsonStreamError(text.offset(), "extra data after the top-level value")


def _array(text: _Text, section: str | None) -> Iterator[Record]:
    if text.peek() == "]":
        text.pos += 1
        return
    index = 0
    while True:
        if text.peek() != "{":
            text.expect("{", "'{' opening a record")
        offset = text.offset()
        where = f"record {index}" if section is None else f"record {section}[{index}]"
        yield Record(section, index, offset, text.decode(where))
        index += 1
        if text.expect(",]", "',' or ']'") == "]":
            return
