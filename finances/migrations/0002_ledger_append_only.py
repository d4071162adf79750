"""The database itself refuses to change a ledger entry once written.

UPDATE is refused on every database. DELETE is refused on PostgreSQL only: Django's test
flush on SQLite empties tables with DELETE (on PostgreSQL it uses TRUNCATE, which row
triggers do not see), and SQLite is a development database.
"""

from django.db import migrations

POSTGRESQL_FORWARD = """
CREATE OR REPLACE FUNCTION finances_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'hours ledger entries are append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER finances_ledger_append_only
    BEFORE UPDATE OR DELETE ON finances_hoursledgerentry
    FOR EACH ROW EXECUTE FUNCTION finances_ledger_append_only();
"""
POSTGRESQL_BACKWARD = """
DROP TRIGGER IF EXISTS finances_ledger_append_only ON finances_hoursledgerentry;
DROP FUNCTION IF EXISTS finances_ledger_append_only();
"""
SQLITE_FORWARD = """
CREATE TRIGGER finances_ledger_append_only
    BEFORE UPDATE ON finances_hoursledgerentry
BEGIN
    SELECT RAISE(ABORT, 'hours ledger entries are append-only');
END;
"""
SQLITE_BACKWARD = "DROP TRIGGER IF EXISTS finances_ledger_append_only;"


def _run(sql_by_vendor):
    def run(apps, schema_editor):
        sql = sql_by_vendor.get(schema_editor.connection.vendor)
        if sql:
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("finances", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRESQL_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": POSTGRESQL_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        )
    ]
