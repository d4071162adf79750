from django.conf import settings
from django.utils import translation


def language_supported(code: str | None) -> str:
    """One of LANGUAGES' codes ("en", "pt-pt") for any spelling ("pt", "pt-PT", "en-GB"),
    or NOTIFICATION_LANGUAGE when the code is empty or unknown."""
    if code:
        try:
            return translation.get_supported_language_variant(code.lower())
        except LookupError:
            pass
    return settings.NOTIFICATION_LANGUAGE


def language_of_request() -> str:
    """The language the current request is answered in (LocaleMiddleware: the visitor's
    choice, else Accept-Language)."""
    return language_supported(translation.get_language())
