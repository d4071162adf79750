from django.core.management.base import BaseCommand

from finances.services.schedules import schedules_sync


class Command(BaseCommand):
    help = (
        "Create or update the background schedules listed in finances/schedules.py "
        "(intervals from SCHEDULE_*_MINUTES). Idempotent: run it after every migrate."
    )

    def handle(self, *args, **options):
        result = schedules_sync()
        for label, names in [
            ("created", result.created),
            ("updated", result.updated),
            ("removed", result.removed),
        ]:
            for name in names:
                self.stdout.write(f"{label} {name}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Schedules: {len(result.created)} created, {len(result.updated)} updated, "
                f"{len(result.unchanged)} unchanged, {len(result.removed)} removed."
            )
        )
