import logging

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.db.models import ProtectedError

from core.checks import LIVE_KEY_PREFIXES
from core.errors import ApplicationError
from finances.services.webhook_self_test import (
    SelfTestReport,
    self_test_configuration_validate,
    self_test_data_create,
    self_test_data_remove,
    self_test_endpoint_run,
    stripe_cli_instructions,
)


class Command(BaseCommand):
    help = (
        "Check the Stripe webhook set-up end to end: configuration, test data, signed events "
        "through the real URL with their effects, and Stripe CLI instructions."
    )

    def add_arguments(self, parser):
        parser.add_argument("--validate-config", action="store_true", help="Check the settings.")
        parser.add_argument(
            "--create-test-data",
            action="store_true",
            help="Create a marked test student and purchases with real PaymentIntents, and "
            "keep them (to pay by hand); remove them later with --remove-test-data.",
        )
        parser.add_argument(
            "--test-endpoint",
            action="store_true",
            help="Send signed events through the webhook URL and check their effects.",
        )
        parser.add_argument(
            "--stripe-cli-instructions", action="store_true", help="Print Stripe CLI steps."
        )
        parser.add_argument("--all", action="store_true", help="All of the above.")
        parser.add_argument(
            "--keep",
            action="store_true",
            help="Keep the endpoint test's data (it is removed at the end by default).",
        )
        parser.add_argument(
            "--remove-test-data",
            action="store_true",
            help="Remove every purchase marked as test data, and its test student.",
        )
        parser.add_argument(
            "--allow-live",
            action="store_true",
            help="Run even with a live Stripe key (real PaymentIntents, never paid).",
        )
        parser.add_argument(
            "--base-url",
            default=None,
            help="Send over HTTP to this running server (e.g. http://127.0.0.1:8000); by "
            "default the events go through Django's test client in this process. The server "
            "must use this command's database for the effects to be checked.",
        )

    def handle(self, *args, **options):
        run_all = options["all"]
        chosen = [
            name
            for name in (
                "validate_config",
                "create_test_data",
                "test_endpoint",
                "stripe_cli_instructions",
            )
            if options[name] or run_all
        ]
        if options["remove_test_data"]:
            chosen.append("remove_test_data")
        if not chosen:
            raise CommandError(
                "Choose at least one of --validate-config, --create-test-data, "
                "--test-endpoint, --stripe-cli-instructions, --all, --remove-test-data."
            )
        live = settings.STRIPE_SECRET_KEY.startswith(LIVE_KEY_PREFIXES)
        if live and not options["allow_live"] and chosen != ["stripe_cli_instructions"]:
            raise CommandError(
                "STRIPE_SECRET_KEY is a live key: this command would create real "
                "PaymentIntents and credit hours in this database. Use a test key, or "
                "--allow-live if you really mean it."
            )
        if "test_endpoint" in chosen and not options["keep"]:
            chosen.append("remove_test_data")
        base_url = options["base_url"]
        report = SelfTestReport()
        finances_logger = logging.getLogger("finances")
        previous_level = finances_logger.level
        if options["verbosity"] < 2:
            # Per-event log lines would bury the check results; -v 2 shows them.
            finances_logger.setLevel(logging.ERROR)
        try:
            self._run(chosen, base_url, report)
        finally:
            finances_logger.setLevel(previous_level)
        passed = len(report.results) - len(report.failed)
        summary = f"{passed} checks passed, {len(report.failed)} failed."
        if report.failed:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))

    def _run(self, chosen: list[str], base_url: str | None, report: SelfTestReport) -> None:
        if "validate_config" in chosen:
            self._section("Configuration")
            self_test_configuration_validate(report, base_url=base_url)
            self._print_new(report)
        if "create_test_data" in chosen and "test_endpoint" not in chosen:
            self._section("Test data")
            try:
                purchases = self_test_data_create()
                report.add("create test purchases", True, ", ".join(str(p.pk) for p in purchases))
            except ApplicationError as error:
                report.add("create test purchases", False, f"{error.code}: {error.message}")
            self._print_new(report)
        if "test_endpoint" in chosen:
            self._section("Webhook endpoint (creates its own test data)")
            self_test_endpoint_run(report, base_url=base_url)
            self._print_new(report)
        if "remove_test_data" in chosen:
            self._section("Clean-up (--keep keeps the test data)")
            try:
                report.add("remove test data", True, str(self_test_data_remove()))
            except (DatabaseError, ProtectedError) as error:  # reported as a failed check
                report.add("remove test data", False, f"{type(error).__name__}: {error}")
            self._print_new(report)
        if "stripe_cli_instructions" in chosen:
            self._section("Stripe CLI")
            self.stdout.write(
                stripe_cli_instructions(base_url=base_url or settings.PUBLIC_BASE_URL)
            )

    def _section(self, title: str) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(title))

    _printed = 0

    def _print_new(self, report: SelfTestReport) -> None:
        for result in report.results[self._printed :]:
            mark = self.style.SUCCESS("PASS") if result.passed else self.style.ERROR("FAIL")
            detail = f"  ({result.detail})" if result.detail else ""
            self.stdout.write(f"  [{mark}] {result.name}{detail}")
        self._printed = len(report.results)
