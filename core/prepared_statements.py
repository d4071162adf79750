"""Hot statements run as server-side prepared statements on PostgreSQL.

Django's psycopg cursors bind client-side: every execution quotes each value into new SQL
text in Python (a webhook's 2 KB event JSON, a job's signed payload), and PostgreSQL
parses and plans that text again. A statement run through `prepared_fetchone` is sent
once per connection (psycopg's own cursor, `prepare=True`) and then only its values, in
their binary or text form; with `plan_cache_mode = force_generic_plan` (config/settings.py)
it is planned once too. Only for fixed SQL text built from constants and model metadata,
with every value a parameter. Elsewhere (SQLite) Django's cursor runs it as usual.
"""

import time

import psycopg
from django.db import connection


def prepared_fetchone(sql: str, parameters):
    """The statement's first row (or None). Errors are Django's, as from any cursor."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, parameters)
            return cursor.fetchone()
    # As Django's cursor() does: CONN_HEALTH_CHECKS' check when the connection was idle.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    started = time.monotonic()
    try:
        with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(sql, parameters, prepare=True)
            return cursor.fetchone()
    finally:
        if connection.queries_logged:
            # Seen like any other statement by Django's query log (DEBUG, the debug
            # toolbar, CaptureQueriesContext), with its SQL text as prepared.
            connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
