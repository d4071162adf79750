"""CPU time spent by each component during a run, read from /proc (Linux)."""

import os
import resource
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _process_cpu_seconds() -> dict[str, float]:
    totals = {"gunicorn": 0.0, "postgres": 0.0}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        # Fields after the command name in parentheses; utime and stime are the 12th and 13th.
        fields = stat.rsplit(")", 1)[1].split()
        seconds = (int(fields[11]) + int(fields[12])) / _TICKS
        if "gunicorn" in command:
            totals["gunicorn"] += seconds
        elif command.startswith("postgres"):
            totals["postgres"] += seconds
    return totals


def cpu_snapshot() -> dict[str, float]:
    """Cumulative CPU seconds of gunicorn, PostgreSQL and our finished children (wrk)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {**_process_cpu_seconds(), "wrk": children.ru_utime + children.ru_stime}


def cpu_per_request_ms(before: dict, after: dict, requests: int) -> dict[str, float]:
    return {
        component: (after[component] - before[component]) * 1000 / max(requests, 1)
        for component in before
    }
