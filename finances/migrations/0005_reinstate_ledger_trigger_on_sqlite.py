"""SQLite alters a table by rebuilding it, which drops its triggers: 0004 rebuilt the
ledger table, so the append-only trigger of 0002 is created again there. (PostgreSQL alters
tables in place; its trigger is untouched.) Any later migration that rebuilds
finances_hoursledgerentry on SQLite must do the same."""

import importlib

from django.db import migrations

ledger_trigger = importlib.import_module("finances.migrations.0002_ledger_append_only")


def reinstate(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(ledger_trigger.SQLITE_BACKWARD)
        schema_editor.execute(ledger_trigger.SQLITE_FORWARD)


class Migration(migrations.Migration):
    dependencies = [("finances", "0004_fewer_write_indexes")]

    operations = [migrations.RunPython(reinstate, migrations.RunPython.noop)]
