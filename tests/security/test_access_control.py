"""Who may see and do what: no user enumeration through purchases, a guest sees only its
own purchase, lists and balances are the caller's own, consumption is for staff and
teachers. (Admin pages: test_admin_access_control.py. Timing is deliberately not tested.)"""

import uuid

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from finances.models import HoursLedgerEntry, PurchaseTransaction
from tests.factories import (
    GuardianStudentLinkFactory,
    GuestUserFactory,
    PricingPlanFactory,
    PurchaseTransactionFactory,
    StaffUserFactory,
    TeacherFactory,
    TeacherStudentAssignmentFactory,
    UserFactory,
)
from tests.support.hostile_input_helpers import assert_error_envelope, store_snapshot
from tests.support.payments import purchase_pay
from tests.support.purchase_initiation_helpers import INITIATE_URL

pytestmark = pytest.mark.django_db

PER_PURCHASE_VALUES = {"transaction_id", "payment_intent_id", "client_secret"}
CONSUMPTION_URL = "/api/finances/consumptions/"
REVERSAL_URL = "/api/finances/consumptions/reversals/"


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def initiate(client, plan, *, email: str, name: str = "Ana Silva"):
    body = {"plan_id": plan.pk, "student_info": {"name": name, "email": email}}
    return client.post(INITIATE_URL, body, format="json")


def status_url(transaction_id) -> str:
    return f"/api/finances/purchase/{transaction_id}/status/"


def shape(value):
    """The keys at every level, without the values."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return type(value).__name__


# --- No user enumeration ------------------------------------------------------------------

EXISTING_ACCOUNTS = {
    "student": UserFactory,
    "guest": GuestUserFactory,
    "teacher": TeacherFactory,
    "staff": StaffUserFactory,
    "guardian": lambda **kwargs: (
        GuardianStudentLinkFactory(guardian=UserFactory(**kwargs)).guardian
    ),
}


@pytest.mark.parametrize("kind", sorted(EXISTING_ACCOUNTS))
@pytest.mark.parametrize("spelling", ["same", "other_case"])
def test_a_purchase_for_a_known_email_answers_exactly_like_one_for_a_new_email(
    localstripe, kind, spelling
):
    plan = PricingPlanFactory()
    known = EXISTING_ACCOUNTS[kind](email=f"known-{uuid.uuid4().hex[:8]}@example.com")
    known_email = known.email if spelling == "same" else f"  {known.email.upper()} "

    for_new = initiate(APIClient(), plan, email=f"new-{uuid.uuid4().hex[:8]}@example.com")
    for_known = initiate(APIClient(), plan, email=known_email)

    assert for_new.status_code == for_known.status_code == 201
    assert for_new["Content-Type"] == for_known["Content-Type"]
    new_body, known_body = for_new.json(), for_known.json()
    assert shape(new_body) == shape(known_body)
    differing = {key for key in new_body if new_body[key] != known_body[key]}
    assert differing == PER_PURCHASE_VALUES
    known.refresh_from_db()
    assert known.name != "Ana Silva"  # the existing account is not renamed by a stranger


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "Ana 😀"},
        {"plan_id": "inactive"},
        {"plan_id": 2**31 - 1},
    ],
    ids=["bad_name", "inactive_plan", "unknown_plan"],
)
def test_a_refused_purchase_for_a_known_email_answers_exactly_like_for_a_new_email(bad):
    plan = PricingPlanFactory()
    inactive = PricingPlanFactory(is_active=False)
    known = UserFactory(email="known@example.com")

    def attempt(email):
        plan_id = {"inactive": inactive.pk}.get(bad.get("plan_id"), bad.get("plan_id", plan.pk))
        info = {"name": bad.get("name", "Ana Silva"), "email": email}
        return APIClient().post(
            INITIATE_URL, {"plan_id": plan_id, "student_info": info}, format="json"
        )

    before = store_snapshot()
    for_new, for_known = attempt("new@example.com"), attempt(known.email)

    assert for_new.status_code == for_known.status_code == 400
    assert for_new.json() == for_known.json()
    assert store_snapshot() == before


# --- A guest reads only its own purchase --------------------------------------------------


@pytest.fixture
def two_guest_purchases(localstripe):
    """Two guests' purchases started through the API, with the client secrets they got."""
    plan = PricingPlanFactory()
    first = initiate(APIClient(), plan, email="first@example.com").json()
    second = initiate(APIClient(), plan, email="second@example.com").json()
    return first, second


