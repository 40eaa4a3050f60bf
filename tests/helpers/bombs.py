"""Run a crafted input in a fresh interpreter under a memory limit and measure it (issue 11, point 3)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import NamedTuple

_PRELUDE = """
import json, resource, time
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
def _status_mb(field):   # VmRSS now, VmHWM its peak (both start afresh at exec, unlike ru_maxrss)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024
{setup}
_rss0, _t0, _c0 = _status_mb("VmRSS"), time.perf_counter(), time.process_time()
try:
{body}
    _outcome = {{"ok": True, "result": result}}
except BaseException as exc:
    _outcome = {{"ok": False, "type": type(exc).__name__, "message": str(exc)[:2000]}}
_outcome.update(seconds=time.perf_counter() - _t0, cpu=time.process_time() - _c0,
                peak_mb=_status_mb("VmHWM") - _rss0)
print("RESULT " + json.dumps(_outcome))
"""


class Measured(NamedTuple):
    ok: bool               # the body ran to the end (else: error_type and message)
    result: object         # the body's `result`
    error_type: str | None
    message: str
    seconds: float         # wall time of the body
    cpu: float             # CPU time of the body
    peak_mb: float         # peak RSS during the body above the RSS before it (imports excluded)


def run_limited(body: str, setup: str = "", memory_mb: int = 3072, timeout: float = 300) -> Measured:
    """Run `setup` (imports, input) then `body` (which sets `result`) in a new interpreter whose address
    space is capped at `memory_mb`; what a crash or the limit did is in the outcome, never in this process."""
    code = _PRELUDE.format(limit=memory_mb << 20, setup=textwrap.dedent(setup),
                           body=textwrap.indent(textwrap.dedent(body), "    "))
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return Measured(False, None, "timeout", f"still running after {timeout} s", timeout, float("nan"),
                        float("nan"))
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        return Measured(False, None, f"exit status {proc.returncode}", proc.stderr[-2000:], float("nan"),
                        float("nan"), float("nan"))
    out = json.loads(line[len("RESULT "):])
    return Measured(out["ok"], out.get("result"), out.get("type"), out.get("message", ""), out["seconds"],
                    out["cpu"], out["peak_mb"])
