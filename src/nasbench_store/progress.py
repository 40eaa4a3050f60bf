"""Progress of long steps (downloads, conversions, assembly, re-hashing): done, rate and ETA.

A terminal gets a tqdm bar; anything else (Snakemake logs, cluster job output) gets one log line
every `interval` seconds (default 30, or $NASBENCH_PROGRESS_INTERVAL), because a bar redrawn with
carriage returns is unreadable there.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from typing import TextIO

from tqdm import tqdm

log = logging.getLogger("nasbench_store.progress")
INTERVAL_VARIABLE = "NASBENCH_PROGRESS_INTERVAL"


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
    """Reports how much of a step is done; `start` begins (again, for a retried download) a pass.

    `unit` "B" formats bytes; any other unit (records, rows, architectures) counts items. Without
    a total, lines say what is done and the rate; with one, also the percentage and the ETA.
    """

    def __init__(self, label: str, unit: str = "B", interval: float | None = None, stream: TextIO | None = None,
                 tty: bool | None = None, logger: logging.Logger | None = None):
        self.label = label
        self.unit = unit
        self.interval = float(os.environ.get(INTERVAL_VARIABLE, 30)) if interval is None else interval
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.log = logger or log
        self._bar: tqdm | None = None
        self._total: int | None = None
        self._done = 0
        self._t0 = self._last = 0.0
        self._initial = 0

    def start(self, total: int | None, initial: int = 0) -> Progress:
        self.close()
        self._total, self._done, self._initial = total, initial, initial
        self._t0 = self._last = time.monotonic()
        if self.tty:
            scaled = self.unit == "B"
            self._bar = tqdm(total=total, initial=initial, unit=self.unit, unit_scale=scaled,
                             unit_divisor=1024 if scaled else 1000, desc=self.label, file=self.stream,
                             dynamic_ncols=True)
        elif initial:
            self.log.info("%s: resuming at %s", self.label, self._amount(initial))
        return self

    def update(self, done: int) -> None:
        """Record that `done` units of the step are now finished."""
        if self._bar is not None:
            self._bar.update(done - self._done)
        self._done = done
        now = time.monotonic()
        if self._bar is None and now - self._last >= self.interval:
            self._last = now
            self.log.info("%s", self.line(now))

    def advance(self, n: int) -> None:
        self.update(self._done + n)

    def _amount(self, n: float) -> str:
        return human_bytes(n) if self.unit == "B" else f"{n:,.0f} {self.unit}"

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self._t0, 1e-9)
        rate = (self._done - self._initial) / elapsed
        text = f"{self.label}: {self._amount(self._done)}"
        if self._total:
            text += f" of {self._amount(self._total)} ({min(100.0, 100 * self._done / self._total):.1f}%)"
        text += f", {self._amount(rate)}/s"
        if self._total and rate > 0 and self._done < self._total:
            text += f", ETA {human_seconds((self._total - self._done) / rate)}"
        return text

    def close(self) -> None:
        """End the pass: close the bar, or log a last line if any line was logged."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._last > self._t0:
            self.log.info("%s", self.line())
