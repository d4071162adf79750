"""Counts that stay cheap when a table holds millions of rows.

A metrics scrape or an admin page must not scan a whole table. Statuses that stay few
(a backlog, open purchases) are counted exactly through their indexes; the statuses that
grow with history (PROCESSED, COMPLETED...) are, once the table is past
COUNT_ESTIMATE_MIN_ROWS rows on PostgreSQL, read from the planner's statistics
(`pg_class.reltuples` times `pg_stats.most_common_freqs`, as fresh as autovacuum's last
ANALYZE). Below that, and on SQLite, every count is exact.
"""

from django.conf import settings
from django.db import connection
from django.db.models import Count, Model, QuerySet


def table_row_estimate(model: type[Model]) -> int | None:
    """The planner's row count of the model's table, None when unknown (never analyzed, or
    not PostgreSQL)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [model._meta.db_table]
        )
        row = cursor.fetchone()
    if row is None or row[0] is None or row[0] < 0:
        return None
    return int(row[0])


def _status_estimates(model: type[Model], rows: int, column: str) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT most_common_vals::text::text[], most_common_freqs FROM pg_stats "
            "WHERE schemaname = current_schema() AND tablename = %s AND attname = %s",
            [model._meta.db_table, column],
        )
        row = cursor.fetchone()
    if row is None or row[0] is None:
        return {}
    return {value: round(frequency * rows) for value, frequency in zip(row[0], row[1], strict=True)}


def status_counts(
    *, queryset: QuerySet, exact_statuses, estimated_statuses, column: str = "status"
) -> tuple[dict[str, int], bool]:
    """Rows by status: `exact_statuses` counted exactly (through an index on the status),
    `estimated_statuses` estimated once the table is large (see the module). Returns the
    counts and whether any is an estimate. Estimates ignore the queryset's other filters."""
    model = queryset.model
    rows = table_row_estimate(model)
    estimate = rows is not None and rows >= settings.COUNT_ESTIMATE_MIN_ROWS
    exact = list(exact_statuses) if estimate else [*exact_statuses, *estimated_statuses]
    counts = dict(
        queryset.filter(**{f"{column}__in": exact})
        .values_list(column)
        .annotate(count=Count("pk"))
        .order_by()
    )
    if estimate:
        estimates = _status_estimates(model, rows, column)
        for status in estimated_statuses:
            counts[status] = estimates.get(status, 0)
    return counts, estimate
