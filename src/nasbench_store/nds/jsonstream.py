"""Stream the records of a JSON sweep file one at a time, so memory does not grow with the file.

A sweep file is `[record, ...]` or `{"top": [record, ...], "mid": [record, ...]}`. Python's json
decoder parses the values (it accepts the bare `NaN`/`Infinity` tokens the files contain); this
module walks the punctuation around them and refills a bounded text buffer. Given the keys a
caller needs, it also steps over the other keys' number lists (the per-iteration logs, most of a
file's bytes) with a regex instead of building millions of floats nobody reads.

Whatever the bytes, malformed input ends in `JsonStreamError` with the byte offset: text that is
not UTF-8 (the offset of the bad byte), nesting deeper than the decoder's recursion limit, and
integers longer than Python's int-from-string limit (`sys.get_int_max_str_digits`, 4300 digits).

Format: docs/formats.md#nds-sweep-files.
"""
from __future__ import annotations

import codecs
import json
import re
import sys
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

CHUNK_BYTES = 1 << 20
# A real record is tens of kilobytes; a "record" past this is a malformed file, not data.
MAX_RECORD_CHARS = 64 << 20
_WS = re.compile(r"[ \t\n\r]*")
# A flat list of numbers (NaN/Infinity included), stepped over without building Python floats.
_NUMBER_LIST = re.compile(r"\[[-+0-9.eE,\sNaIifnty]*\]")
_NOT_IN_NUMBER_LIST = re.compile(r"[^-+0-9.eE,\sNaIifnty]")
_PLAIN_KEY = re.compile(r'[ \t\n\r]*"([^"\\\x00-\x1f]*)"[ \t\n\r]*:[ \t\n\r]*')
_SEPARATOR = re.compile(r"[ \t\n\r]*([,}])")
_DECODER = json.JSONDecoder()
_LOOKAHEAD = 64  # characters that must follow a decoded value, unless at end of input


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

    @property
    def name(self) -> str:
        """How errors name the record: `record 7`, or `record mid[3]` in a reruns file."""
        return record_name(self.section, self.index)


