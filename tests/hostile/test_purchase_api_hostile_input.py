"""Hostile input to POST /api/finances/purchase/initiate/ against localstripe (hypothesis).

Properties: never a 5xx; a refusal is the error envelope and stores nothing (no User, no
PurchaseTransaction); an accepted purchase (201) has the plan's price and hours in its row,
in its answer and in the PaymentIntent at localstripe, whatever else the client sent; a
name made of letters of any script is accepted.
"""

import re
import unicodedata
import uuid

import pytest
from django.test import Client
from hypothesis import example, given
from hypothesis import strategies as st

from accounts.models import User
from accounts.names import person_name_normalize
from finances.models import PurchaseTransaction
from tests.factories import PricingPlanFactory, UserFactory
from tests.support.hostile_input_helpers import (
    assert_error_envelope,
    assert_no_server_error,
    hostile_settings,
    json_bytes,
    json_values,
    store_snapshot,
)
from tests.support.purchase_initiation_helpers import INITIATE_URL

pytestmark = pytest.mark.django_db

NAME_MAX, EMAIL_MAX = 150, 254  # User.name and User.email columns


@pytest.fixture
def client() -> Client:
    return Client()


@pytest.fixture
def plan():
    return PricingPlanFactory(minutes=630, price_cents=12345, validity_days=30)


def post_body(client, body: bytes):
    return client.generic("POST", INITIATE_URL, body, content_type="application/json")


def post_json(client, value):
    return post_body(client, json_bytes(value))


def fresh_email() -> str:
    return f"hostile-{uuid.uuid4().hex[:12]}@example.com"


def assert_refused_and_nothing_stored(response, before, *, field: str | None = None) -> None:
    assert response.status_code == 400, response.content[:500]
    error = assert_error_envelope(response)
    if field is not None:
        assert field in error.get("fields", {}), error
    after = store_snapshot()
    assert after.users == before.users
    assert after.purchases == before.purchases


def assert_priced_by_the_plan(response, plan, localstripe) -> PurchaseTransaction:
    """The answer, the row and the PaymentIntent all carry the plan's price and hours."""
    assert response.status_code == 201, response.content[:500]
    body = response.json()
    purchase = PurchaseTransaction.objects.get(pk=body["transaction_id"])
    assert (purchase.plan_id, purchase.plan_name, purchase.plan_type) == (
        plan.pk,
        plan.name,
        plan.plan_type,
    )
    assert (purchase.amount_cents, purchase.currency, purchase.minutes) == (
        plan.price_cents,
        plan.currency,
        plan.minutes,
    )
    assert (purchase.validity_days, purchase.billing_period) == (
        plan.validity_days,
        plan.billing_period,
    )
    assert purchase.status == PurchaseTransaction.Status.PENDING
    assert body["amount"] == f"{plan.price_cents // 100}.{plan.price_cents % 100:02d}"
    assert body["currency"] == plan.currency
    assert body["plan"]["id"] == plan.pk
    intent = localstripe.retrieve(purchase.stripe_payment_intent_id)
    assert (intent.amount, intent.currency) == (plan.price_cents, plan.currency.lower())
    assert intent.metadata["transaction_id"] == str(purchase.pk)
    assert intent.metadata["plan_id"] == str(plan.pk)
    assert intent.metadata["student_id"] == str(purchase.student_id)
    return purchase


# --- Arbitrary bodies ---------------------------------------------------------------------


@hostile_settings(60)
@given(body=st.one_of(st.binary(max_size=2048), json_values.map(json_bytes)))
@example(body=b"")
@example(body=b"null")
@example(body=b'{"plan_id": NaN}')
@example(body=b'{"plan_id": 1e999}')
@example(body=b'{"plan_id": ' + b"9" * 5000 + b"}")
@example(body=b'{"plan_id": 1, "student_info": {"name": "\\ud800", "email": "a@b.co"}}')
@example(body=b'{"plan_id": 1, "student_info": {"name": "Ana\\u0000", "email": "a@b.co"}}')
@example(body=b"\xff\xfe{}")
def test_arbitrary_bodies_never_cause_a_server_error_and_refusals_store_nothing(
    client, localstripe, plan, body
):
    before = store_snapshot()

    response = post_body(client, body)

    assert_no_server_error(response)
    if response.status_code == 201:
        assert_priced_by_the_plan(response, plan, localstripe)
    else:
        assert_refused_and_nothing_stored(response, before)


