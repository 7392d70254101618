"""Benchmark helpers: run a step in a child process, read its wall time and peak RSS.

Each measured step runs as `python -m bench.<module> --step NAME ...` in a fresh process, so
peak RSS is that step's own (read with wait4, not polled) and caches of earlier steps don't help.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
RESULTS = ROOT / "bench" / "results"


def measure(module: str, *args: str) -> dict[str, Any]:
    """Run `python -m module *args` and return wall seconds, CPU seconds and peak RSS (MB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out = proc.stdout.read() if proc.stdout else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed with exit code {proc.returncode}")
    extra = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
        **extra,
    }


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write_result(name: str, doc: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "machine": machine(), **doc}, indent=2) + "\n")
    print(json.dumps(doc, indent=2))
    print(f"→ {path.relative_to(ROOT)}")
    return path


def emit(extra: dict[str, Any]) -> None:
    """A child step's last stdout line: figures it wants recorded next to time and memory."""
    print(json.dumps(extra))
