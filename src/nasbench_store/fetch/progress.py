"""Download progress: a tqdm bar on a terminal, plain periodic log lines in batch logs."""
from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

from tqdm import tqdm

log = logging.getLogger("nasbench_store.fetch")


def human_bytes(n: float) -> str:
    if abs(n) < 1024:
        return f"{n:.0f} B"
    for unit in ("KiB", "MiB"):
        n /= 1024
        if abs(n) < 1024:
            return f"{n:.1f} {unit}"
    return f"{n / 1024:.1f} GiB"


def human_seconds(s: float) -> str:
    s = int(round(s))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}h{m:02d}m{sec:02d}s" if h else (f"{m}m{sec:02d}s" if m else f"{sec}s")


class Progress:
    """Reports bytes, rate and ETA of one download; `start` is called again for each attempt.

    A terminal gets a tqdm bar; anything else (Snakemake logs, cluster job output) gets one
    log line every `interval` seconds, because a bar redrawn with carriage returns is unreadable there.
    """

    def __init__(self, label: str, interval: float = 30.0, stream: TextIO | None = None, tty: bool | None = None):
        self.label = label
        self.interval = interval
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self._bar: tqdm | None = None
        self._total: int | None = None
        self._done = 0
        self._t0 = self._last = 0.0
        self._initial = 0

    def start(self, total: int | None, initial: int = 0) -> None:
        self.close()
        self._total, self._done, self._initial = total, initial, initial
        self._t0 = self._last = time.monotonic()
        if self.tty:
            self._bar = tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024,
                             desc=self.label, file=self.stream, dynamic_ncols=True)
        elif initial:
            log.info("%s: resuming at %s", self.label, human_bytes(initial))

    def update(self, done: int) -> None:
        """Record that `done` bytes of the file are now on disk."""
        if self._bar is not None:
            self._bar.update(done - self._done)
        self._done = done
        now = time.monotonic()
        if self._bar is None and now - self._last >= self.interval:
            self._last = now
            log.info("%s", self.line(now))

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self._t0, 1e-9)
        rate = (self._done - self._initial) / elapsed
        text = f"{self.label}: {human_bytes(self._done)}"
        if self._total:
            text += f" of {human_bytes(self._total)} ({100 * self._done / self._total:.1f}%)"
        text += f", {human_bytes(rate)}/s"
        if self._total and rate > 0:
            text += f", ETA {human_seconds((self._total - self._done) / rate)}"
        return text

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
