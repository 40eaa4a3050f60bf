"""NDS records of several MB parse in time and memory proportional to their size (issue 11, point 3):
a value still incomplete at the end of the buffer is retried after the buffer has doubled, not after
every chunk, so it is parsed and copied a bounded number of times its size."""
from __future__ import annotations

import io
import json

import pytest
from helpers.bombs import run_limited

from nasbench_store.nds import jsonstream

RECORD_MB = 5
SMALL_CHUNK = 16 << 10     # 320 chunks per record: re-parsing from the record's start each time is quadratic


def _sweep(mode: str, megabytes: int = RECORD_MB) -> bytes:
    numbers = ",".join(["0.123456"] * ((megabytes << 20) // 9))
    if mode == "skipped":   # a number list the caller does not keep: stepped over by regex
        return f'[{{"logs": [{numbers}], "kept": 1}}, {{"kept": 2}}]'.encode()
    return f'[{{"kept": [{numbers}]}}, {{"kept": 2}}]'.encode()   # decoded whole


class _Counting:
    """Wraps a decoder or regex and counts the characters each call scanned (an upper bound)."""

    def __init__(self, inner):
        self.inner, self.chars = inner, 0

    def raw_decode(self, s, idx=0):
        try:
            value, end = self.inner.raw_decode(s, idx)
        except json.JSONDecodeError as exc:
            self.chars += max(exc.pos, len(s)) - idx   # an incomplete value is read to the buffer's end
            raise
        self.chars += end - idx
        return value, end

    def match(self, s, pos=0):
        self.chars += len(s) - pos
        return self.inner.match(s, pos)

    def search(self, s, pos=0):
        self.chars += len(s) - pos
        return self.inner.search(s, pos)


@pytest.mark.parametrize("mode, keep", [("decoded", None), ("decoded", frozenset({"kept"})),
                                        ("skipped", frozenset({"kept"}))])
def test_a_record_spanning_many_chunks_is_scanned_a_bounded_number_of_times(monkeypatch, mode, keep):
    data = _sweep(mode)
    counters = {name: _Counting(getattr(jsonstream, name))
                for name in ("_DECODER", "_NUMBER_LIST", "_NOT_IN_NUMBER_LIST")}
    for name, counter in counters.items():
        monkeypatch.setattr(jsonstream, name, counter)
    records = list(jsonstream.iter_records(io.BytesIO(data), chunk=SMALL_CHUNK, keep=keep))
    assert [r.index for r in records] == [0, 1]
    scanned = sum(c.chars for c in counters.values())
    assert scanned <= 8 * len(data), f"{scanned / len(data):.0f} times the input scanned"


@pytest.mark.parametrize("mode, keep", [("decoded", frozenset({"kept"})), ("skipped", frozenset({"kept"}))])
def test_a_5_mb_record_parses_in_linear_time_and_memory(mode, keep):
    setup = f"""
        import io
        from nasbench_store.nds import jsonstream
        numbers = ",".join(["0.123456"] * (({RECORD_MB} << 20) // 9)).encode()
        data = (b'[{{"logs": [' + numbers + b'], "kept": 1}}]' if {mode!r} == "skipped"
                else b'[{{"kept": [' + numbers + b']}}]')
        """
    body = f"""
        result = len(list(jsonstream.iter_records(io.BytesIO(data), chunk={SMALL_CHUNK}, keep={keep!r})))
        """
    run = run_limited(body, setup, memory_mb=1024)
    assert run.ok and run.result == 1, run
    # Before: 320 re-parses from the record's start (about 20 s). Now a few passes over 5 MB.
    assert run.cpu < 2, run
    assert run.peak_mb < 40 * RECORD_MB, run
