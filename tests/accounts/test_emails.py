import pytest

from accounts.emails import email_normalize
from accounts.models import User

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("ana@example.com", "ana@example.com"),
        ("Ana.Silva@Example.COM", "ana.silva@example.com"),  # local part too
        ("  ana@example.com \n", "ana@example.com"),
        ("\u00a0ana@example.com\u00a0", "ana@example.com"),  # no-break spaces
        ("\uff21\uff4e\uff41@example.com", "ana@example.com"),  # full-width letters (NFKC)
        ("ana+tag@Example.com", "ana+tag@example.com"),  # sub-addresses kept
        ("JOÃO@EXEMPLO.PT", "joão@exemplo.pt"),
    ],
)
def test_an_email_has_one_spelling(raw, normalized):
    assert email_normalize(raw) == normalized


def test_normalizing_twice_changes_nothing():
    once = email_normalize("  \uff2aoão.Silva@Example.COM ")

    assert email_normalize(once) == once


def test_the_user_manager_stores_the_normalized_email():
    user = User.objects.create_user("  Ana.Silva@Example.COM ", "pw-long-enough-1", name="Ana")

    user.refresh_from_db()
    assert user.email == "ana.silva@example.com"


def test_user_clean_normalizes_the_email():
    user = User(email=" Ana@Example.com", name="Ana")

    user.clean()

    assert user.email == "ana@example.com"
