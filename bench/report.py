"""Writes the measured figures into docs/benchmarks.md between its generated markers."""

import statistics
from pathlib import Path

START, END = "<!-- generated:start -->", "<!-- generated:end -->"
TARGETS = {  # issue 11
    "raw_ratio_c16": 0.50,
    "duplicate_nodb_ratio_c16": 0.40,
    "round_trips_first": 5,
    "round_trips_duplicate": 1,
    "p99_ms_c16": 50.0,
    "initiation_overhead_ms": 6.0,
}


def _summary(runs: list[dict], target: str, level: int) -> dict | None:
    chosen = [r for r in runs if r["target"] == target and r["connections"] == level and r["valid"]]
    if not chosen:
        return None
    return {
        "rps": statistics.mean(r["requests_per_second"] for r in chosen),
        "rps_each": [r["requests_per_second"] for r in chosen],
        "p50": statistics.mean(r["latency_ms"]["50%"] for r in chosen),
        "p99": statistics.mean(r["latency_ms"]["99%"] for r in chosen),
    }


def _mark(passed: bool) -> str:
    return "met" if passed else "**missed**"


def report_markdown(results: dict) -> str:
    environment = results["environment"]
    levels = sorted({run["connections"] for run in results["runs"]})
    lines = [
        f"Run on {environment['date']} with `{results['command'].strip()}`: "
        f"{environment['cpus']} cores ({environment['cpu_model']}), "
        f"PostgreSQL {environment['postgresql']}, Python {environment['python']}, "
        f"gunicorn {environment['gunicorn']}, {environment['wrk']}. "
        "PostgreSQL, gunicorn and wrk share the machine.",
        "",
        "### Webhook throughput and latency (`payment_intent.succeeded`, first delivery)",
        "",
        "| Connections | Ours (req/s) | Ceiling (req/s) | Ours / ceiling "
        "| Ours p50 / p99 (ms) | Ceiling p50 / p99 (ms) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    ratios = {}
    for level in levels:
        ours, ceiling = (
            _summary(results["runs"], "ours", level),
            _summary(results["runs"], "ceiling", level),
        )
        if not ours or not ceiling:
            lines.append(f"| {level} | invalid run | | | | |")
            continue
        ratios[level] = ours["rps"] / ceiling["rps"]
        lines.append(
            f"| {level} | {ours['rps']:.0f} ({', '.join(f'{v:.0f}' for v in ours['rps_each'])}) "
            f"| {ceiling['rps']:.0f} ({', '.join(f'{v:.0f}' for v in ceiling['rps_each'])}) "
            f"| {ratios[level]:.0%} | {ours['p50']:.1f} / {ours['p99']:.1f} "
            f"| {ceiling['p50']:.1f} / {ceiling['p99']:.1f} |"
        )
    lines += [
        "",
        "The limits, in the same rotated rounds: the raw-SQL ceiling (the same rows in one "
        "statement and one commit) and the no-database view (signature check and JSON parse "
        "only), in req/s:",
        "",
        "| Connections | Raw-SQL ceiling | No-database view | Ours / raw | Ours / ORM ceiling "
        "| Duplicates (req/s) | Duplicates / no-database |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    raw_ratios, duplicate_ratios = {}, {}
    for level in levels:
        ours, ceiling = (
            _summary(results["runs"], "ours", level),
            _summary(results["runs"], "ceiling", level),
        )
        raw, nodb = (
            _summary(results["runs"], "raw", level),
            _summary(results["runs"], "nodb", level),
        )
        duplicate = _summary(results["runs"], "dup", level)
        if not (ours and raw and nodb and ceiling):
            lines.append(f"| {level} | — | — | — | — | — | — |")
            continue
        raw_ratios[level] = ours["rps"] / raw["rps"]
        duplicate_cells = "— | —"
        if duplicate:
            duplicate_ratios[level] = duplicate["rps"] / nodb["rps"]
            duplicate_cells = (
                f"{duplicate['rps']:.0f} (p99 {duplicate['p99']:.1f} ms) "
                f"| {duplicate_ratios[level]:.0%}"
            )
        lines.append(
            f"| {level} | {raw['rps']:.0f} (p99 {raw['p99']:.1f} ms) "
            f"| {nodb['rps']:.0f} (p99 {nodb['p99']:.1f} ms) | {raw_ratios[level]:.0%} "
            f"| {ours['rps'] / ceiling['rps']:.0%} | {duplicate_cells} |"
        )
    lines += [
        "",
        "CPU time per request by component (means over the runs, ms; 2 cores in all):",
        "",
        "| Connections | Ours: gunicorn / PostgreSQL / wrk | Duplicates "
        "| ORM ceiling | Raw-SQL ceiling | No-database view |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for level in levels:
        cells = []
        for target in ("ours", "dup", "ceiling", "raw", "nodb"):
            chosen = [
                r["cpu_ms_per_request"]
                for r in results["runs"]
                if r["target"] == target and r["connections"] == level and r["valid"]
            ]
            if not chosen:
                cells.append("—")
                continue
            means = {k: statistics.mean(c[k] for c in chosen) for k in chosen[0]}
            cells.append(f"{means['gunicorn']:.2f} / {means['postgres']:.2f} / {means['wrk']:.2f}")
        lines.append(f"| {level} | " + " | ".join(cells) + " |")
    sql = results["sql_statements"]
    lines += [
        "",
        "Each figure is the mean of the runs in brackets (the five targets rotate, "
        "so all see the same machine). Every first-delivery request carried a fresh event "
        "for its own purchase (duplicates: an event recorded PROCESSED before); runs that "
        "ran out of events or got a non-2xx are discarded.",
        "",
        "### Round trips per event, counted at the driver (libpq's trace)",
        "",
        "Including psycopg's BEGIN and CONN_HEALTH_CHECKS' `SELECT 1` (skipped on a "
        "connection a webhook used in the last WEBHOOK_DB_HEALTH_CHECK_IDLE_SECONDS); "
        "in brackets, the statements Django's query capture sees.",
        "",
        f"- first `payment_intent.succeeded`: **{sql['first_delivery_round_trips']}** "
        f"({sql['first_delivery']})",
        f"- duplicate delivery: **{sql['duplicate_delivery_round_trips']}** "
        f"({sql['duplicate_delivery']})",
        f"- the ORM ceiling: {sql['ceiling_round_trips']} ({sql['ceiling']}); "
        f"the raw-SQL ceiling: {sql['raw_round_trips']} ({sql['raw']})",
    ]
    initiation = results.get("initiation")
    if initiation:
        lines += [
            "",
            "### Purchase initiation against localstripe",
            "",
            f"{initiation['iterations']} interleaved pairs: "
            "`POST /api/finances/purchase/initiate/` over HTTP (validation, guest account and "
            "purchase in one short transaction, the Stripe call, one UPDATE) beside a bare "
            "`stripe` SDK "
            "`PaymentIntent.create` to the same localstripe.",
            "",
            f"- bare SDK call: median {initiation['bare_sdk_median_ms']:.1f} ms "
            f"(p90 {initiation['bare_sdk_p90_ms']:.1f})",
            f"- our endpoint: median {initiation['initiate_median_ms']:.1f} ms "
            f"(p90 {initiation['initiate_p90_ms']:.1f})",
            f"- our overhead: **{initiation['overhead_median_ms']:.1f} ms** median",
        ]
    c16 = _summary(results["runs"], "ours", 16)
    lines += ["", "### Against the targets (issue 11)", ""]
    if 16 in raw_ratios:
        lines.append(
            f"- first delivery ≥ 0.5 x the raw-SQL ceiling at 16 connections: "
            f"{raw_ratios[16]:.2f} x — {_mark(raw_ratios[16] >= TARGETS['raw_ratio_c16'])}"
        )
    if 16 in duplicate_ratios:
        lines.append(
            f"- duplicates ≥ 0.4 x the no-database view at 16 connections: "
            f"{duplicate_ratios[16]:.2f} x — "
            f"{_mark(duplicate_ratios[16] >= TARGETS['duplicate_nodb_ratio_c16'])}"
        )
    if 16 in ratios:
        lines.append(
            f"- above the ORM ceiling at 16 connections: {ratios[16]:.2f} x — "
            f"{_mark(ratios[16] >= 1)}"
        )
    if c16:
        met = _mark(c16["p99"] <= TARGETS["p99_ms_c16"])
        lines.append(f"- p99 ≤ 50 ms at 16 connections: {c16['p99']:.1f} ms — {met}")
    first, duplicate = sql["first_delivery_round_trips"], sql["duplicate_delivery_round_trips"]
    lines.append(
        f"- ≤ 5 round trips for a first delivery: {first} — "
        f"{_mark(first <= TARGETS['round_trips_first'])}"
    )
    lines.append(
        f"- 1 round trip for a duplicate: {duplicate} — "
        f"{_mark(duplicate <= TARGETS['round_trips_duplicate'])}"
    )
    if initiation:
        lines.append(
            f"- initiation adds ≤ 6 ms median: {initiation['overhead_median_ms']:.1f} ms — "
            f"{_mark(initiation['overhead_median_ms'] <= TARGETS['initiation_overhead_ms'])}"
        )
    return "\n".join(lines)


def report_write(results: dict, path: Path) -> None:
    text = path.read_text() if path.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    path.write_text(f"{before}{START}\n{report_markdown(results)}\n{END}{after}")