# --- Wrong types and huge values ----------------------------------------------------------

STRUCTURALLY_WRONG = st.one_of(
    st.none(),
    st.booleans(),
    st.lists(json_values, max_size=3),
    st.dictionaries(st.text(max_size=5), json_values, max_size=3),
)


def reads_as_integer(value, number: int) -> bool:
    """Whether DRF's IntegerField would read `value` as `number` ("12", " 12", "12.0", +12)."""
    try:
        return int(re.sub(r"\.0*\s*$", "", str(value))) == number
    except ValueError:
        return False


def wrong_values_for(field: str, plan):
    if field == "plan_id":
        return st.one_of(
            STRUCTURALLY_WRONG,
            st.floats(allow_nan=False, allow_infinity=False).filter(lambda n: n != int(n)),
            st.text(max_size=20),
            st.integers(),
        ).filter(lambda value: isinstance(value, bool) or not reads_as_integer(value, plan.pk))
    if field == "student_info":
        return st.one_of(st.none(), st.booleans(), st.integers(), st.text(), st.lists(json_values))
    # name and email: no text at all (numbers become digits, which are not valid either)
    return st.one_of(
        STRUCTURALLY_WRONG, st.integers(), st.floats(allow_nan=False, allow_infinity=False)
    )


@pytest.mark.parametrize("field", ["plan_id", "student_info", "name", "email"])
@hostile_settings(25)
@given(data=st.data())
def test_a_wrong_type_in_any_field_is_refused_and_stores_nothing(client, plan, field, data):
    value = data.draw(wrong_values_for(field, plan), label=field)
    body = {"plan_id": plan.pk, "student_info": {"name": "Ana Silva", "email": fresh_email()}}
    if field in ("name", "email"):
        body["student_info"][field] = value
    else:
        body[field] = value
    before = store_snapshot()

    response = post_json(client, body)

    field_named = "student_info" if field in ("name", "email") else field
    assert_refused_and_nothing_stored(response, before, field=field_named)


@hostile_settings(20)
@given(
    field=st.sampled_from(["name", "email", "plan_id"]),
    size=st.integers(min_value=1, max_value=200_000),
)
@example(field="name", size=NAME_MAX + 1)
@example(field="email", size=EMAIL_MAX + 1)
@example(field="plan_id", size=4301)
def test_huge_strings_are_refused_and_store_nothing(client, plan, field, size):
    info = {"name": "Ana Silva", "email": fresh_email()}
    body = {"plan_id": plan.pk, "student_info": info}
    if field == "name":
        info["name"] = "A" * (NAME_MAX + size)
    elif field == "email":
        info["email"] = "a" * (EMAIL_MAX + size) + "@example.com"
    else:
        body["plan_id"] = "9" * (10 + size)
    before = store_snapshot()

    response = post_json(client, body)

    assert_refused_and_nothing_stored(
        response, before, field="plan_id" if field == "plan_id" else "student_info"
    )


@pytest.mark.parametrize("depth", [1_000, 10_000, 100_000])
@pytest.mark.parametrize("opener", ["[", '{"plan_id": '])
def test_deeply_nested_json_is_refused_without_a_server_error(client, depth, opener):
    before = store_snapshot()

    response = post_body(client, (opener * depth).encode())

    assert_error_envelope(response, status=400)
    assert store_snapshot() == before


# --- Names in any script; normalization that grows a value --------------------------------

LETTER = st.characters(categories=["Lu", "Ll", "Lt", "Lm", "Lo"])
MARK = st.characters(categories=["Mn", "Mc"])
WORD = st.lists(
    st.tuples(LETTER, st.one_of(st.just(""), MARK)).map("".join), min_size=1, max_size=8
).map("".join)
LETTER_NAMES = st.lists(WORD, min_size=1, max_size=3).map(" ".join)


@hostile_settings(20)
@given(name=LETTER_NAMES)
@example(name="李小龍")
@example(name="Ανδρέας Παπαδόπουλος")
@example(name="محمد عبد الله")
@example(name="ǅemal ᾈ")  # title-case letters
def test_a_name_made_of_letters_of_any_script_is_accepted(client, localstripe, plan, name):
    email = fresh_email()

    response = post_json(
        client, {"plan_id": plan.pk, "student_info": {"name": name, "email": email}}
    )

    purchase = assert_priced_by_the_plan(response, plan, localstripe)
    guest = User.objects.get(email=email)
    assert purchase.student_id == guest.pk
    assert guest.name == person_name_normalize(name)
    assert unicodedata.is_normalized("NFC", guest.name)
    assert (guest.is_guest, guest.is_staff, guest.is_superuser) == (True, False, False)


