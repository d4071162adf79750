"""Numbers in the reader's language: `{{ amount_cents|money:currency }}` → "€140.00" in
English, "140,00 €" in Portuguese; `{{ hours|decimal_local }}` → "2.5" / "2,5"."""

from decimal import Decimal

from django import template
from django.utils import translation

register = template.Library()

_SYMBOLS = {"EUR": "€", "USD": "US$", "GBP": "£", "BRL": "R$"}


def _portuguese() -> bool:
    return (translation.get_language() or "").startswith("pt")


def _decimal_text(value: Decimal, places: int | None) -> str:
    text = f"{value:,.{places}f}" if places is not None else f"{value.normalize():f}"
    if _portuguese():
        # 1,234.50 → 1 234,50 (a thin no-break space groups thousands in pt-PT)
        text = text.replace(",", "\u202f").replace(".", ",")
    return text


@register.filter
def money(cents, currency: str = "EUR") -> str:
    amount = _decimal_text(Decimal(int(cents)) / 100, 2)
    symbol = _SYMBOLS.get(str(currency).upper(), str(currency).upper())
    return f"{amount}\u00a0{symbol}" if _portuguese() else f"{symbol}{amount}"


@register.filter
def decimal_local(value) -> str:
    return _decimal_text(Decimal(str(value)), None)
