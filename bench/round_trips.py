"""Round trips to PostgreSQL counted at the driver: libpq's own protocol trace.

Django's query capture sees neither the BEGIN that psycopg sends before a transaction's
first statement nor CONN_HEALTH_CHECKS' `SELECT 1` (run on the driver's connection
directly). Every exchange with the server ends with its ReadyForQuery message, so
counting those counts round trips, whatever sent them.
"""

import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class RoundTrips:
    statements: list[str] = field(default_factory=list)
    count: int = 0

    def __str__(self) -> str:
        return f"{self.count} round trips: " + " | ".join(self.statements)


def _parse(trace: str) -> RoundTrips:
    result = RoundTrips()
    for line in trace.splitlines():
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        direction, message = parts[0], parts[2]
        if direction == "B" and message == "ReadyForQuery":
            result.count += 1
        elif direction == "F" and message in ("Query", "Parse"):
            text = parts[3].strip() if len(parts) > 3 else ""
            if message == "Parse":  # ' "" "SELECT …" n oids': the statement text
                text = text.split('"')[3] if text.count('"') >= 4 else text
            result.statements.append(text.strip('"')[:80])
    return result


@contextmanager
def driver_round_trips(connection):
    """Counts the round trips of the Django `connection` (PostgreSQL) inside the block."""
    from psycopg import pq

    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    result = RoundTrips()
    with tempfile.TemporaryFile() as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            yield result
        finally:
            if connection.connection is not None and connection.connection.pgconn is pgconn:
                pgconn.untrace()
            trace.seek(0)
            parsed = _parse(trace.read().decode(errors="replace"))
            result.count, result.statements = parsed.count, parsed.statements