def test_a_guest_reads_its_own_purchase_with_its_client_secret(two_guest_purchases):
    first, _ = two_guest_purchases

    by_header = APIClient().get(
        status_url(first["transaction_id"]), HTTP_X_CLIENT_SECRET=first["client_secret"]
    )

    assert by_header.status_code == 200
    assert by_header.json()["transaction_id"] == first["transaction_id"]


def test_another_purchase_is_indistinguishable_from_an_unknown_one(two_guest_purchases):
    first, second = two_guest_purchases
    secret = first["client_secret"]

    answers = {
        "other_with_own_secret": APIClient().get(
            status_url(second["transaction_id"]), HTTP_X_CLIENT_SECRET=secret
        ),
        "other_without_secret": APIClient().get(status_url(second["transaction_id"])),
        "other_with_a_mangled_secret": APIClient().get(
            status_url(second["transaction_id"]),
            HTTP_X_CLIENT_SECRET=second["client_secret"][:-1],
        ),
        "unknown_with_own_secret": APIClient().get(
            status_url(uuid.uuid4()), HTTP_X_CLIENT_SECRET=secret
        ),
    }

    for name, response in answers.items():
        assert_error_envelope(response, status=404, code="not_found")
        assert response.json() == answers["unknown_with_own_secret"].json(), name


def test_a_logged_in_stranger_cannot_read_a_guest_purchase(two_guest_purchases):
    first, _ = two_guest_purchases

    response = client_for(UserFactory()).get(status_url(first["transaction_id"]))

    assert_error_envelope(response, status=404, code="not_found")


@pytest.mark.parametrize("reader", ["student", "payer", "staff"])
def test_the_student_the_payer_and_staff_read_the_purchase_without_a_secret(reader):
    link = GuardianStudentLinkFactory()
    purchase = PurchaseTransactionFactory(student=link.student, purchased_by=link.guardian)
    user = {"student": link.student, "payer": link.guardian, "staff": StaffUserFactory()}[reader]

    response = client_for(user).get(status_url(purchase.pk))

    assert response.status_code == 200, response.json()
    assert response.json()["transaction_id"] == str(purchase.pk)


# --- Lists and balances are the caller's own ----------------------------------------------


@pytest.fixture
def households():
    """S1 with a purchase of its own and one its guardian paid; S2 with one; all completed."""
    link = GuardianStudentLinkFactory()
    own = PurchaseTransactionFactory(student=link.student)
    paid_by_guardian = PurchaseTransactionFactory(
        student=link.student, purchased_by=link.guardian, plan=PricingPlanFactory(minutes=300)
    )
    other = PurchaseTransactionFactory(plan=PricingPlanFactory(minutes=900))
    for purchase in (own, paid_by_guardian, other):
        purchase_pay(purchase)
    return {
        "student": (link.student, {own.pk, paid_by_guardian.pk}, 900),
        "guardian": (link.guardian, {paid_by_guardian.pk}, 0),
        "other": (other.student, {other.pk}, 900),
        "staff": (StaffUserFactory(), set(), 0),
    }


