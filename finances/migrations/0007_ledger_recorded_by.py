"""Who recorded each lesson debit and reversal (issue 9: teachers act only on their
students, and the acting user is recorded).

A nullable column without an index is added in place on SQLite and PostgreSQL alike;
the append-only trigger is still created again on SQLite (as in 0005), so that a Django
that chose to rebuild the table here could not silently drop it. Migrating backwards
removes the column by rebuilding the table on SQLite, so the first operation's reverse
(run last) creates the trigger again too."""

import importlib

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

ledger_trigger = importlib.import_module("finances.migrations.0002_ledger_append_only")


def reinstate_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(ledger_trigger.SQLITE_BACKWARD)
        schema_editor.execute(ledger_trigger.SQLITE_FORWARD)


class Migration(migrations.Migration):
    dependencies = [
        ("finances", "0006_drop_unused_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, reinstate_trigger),
        migrations.AddField(
            model_name="hoursledgerentry",
            name="recorded_by",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(reinstate_trigger, migrations.RunPython.noop),
    ]