# Letters whose NFC form is longer (composition exclusions: U+0958 → U+0915 U+093C ...), and
# characters whose NFKC form is longer (U+2177 SMALL ROMAN NUMERAL EIGHT → "viii").
GROWING_LETTERS = "\u0958\u0959\u095a\u095b\u095c\u095d\u095e\u095f\ufb1d\ufb2c\ufb2d\ufb4e"


@hostile_settings(10)
@given(letter=st.sampled_from(GROWING_LETTERS), count=st.integers(76, NAME_MAX))
@example(letter="\u0958", count=NAME_MAX)
def test_a_name_that_grows_when_normalized_never_overflows_the_column(
    client, localstripe, plan, letter, count
):
    before = store_snapshot()

    response = post_json(
        client,
        {"plan_id": plan.pk, "student_info": {"name": letter * count, "email": fresh_email()}},
    )

    assert_no_server_error(response)
    if response.status_code == 201:
        guest = PurchaseTransaction.objects.get(pk=response.json()["transaction_id"]).student
        assert len(guest.name) <= NAME_MAX
    else:
        assert_refused_and_nothing_stored(response, before, field="student_info")


@hostile_settings(10)
@given(labels=st.integers(min_value=1, max_value=12), per_label=st.integers(1, 15))
@example(labels=5, per_label=15)
def test_an_email_that_grows_when_normalized_never_overflows_the_column(
    client, localstripe, plan, labels, per_label
):
    email = "a@" + ("\u2177" * per_label + ".") * labels + "com"
    before = store_snapshot()

    response = post_json(
        client, {"plan_id": plan.pk, "student_info": {"name": "Ana", "email": email}}
    )

    assert_no_server_error(response)
    if response.status_code == 201:
        guest = PurchaseTransaction.objects.get(pk=response.json()["transaction_id"]).student
        assert len(guest.email) <= EMAIL_MAX
    else:
        assert_refused_and_nothing_stored(response, before, field="student_info")


# --- Extra fields: the price always comes from the plan -----------------------------------

EXTRA_KEYS = (
    "amount",
    "amount_cents",
    "price",
    "price_cents",
    "currency",
    "minutes",
    "hours",
    "metadata",
    "student_id",
    "purchased_by",
    "is_staff",
    "is_superuser",
    "status",
    "plan",
    "plan_type",
    "validity_days",
    "livemode",
    "payment_intent_id",
    "transaction_id",
)


@hostile_settings(20)
@given(
    price_cents=st.integers(min_value=50, max_value=10**7),
    minutes=st.integers(min_value=1, max_value=10_000),
    extras=st.dictionaries(st.sampled_from(EXTRA_KEYS), json_values, min_size=1),
    info_extras=st.dictionaries(st.sampled_from(EXTRA_KEYS), json_values),
    aim_at_victim=st.booleans(),
)
@example(
    price_cents=14000,
    minutes=600,
    extras={"amount": 1, "price": "0.01", "currency": "USD", "minutes": 10**6, "hours": "999"},
    info_extras={"is_staff": True},
    aim_at_victim=True,
)
def test_extra_fields_cannot_change_the_price_the_hours_or_who_is_credited(
    client, localstripe, price_cents, minutes, extras, info_extras, aim_at_victim
):
    plan = PricingPlanFactory(price_cents=price_cents, minutes=minutes)
    victim = UserFactory()
    if aim_at_victim:
        extras = {**extras, "student_id": victim.pk, "purchased_by": victim.pk}
    email = fresh_email()
    body = {
        **extras,
        "plan_id": plan.pk,
        "student_info": {**info_extras, "name": "Ana Silva", "email": email},
    }

    response = post_json(client, body)

    purchase = assert_priced_by_the_plan(response, plan, localstripe)
    guest = User.objects.get(email=email)
    assert (purchase.student_id, purchase.purchased_by_id) == (guest.pk, None)
    assert (guest.is_guest, guest.is_staff, guest.is_superuser) == (True, False, False)
    assert not PurchaseTransaction.objects.filter(student=victim).exists()