@pytest.mark.parametrize("who", ["student", "guardian", "other", "staff"])
def test_transactions_list_only_the_callers_own_purchases(households, who):
    user, expected, _ = households[who]
    client = client_for(user)

    listed = client.get("/api/finances/transactions/", {"page_size": 100})
    filtered = client.get("/api/finances/transactions/", {"status": "COMPLETED"})

    assert listed.status_code == filtered.status_code == 200
    ids = {uuid.UUID(row["transaction_id"]) for row in listed.json()["results"]}
    assert ids == expected
    assert {uuid.UUID(row["transaction_id"]) for row in filtered.json()["results"]} == expected


@pytest.mark.parametrize("who", ["student", "guardian", "other", "staff"])
def test_the_balance_is_the_callers_own_whatever_the_query_says(households, who):
    user, _, minutes = households[who]
    someone_else = households["other" if who != "other" else "student"][0]

    response = client_for(user).get(
        "/api/finances/balance/", {"student_id": someone_else.pk, "student": someone_else.pk}
    )

    assert response.status_code == 200, response.json()
    assert response.json()["student_id"] == user.pk
    assert response.json()["minutes_available"] == minutes


@pytest.mark.parametrize("url", ["/api/finances/transactions/", "/api/finances/balance/"])
def test_lists_and_balances_refuse_anonymous_callers(households, url):
    response = APIClient().get(url)

    assert_error_envelope(response, status=401, code="not_authenticated")
    assert response["WWW-Authenticate"].startswith("Token")


# --- Consumption is for staff and teachers ------------------------------------------------


@pytest.fixture
def student_with_hours():
    purchase = PurchaseTransactionFactory()
    purchase_pay(purchase)
    return purchase.student


@pytest.mark.parametrize("url", [CONSUMPTION_URL, REVERSAL_URL])
@pytest.mark.parametrize(
    "caller",
    ["anonymous", "student_itself", "other_student", "guest", "guardian", "session_student"],
)
def test_consumption_endpoints_refuse_students_guests_and_anonymous(
    student_with_hours, url, caller
):
    body = {"student_id": student_with_hours.pk, "minutes": 60, "lesson_reference": "L-1"}
    if caller == "session_student":
        client = APIClient()
        client.force_login(student_with_hours)
    elif caller == "anonymous":
        client = APIClient()
    else:
        user = {
            "student_itself": student_with_hours,
            "other_student": UserFactory(),
            "guest": GuestUserFactory(),
            "guardian": GuardianStudentLinkFactory(student=student_with_hours).guardian,
        }[caller]
        client = client_for(user)
    entries = HoursLedgerEntry.objects.count()

    response = client.post(url, body, format="json")

    if caller == "anonymous":
        assert_error_envelope(response, status=401, code="not_authenticated")
    else:
        assert_error_envelope(response, status=403, code="permission_denied")
    assert HoursLedgerEntry.objects.count() == entries


@pytest.mark.parametrize("caller", ["assigned_teacher", "staff"])
def test_assigned_teachers_and_staff_record_and_reverse_a_lesson(student_with_hours, caller):
    if caller == "staff":
        user = StaffUserFactory()
    else:
        user = TeacherStudentAssignmentFactory(student=student_with_hours).teacher
    client = client_for(user)
    body = {"student_id": student_with_hours.pk, "minutes": 60, "lesson_reference": "L-1"}

    recorded = client.post(CONSUMPTION_URL, body, format="json")
    reversed_ = client.post(
        REVERSAL_URL,
        {"student_id": student_with_hours.pk, "lesson_reference": "L-1"},
        format="json",
    )

    assert recorded.status_code == 201, recorded.json()
    assert reversed_.status_code == 200, reversed_.json()
    assert list(
        HoursLedgerEntry.objects.filter(student=student_with_hours)
        .order_by("created_at", "id")
        .values_list("entry_type", "minutes")
    ) == [
        (HoursLedgerEntry.EntryType.CREDIT, 600),
        (HoursLedgerEntry.EntryType.DEBIT, -60),
        (HoursLedgerEntry.EntryType.DEBIT_REVERSAL, 60),
    ]
    assert PurchaseTransaction.objects.get().status == PurchaseTransaction.Status.COMPLETED
