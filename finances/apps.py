from django.apps import AppConfig


class FinancesConfig(AppConfig):
    name = "finances"
    verbose_name = "Finances"

    def ready(self) -> None:
        from finances import receivers  # noqa: F401