def record_name(section: str | None, index: int) -> str:
    return f"record {index}" if section is None else f"record {section}[{index}]"


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
        self._fed = 0  # bytes given to the UTF-8 decoder so far

    def fill(self) -> bool:
        """Append the next chunk, dropping text before `pos`; False at end of input."""
        if self.eof:
            return False
        data = self._stream.read(self._chunk)
        text = self._decode(data)
        self.offset()  # settle the byte offset of pos before dropping what precedes it
        self.buf = self.buf[self.pos:] + text
        self._mark -= self.pos
        self.pos = 0
        self.eof = not data
        return True

    def grow(self) -> bool:
        """Read until the text after `pos` is twice as long (capped just past MAX_RECORD_CHARS) or the input
        ends, joining it in once; False at end of input. A value that is retried after each growth is
        then parsed (and copied) a bounded number of times its size in all, not once per chunk."""
        if self.eof:
            return False
        pending = len(self.buf) - self.pos
        want = max(1, min(pending, MAX_RECORD_CHARS + 1 - pending))
        texts, got = [], 0
        while got < want:
            data = self._stream.read(self._chunk)
            texts.append(self._decode(data))
            got += len(texts[-1])
            if not data:
                self.eof = True
                break
        self.offset()
        self.buf = self.buf[self.pos:] + "".join(texts)
        self._mark -= self.pos
        self.pos = 0
        return True

    def _decode(self, data: bytes) -> str:
        """The text of the next bytes read (the empty read ends the input), or JsonStreamError at the
        offset of the first byte that is not UTF-8."""
        pending = len(self._utf8.getstate()[0])  # bytes of a character cut by the previous read
        try:
            text = self._utf8.decode(data, final=not data)
        except UnicodeDecodeError as exc:  # exc.object is the pending bytes + data
            bad = exc.object[exc.start]
            raise JsonStreamError(self._fed - pending + exc.start,
                                  f"the text is not UTF-8 ({exc.reason} at byte 0x{bad:02x})") from None
        self._fed += len(data)
        return text

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
                if len(self.buf) - self.pos > MAX_RECORD_CHARS or not self.grow():
                    start = self.offset()
                    raise JsonStreamError(
                        start + len(self.buf[self.pos:exc.pos].encode("utf-8")),
                        f"malformed JSON in {what}: {exc.msg}",
                    ) from None
                continue
            except RecursionError:
                raise JsonStreamError(self.offset(), f"{what} is nested too deeply (arrays or objects more than "
                                      f"about {sys.getrecursionlimit()} levels)") from None
            except ValueError as exc:  # not a JSONDecodeError: int() refused a number's digits
                raise JsonStreamError(*self._long_number(what, exc)) from None
            if len(self.buf) - end < _LOOKAHEAD and self.fill():
                continue  # a number cut by the buffer's end ("12" of "12.5e-3") decodes too early
            self.pos = end
            return value

    def _long_number(self, what: str, exc: ValueError) -> tuple[int, str]:
        """(offset, problem) for a number int() refused: where its digits start, from `pos` on."""
        limit = sys.get_int_max_str_digits()
        start = self.offset()
        match = re.compile(f"[0-9]{{{limit + 1},}}").search(self.buf, self.pos) if limit else None
        if match is None:
            return start, f"malformed JSON in {what}: {exc}"
        start += len(self.buf[self.pos:match.start()].encode("utf-8"))
        return start, f"malformed JSON in {what}: a number with more than {limit} digits"

    def skip_number_list(self) -> bool:
        """Step over a flat list of numbers at `pos` unparsed; False (pos unchanged) if it is not one."""
        while True:
            match = _NUMBER_LIST.match(self.buf, self.pos)
            if match:
                self.pos = match.end()
                return True
            if _NOT_IN_NUMBER_LIST.search(self.buf, self.pos + 1):
                return False  # nested or not numbers: the decoder takes it (and reports errors)
            if len(self.buf) - self.pos > MAX_RECORD_CHARS or not self.grow():
                return False

    def decode_object(self, keep: frozenset, what: str) -> dict:
        """Decode the object at `pos`, keeping only `keep` keys; other number lists are skipped unparsed.

        Plain keys and separators are matched by regex (the fast path); anything else, including a
        key or separator cut by the end of the buffer, goes through the general peek/decode path.
        """
        self.expect("{", f"'{{' opening {what}")
        obj = {}
        if self.peek() == "}":
            self.pos += 1
            return obj
        while True:
            match = _PLAIN_KEY.match(self.buf, self.pos)
            if match:
                key = match.group(1)
                self.pos = match.end()
            else:
                if self.peek() != '"':
                    self.expect('"', f"a key in {what}")
                key = self.decode(f"a key in {what}")
                self.expect(":", f"':' after key {key!r} in {what}")
            if key in keep:
                obj[key] = self.decode(f"{what}, key {key!r}")
            elif not (self.peek() == "[" and self.skip_number_list()):
                self.decode(f"{what}, key {key!r}")
            match = _SEPARATOR.match(self.buf, self.pos)
            if match:
                self.pos = match.end()
                closer = match.group(1)
            else:
                closer = self.expect(",}", f"',' or '}}' in {what}")
            if closer == "}":
                return obj


def iter_records(stream: BinaryIO, chunk: int = CHUNK_BYTES, keep: frozenset | None = None) -> Iterator[Record]:
    """Yield every record of a sweep file in file order, with its section, index and byte offset.

    With `keep`, records hold only those keys, and the values of other keys that are flat lists of
    numbers (the per-iteration logs, most of a file's bytes) are stepped over without parsing.
    """
    text = _Text(stream, chunk)
    opener = text.expect("[{", "'[' (a list of records) or '{' (an object with 'top' and 'mid')")
    if opener == "[":
        yield from _array(text, None, keep)
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
                yield from _array(text, key, keep)
                if text.expect(",}", "',' or '}'") == "}":
                    break
        if sorted(seen) != ["mid", "top"]:
            raise JsonStreamError(text.offset(), f"the top-level object has keys {seen}; "
                                  "expected both 'top' and 'mid'")
    if text.peek():
        raise JsonStreamError(text.offset(), "extra data after the top-level value")


def _array(text: _Text, section: str | None, keep: frozenset | None) -> Iterator[Record]:
    if text.peek() == "]":
        text.pos += 1
        return
    index = 0
    while True:
        if text.peek() != "{":
            text.expect("{", "'{' opening a record")
        offset = text.offset()
        where = record_name(section, index)
        value = text.decode(where) if keep is None else text.decode_object(keep, where)
        yield Record(section, index, offset, value)
        index += 1
        if text.expect(",]", "',' or ']'") == "]":
            return
