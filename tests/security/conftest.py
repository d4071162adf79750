"""The chaos suite's two-gunicorn-servers fixture, for the cross-process rate-limit test."""

from tests.chaos.conftest import chaos_seed, two_servers_factory  # noqa: F401
