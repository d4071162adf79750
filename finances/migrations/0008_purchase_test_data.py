"""Purchases made by `test_stripe_webhook` are marked, and their ledger entries (only
theirs) can be removed afterwards.

The append-only trigger on PostgreSQL now lets a DELETE through when both hold: the
transaction set `aprende.delete_test_data` to `on` (`SET LOCAL`, so it ends with the
transaction), and the entry's purchase is marked `is_test_data`. A real entry stays
undeletable even with the setting; UPDATE stays refused on every database. (SQLite never
refused DELETE: see 0002.)
"""

from django.db import migrations, models

POSTGRESQL_FORWARD = """
CREATE OR REPLACE FUNCTION finances_ledger_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND current_setting('aprende.delete_test_data', true) = 'on'
       AND EXISTS (
           SELECT 1 FROM finances_purchasetransaction
           WHERE id = OLD.purchase_transaction_id AND is_test_data
       ) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'hours ledger entries are append-only';
END;
$$ LANGUAGE plpgsql;
"""
POSTGRESQL_BACKWARD = """
CREATE OR REPLACE FUNCTION finances_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'hours ledger entries are append-only';
END;
$$ LANGUAGE plpgsql;
"""


def _run(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("finances", "0007_operator_permissions_audit")]

    operations = [
        migrations.AddField(
            model_name="purchasetransaction",
            name="is_test_data",
            field=models.BooleanField(
                default=False,
                help_text=(
                    "Made by test_stripe_webhook: left out of metrics, reconciliation and expiry."
                ),
            ),
        ),
        migrations.RunPython(_run(POSTGRESQL_FORWARD), _run(POSTGRESQL_BACKWARD)),
    ]
