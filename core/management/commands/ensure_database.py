import psycopg
from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError, connection

from core.runinfo import database_description


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


class Command(BaseCommand):
    help = (
        "Connect to the configured database; create a PostgreSQL database that does not "
        "exist yet (through the `postgres` maintenance database). Any failure is one line."
    )
    requires_system_checks = []

    def handle(self, *args, **options):
        try:
            connection.ensure_connection()
            return
        except OperationalError as error:
            name = connection.settings_dict["NAME"]
            missing = connection.vendor == "postgresql" and (
                f'database "{name}" does not exist' in str(error)
            )
            if not missing:
                raise CommandError(
                    f"Cannot connect to {database_description()}: {_first_line(error)}"
                ) from None
        parameters = {**connection.get_connection_params(), "dbname": "postgres"}
        parameters.pop("cursor_factory", None)
        parameters.pop("context", None)
        try:
            with psycopg.connect(**parameters, autocommit=True) as maintenance:
                maintenance.execute(
                    psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name))
                )
        except psycopg.Error as error:
            raise CommandError(
                f"Database {name!r} does not exist and could not be created "
                f"({_first_line(error)}). Create it with: createdb {name!r}"
            ) from None
        self.stdout.write(f"Created the PostgreSQL database {name!r}.")
