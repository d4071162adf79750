"""The family pages' one filter: cents as the decimal string the API reads ("12.50")."""

from django import template

from finances.units import cents_to_amount_string

register = template.Library()


@register.filter
def amount(cents: int | None) -> str:
    return "" if cents is None else cents_to_amount_string(cents)
