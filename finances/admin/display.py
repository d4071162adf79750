import json

from django.utils.html import format_html

from finances.units import cents_to_amount_string, minutes_to_hours_string


def euros(cents: int | None, currency: str = "EUR") -> str:
    return "—" if cents is None else f"{cents_to_amount_string(cents)} {currency}"


def hours(minutes: int | None) -> str:
    return "—" if minutes is None else f"{minutes_to_hours_string(minutes)} h"


def pretty_json(document) -> str:
    return format_html(
        '<pre style="white-space: pre-wrap; max-width: 100ch">{}</pre>',
        json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False),
    )


class ReadOnlyAdminMixin:
    """Records of what happened: visible, never edited or deleted by hand."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
