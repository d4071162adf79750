"""Money is integer cents and time is integer minutes; these render them for people."""

import calendar
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

_TWO_PLACES = Decimal("0.01")


def cents_to_decimal(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(_TWO_PLACES)


def cents_to_amount_string(cents: int) -> str:
    """14000 → "140.00"."""
    return str(cents_to_decimal(cents))


def minutes_to_hours(minutes: int) -> Decimal:
    return (Decimal(minutes) / 60).quantize(_TWO_PLACES, rounding=ROUND_HALF_UP)


def minutes_to_hours_string(minutes: int) -> str:
    """600 → "10.00", 50 → "0.83"."""
    return str(minutes_to_hours(minutes))


def add_months(moment: datetime, months: int) -> datetime:
    """The same day `months` later, clamped to the month's last day (31 Jan + 1 → 28/29 Feb)."""
    month_index = moment.month - 1 + months
    year = moment.year + month_index // 12
    month = month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def add_days(moment: datetime, days: int) -> datetime:
    return moment + timedelta(days=days)
