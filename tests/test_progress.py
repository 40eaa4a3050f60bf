"""Long steps report progress in their logs: done, rate, and with a total the percentage and ETA."""
from __future__ import annotations

import io
import logging

import pytest

from nasbench_store.nasbench201 import synthetic as nb201
from nasbench_store.nasbench201.convert import convert_part
from nasbench_store.progress import Progress
from nasbench_store.verify import verify_store


@pytest.fixture
def every_update(monkeypatch, caplog):
    """Log a line on every update (the real interval is 30 s) and capture them."""
    monkeypatch.setenv("NASBENCH_PROGRESS_INTERVAL", "0")
    caplog.set_level(logging.INFO, logger="nasbench_store")
    return caplog


def test_lines_say_done_rate_percentage_and_eta():
    p = Progress("job", unit="rows", stream=io.StringIO(), tty=False).start(1000)
    p.update(250)
    line = p.line()
    assert line.startswith("job: 250 rows of 1,000 rows (25.0%), ") and "rows/s, ETA " in line
    assert "ETA" not in Progress("b", stream=io.StringIO(), tty=False).start(None).line()
    p.update(1500)  # an estimated total may be passed: never more than 100 %
    assert "(100.0%)" in p.line() and "ETA" not in p.line()


def test_a_terminal_gets_a_bar():
    stream = io.StringIO()
    p = Progress("job", unit="architectures", stream=stream, tty=True).start(10)
    p.update(10)
    p.close()
    assert "job: 100%" in stream.getvalue() and "10/10" in stream.getvalue()


def test_nb201_conversion_assembly_and_verify_log_progress(every_update, tmp_path, nb101_store):
    nats = nb201.write_nats_tss_archive(tmp_path / "NATS-tss-v1_0-3ffb9-simple.tar", 6, 1, [0, 2, 3, 5])
    convert_part(nats, tmp_path / "part.parquet", 0, 1)
    assert "part 0 of 1 of NATS-tss-v1_0-3ffb9-simple.tar: 4 architectures of 4 architectures (100.0%)" \
        in every_update.text
    from nasbench_store.nasbench201.convert import write_store
    counts = write_store([tmp_path / "part.parquet"], db_path=tmp_path / "nasbench201.db")
    total = sum(v for k, v in counts.items() if k.startswith("nb201"))
    assert f"writing nasbench201.db: {total:,} rows of {total:,} rows (100.0%)" in every_update.text
    assert verify_store(nb101_store) == []
    assert f"re-hashing {nb101_store}: " in every_update.text and "(100.0%)" in every_update.text
