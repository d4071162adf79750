"""HSTS, the HTTPS redirect and secure cookies: environment knobs, on by default behind a
TLS-terminating proxy, off otherwise (development over plain HTTP)."""

import importlib

import pytest

import config.settings

KNOBS = (
    "DJANGO_BEHIND_TLS_PROXY",
    "DJANGO_SECURE_HSTS_SECONDS",
    "DJANGO_SECURE_SSL_REDIRECT",
    "DJANGO_SECURE_COOKIES",
)


@pytest.fixture
def settings_module(monkeypatch):
    """The settings module evaluated again under a given environment (Django's own
    settings object is untouched)."""
    monkeypatch.setenv("DJANGO_READ_DOT_ENV", "false")
    for name in KNOBS:
        monkeypatch.delenv(name, raising=False)

    def load(**environment):
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        return importlib.reload(config.settings)

    yield load
    monkeypatch.undo()
    importlib.reload(config.settings)


def _tls(module) -> tuple:
    return (
        module.SECURE_PROXY_SSL_HEADER,
        module.SECURE_SSL_REDIRECT,
        module.SECURE_HSTS_SECONDS,
        module.SESSION_COOKIE_SECURE,
        module.CSRF_COOKIE_SECURE,
    )


def test_without_a_tls_proxy_everything_is_off(settings_module):
    assert _tls(settings_module()) == (None, False, 0, False, False)


def test_behind_a_tls_proxy_everything_is_on(settings_module):
    module = settings_module(DJANGO_BEHIND_TLS_PROXY="true")

    assert _tls(module) == (("HTTP_X_FORWARDED_PROTO", "https"), True, 31_536_000, True, True)
    assert module.SECURE_REDIRECT_EXEMPT == [r"^health/$", r"^metrics/$"]


def test_each_knob_can_be_set_on_its_own(settings_module):
    module = settings_module(
        DJANGO_BEHIND_TLS_PROXY="true",
        DJANGO_SECURE_HSTS_SECONDS="3600",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SECURE_COOKIES="false",
    )

    assert _tls(module)[1:] == (False, 3600, False, False)
