"""CPU time spent by each component during a run, read from /proc (Linux).

Per process: a process that starts during the run counts from zero, one that exits
takes its last moments with it (autovacuum workers; a small undercount, never negative).
"""

import os
import resource
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _component(command: str) -> str | None:
    if "gunicorn" in command:
        return "gunicorn"
    if command.startswith("postgres"):
        return "postgres"
    return None


def _processes() -> dict[int, tuple[str, float]]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        component = _component(command)
        if component:
            # After the command name in parentheses, utime and stime are fields 12 and 13.
            fields = stat.rsplit(")", 1)[1].split()
            found[int(entry.name)] = (component, (int(fields[11]) + int(fields[12])) / _TICKS)
    return found


def cpu_snapshot() -> dict:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"processes": _processes(), "wrk": children.ru_utime + children.ru_stime}


def cpu_per_request_ms(before: dict, after: dict, requests: int) -> dict[str, float]:
    totals = {"gunicorn": 0.0, "postgres": 0.0}
    for pid, (component, seconds) in after["processes"].items():
        earlier = before["processes"].get(pid)
        totals[component] += seconds - (earlier[1] if earlier else 0.0)
    totals["wrk"] = after["wrk"] - before["wrk"]
    return {component: seconds * 1000 / max(requests, 1) for component, seconds in totals.items()}
