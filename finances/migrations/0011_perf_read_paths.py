"""Read paths that stay fast at a million rows (issue 11).

- `purchase.lot_open`: the "open lots" marker, so the expiry run reads only the lots that
  are due (`purchase_open_lot_idx`). Backfilled: open where the lot's entries add up to
  more than zero minutes. Kept by the database: a trigger on every ledger INSERT that adds
  minutes sets it (on PostgreSQL and SQLite), so no code path can forget it; the expiry
  run clears it under the purchase's lock once it has dealt with the lot.
- indexes matching the admin's orderings ((created_at, id), (received_at, id), read
  backwards), the backlog's partial index (`webhook_unfinished_idx`, with the predicate
  of `WebhookEventLogQuerySet.unfinished`), and partial indexes for the admin's exact id
  searches (Customer id; a ledger entry's Stripe event id).

A later migration that rebuilds `finances_hoursledgerentry` on SQLite (an AlterField)
drops its triggers: reinstate both the append-only one (0002) and this one.
"""

from django.conf import settings
from django.db import migrations, models


POSTGRESQL_FORWARD = """
CREATE OR REPLACE FUNCTION finances_ledger_open_lot() RETURNS trigger AS $$
BEGIN
    UPDATE finances_purchasetransaction SET lot_open = true
     WHERE id = NEW.purchase_transaction_id AND NOT lot_open;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER finances_ledger_open_lot
    AFTER INSERT ON finances_hoursledgerentry
    FOR EACH ROW WHEN (NEW.minutes > 0) EXECUTE FUNCTION finances_ledger_open_lot();
"""
POSTGRESQL_BACKWARD = """
DROP TRIGGER IF EXISTS finances_ledger_open_lot ON finances_hoursledgerentry;
DROP FUNCTION IF EXISTS finances_ledger_open_lot();
"""
SQLITE_FORWARD = """
CREATE TRIGGER finances_ledger_open_lot
    AFTER INSERT ON finances_hoursledgerentry
    FOR EACH ROW WHEN NEW.minutes > 0
BEGIN
    UPDATE finances_purchasetransaction SET lot_open = 1
     WHERE id = NEW.purchase_transaction_id AND NOT lot_open;
END;
"""
SQLITE_BACKWARD = "DROP TRIGGER IF EXISTS finances_ledger_open_lot;"

BACKFILL = """
UPDATE finances_purchasetransaction SET lot_open = true
 WHERE id IN (
    SELECT purchase_transaction_id FROM finances_hoursledgerentry
     GROUP BY purchase_transaction_id HAVING SUM(minutes) > 0
 )
"""


def _open_lots_backfill(apps, schema_editor):
    schema_editor.execute(BACKFILL)


def _trigger_create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    sql = {"postgresql": POSTGRESQL_FORWARD, "sqlite": SQLITE_FORWARD}.get(vendor)
    if sql:
        schema_editor.execute(sql)


def _trigger_drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    sql = {"postgresql": POSTGRESQL_BACKWARD, "sqlite": SQLITE_BACKWARD}.get(vendor)
    if sql:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_teacher_student_assignment"),
        ("finances", "0010_merge_20261202_0026"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="purchasetransaction",
            name="lot_open",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.RunPython(_open_lots_backfill, migrations.RunPython.noop),
        migrations.RunPython(_trigger_create, _trigger_drop),
        migrations.AddIndex(
            model_name="hoursledgerentry",
            index=models.Index(fields=["created_at", "id"], name="ledger_created_id_idx"),
        ),
        migrations.AddIndex(
            model_name="hoursledgerentry",
            index=models.Index(
                condition=models.Q(("stripe_event_id", ""), _negated=True),
                fields=["stripe_event_id"],
                name="ledger_stripe_event_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="purchasetransaction",
            index=models.Index(fields=["created_at", "id"], name="purchase_created_id_idx"),
        ),
        migrations.AddIndex(
            model_name="purchasetransaction",
            index=models.Index(
                condition=models.Q(("lot_open", True)),
                fields=["expires_at"],
                name="purchase_open_lot_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="purchasetransaction",
            index=models.Index(
                condition=models.Q(("stripe_customer_id", ""), _negated=True),
                fields=["stripe_customer_id"],
                name="purchase_customer_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="webhookeventlog",
            index=models.Index(fields=["received_at", "id"], name="webhook_received_id_idx"),
        ),
        migrations.AddIndex(
            model_name="webhookeventlog",
            index=models.Index(
                condition=models.Q(
                    models.Q(("status__in", ["PROCESSED", "IGNORED"]), _negated=True),
                    models.Q(("next_retry_at__isnull", True), ("status", "FAILED"), _negated=True),
                ),
                fields=["received_at"],
                name="webhook_unfinished_idx",
            ),
        ),
        # After its replacement (received_at, id) exists.
        migrations.RemoveIndex(
            model_name="webhookeventlog",
            name="webhook_received_idx",
        ),
    ]
