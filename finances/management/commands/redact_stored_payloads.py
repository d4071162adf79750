from django.core.management.base import BaseCommand

from finances.services.payload_redaction import webhook_payloads_redact


class Command(BaseCommand):
    help = (
        "Replace client secrets and other secrets in stored webhook payloads (rows recorded "
        "before payloads were redacted when stored). Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only count the rows.")
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, **options):
        run = webhook_payloads_redact(batch_size=options["batch_size"], dry_run=options["dry_run"])
        verb = "would be redacted" if run.dry_run else "redacted"
        self.stdout.write(
            self.style.SUCCESS(f"{run.rows_checked} payloads checked, {run.rows_redacted} {verb}.")
        )
