from django.core.management.base import BaseCommand, CommandError

from finances.services.ledger_verification import ledger_verify


class Command(BaseCommand):
    help = (
        "Check that every balance equals its hours ledger and the ledger agrees with the "
        "purchases. Exits non-zero on any drift."
    )

    def handle(self, *args, **options):
        result = ledger_verify()
        for problem in result.problems:
            self.stderr.write(problem)
        summary = (
            f"{result.students_checked} students, {result.lots_checked} lots checked: "
            f"{len(result.problems)} problems."
        )
        if not result.is_clean:
            raise CommandError(f"Ledger drift. {summary}")
        self.stdout.write(self.style.SUCCESS(f"Ledger clean. {summary}"))
