from django.conf import settings
from django.core.checks import Error, register

from core.rate_limit import rate_parse


@register()
def rate_limits_are_well_formed(app_configs, **kwargs) -> list[Error]:
    """A mistyped rate must stop the deploy, not weaken (or break) every purchase."""
    errors = []
    for scope, text in settings.RATE_LIMITS.items():
        try:
            rate_parse(text)
        except ValueError as error:
            errors.append(Error(f"RATE_LIMITS[{scope!r}]: {error}", id="core.E001"))
    return errors
