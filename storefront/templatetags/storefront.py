"""Money and hours as each language writes them: "€140.00" / "140,00 €", "10 h"."""

from decimal import Decimal

from django import template
from django.utils.formats import number_format
from django.utils.translation import get_language, gettext

register = template.Library()

CURRENCY_SYMBOLS = {"EUR": "€", "USD": "US$", "GBP": "£", "BRL": "R$"}


@register.filter
def money(cents: int | None, currency: str = "EUR") -> str:
    if cents is None:
        return ""
    amount = number_format(Decimal(cents) / 100, decimal_pos=2, use_l10n=True, force_grouping=True)
    symbol = CURRENCY_SYMBOLS.get((currency or "").upper(), (currency or "").upper())
    if (get_language() or "en").lower().startswith("pt"):
        return f"{amount} {symbol}"
    return f"{symbol}{amount}"


@register.filter
def hours(minutes: int | None) -> str:
    if minutes is None:
        return ""
    sign = "-" if minutes < 0 else ""
    whole, rest = divmod(abs(minutes), 60)
    if rest == 0:
        return f"{sign}{whole} h"
    if whole == 0:
        return f"{sign}{rest} min"
    return f"{sign}{whole} h {rest} min"


@register.filter
def plan_validity(plan) -> str:
    if plan.validity_days:
        return gettext("Valid for %(days)s days after payment") % {"days": plan.validity_days}
    if plan.billing_period == "YEAR":
        return gettext("Renews every year")
    return gettext("Renews every month")
