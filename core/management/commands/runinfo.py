from django.core.management.base import BaseCommand

from core.runinfo import run_settings_lines


class Command(BaseCommand):
    help = (
        "Print, as shell-safe KEY=value lines, the effective settings `make run` needs "
        "(database, cache, Stripe, worker counts, email), passwords redacted. "
        "Does not connect to anything."
    )
    requires_system_checks = []

    def handle(self, *args, **options):
        for line in run_settings_lines():
            self.stdout.write(line)
