"""Writes bench-scale's figures into docs/benchmarks.md between its own markers."""

from pathlib import Path

START, END = "<!-- scale:start -->", "<!-- scale:end -->"
GROUP_TARGETS = {
    "health": ("`/health/`", 50),
    "metrics": ("`/metrics/`", 250),
    "admin_changelist": ("admin changelist", 300),
    "admin_search_id": ("admin search by exact id", 100),
    "admin_search_email": ("admin search by email", 300),
}


def _mark(passed: bool) -> str:
    return "met" if passed else "**missed**"


def scale_report_markdown(results: dict) -> str:
    environment, load, paths = results["environment"], results["load"], results["paths"]
    lines = [
        f"Run on {environment['date']} with `{results['command'].strip()}`: "
        f"{environment['cpus']} cores ({environment['cpu_model']}), PostgreSQL "
        f"{environment['postgresql']}, Python {environment['python']}; load average "
        f"{environment['load_average']} at the end (the machine was shared).",
        "",
        f"Loaded in {results['load_seconds']:.0f} s (then `VACUUM (ANALYZE)` in "
        f"{results['vacuum_analyze_seconds']:.0f} s; database {results['database_size']}): "
        + ", ".join(f"{count:,} {name.replace('_', ' ')}" for name, count in load.items())
        + ".",
        "",
        "Medians over the runs, in-process through Django's test client (the whole request "
        "path but the socket and gunicorn), on the loaded database. Plans of the statements "
        f"over the threshold: `{results['plans_file']}`.",
        "",
        "| Path | Median (ms) | Max (ms) | Statements | Target |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, result in paths.items():
        _, target = GROUP_TARGETS.get(result["group"], (None, None))
        verdict = f"≤ {target} ms — {_mark(result['median_ms'] <= target)}" if target else "—"
        what = result.get("path") or f"{name} → {result.get('value')}"
        lines.append(
            f"| {name} (`{what}`) | {result['median_ms']:.1f} | {result['max_ms']:.1f} "
            f"| {result['statements']} | {verdict} |"
        )
    small, large = results["webhook_small"], results["webhook_large"]
    ratio = large["median_ms"] / small["median_ms"]
    lines += [
        "",
        "### Webhook first delivery, empty database vs loaded",
        "",
        f"{small['count']} sequential first deliveries of `payment_intent.succeeded` on each "
        "database (test client, one connection), alternating between an empty database "
        "and the loaded one in rounds:",
        "",
        f"- empty database: median {small['median_ms']:.2f} ms (p90 {small['p90_ms']:.2f})",
        f"- loaded database: median {large['median_ms']:.2f} ms (p90 {large['p90_ms']:.2f})",
        f"- loaded / empty: **{ratio:.2f}** — within 10 %: {_mark(ratio <= 1.10)}",
    ]
    return "\n".join(lines)


def scale_report_write(results: dict, path: Path) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if START not in text:
        text = (
            text.rstrip("\n") + f"\n\n## Results at scale (`make bench-scale`)\n\n{START}\n{END}\n"
        )
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    path.write_text(f"{before}{START}\n{scale_report_markdown(results)}\n{END}{after}")
