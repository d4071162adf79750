"""Schemathesis against the project's own OpenAPI schema, loaded from the WSGI app.

Every documented operation gets positive and negative cases (schemathesis 4, hypothesis),
as four callers: anonymous, a student with purchases, staff, and a stale token. Checks:
no server error, and the status code, content type and body each as documented. Stripe is
localstripe; rate limits are off. The webhook endpoint cannot be signed by schemathesis,
so it answers 400 there, which must be the documented 400.

Violations are collected over the whole run (not only the first), deduplicated, and
reported together with one reproducing request each.
"""

import contextlib
import secrets
from collections.abc import Callable

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import given
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from finances.services.consumption import lesson_consumption_record
from finances.services.family_links import family_invitation_create, family_invitation_token
from finances.services.family_requests import purchase_request_create
from finances.services.purchases import client_secret_hash
from finances.services.subscription_start import subscription_create
from tests.factories import (
    GuardianStudentLinkFactory,
    PricingPlanFactory,
    PurchaseTransactionFactory,
    StaffUserFactory,
    SubscriptionPlanFactory,
    TeacherFactory,
    TeacherStudentAssignmentFactory,
)
from tests.support.hostile_input_helpers import hostile_settings
from tests.support.lesson_recorders import lesson_recorder
from tests.support.payments import purchase_pay

pytestmark = pytest.mark.django_db

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
OPERATIONS = [
    "GET /api/accounts/teacher-assignments/",
    "POST /api/accounts/teacher-assignments/",
    "POST /api/accounts/teacher-assignments/{assignment_id}/end/",
    "GET /api/finances/balance/",
    "GET /api/finances/balance/history/",
    "POST /api/finances/checkout/setup-intent/",
    "POST /api/finances/consumptions/",
    "POST /api/finances/consumptions/reversals/",
    "GET /api/finances/config/",
    "GET /api/finances/plans/",
    "GET /api/finances/purchase/{transaction_id}/status/",
    "POST /api/finances/purchase/initiate/",
    "GET /api/finances/subscriptions/",
    "POST /api/finances/subscriptions/",
    "GET /api/finances/subscriptions/{subscription_id}/",
    "POST /api/finances/subscriptions/{subscription_id}/cancel/",
    "POST /api/finances/subscriptions/{subscription_id}/change-plan/",
    "POST /api/finances/subscriptions/{subscription_id}/resume/",
    "GET /api/finances/transactions/",
    "POST /api/finances/webhooks/stripe/",
    "GET /health/",
    "GET /metrics/",
    # families (docs/families.md)
    "GET /api/finances/family/invitations/",
    "POST /api/finances/family/invitations/",
    "POST /api/finances/family/invitations/accept/",
    "POST /api/finances/family/invitations/{invitation_id}/revoke/",
    "GET /api/finances/family/links/",
    "POST /api/finances/family/links/{link_id}/end/",
    "PUT /api/finances/family/links/{link_id}/rules/",
    "GET /api/finances/purchase-requests/",
    "POST /api/finances/purchase-requests/",
    "GET /api/finances/purchase-requests/{request_id}/",
    "POST /api/finances/purchase-requests/{request_id}/cancel/",
    "POST /api/finances/purchase-requests/{request_id}/decline/",
    "POST /api/finances/purchase-requests/{request_id}/pay/",
    "GET /api/finances/students/{student_id}/balance/",
]
CALLERS = ("anonymous", "student", "staff", "stale_token")
GUEST_SECRET = "pi_schemathesis_secret_guest"
EXAMPLES = 20  # per operation, caller and generation mode


@pytest.fixture(scope="module")
def openapi_schema(django_db_blocker):
    from config.wsgi import application

    # The request runs Django's request_started handlers, which look at the connection.
    with django_db_blocker.unblock():
        return schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture
def in_process_requests():
    """What Django's test client does: requests must not close the test's connection (and
    with it the transaction every test runs in)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def world(localstripe, in_process_requests, settings):
    """A plan, a student with a paid purchase (whose client secret a guest would hold) and
    one recorded lesson, staff, each caller's headers, and metrics switched on (their 200
    is documented too)."""
    settings.METRICS_ENABLED = True
    plan = PricingPlanFactory()
    purchase = PurchaseTransactionFactory(client_secret_hash=client_secret_hash(GUEST_SECRET))
    purchase_pay(purchase)
    lesson_consumption_record(
        actor=lesson_recorder(),
        student_id=purchase.student_id,
        minutes=30,
        lesson_reference="lesson-recorded",
    )
    staff = StaffUserFactory()
    assignment = TeacherStudentAssignmentFactory(student=purchase.student)
    unassigned_teacher = TeacherFactory()
    headers = {
        "anonymous": {},
        "student": {"Authorization": f"Token {Token.objects.create(user=purchase.student).key}"},
        "staff": {"Authorization": f"Token {Token.objects.create(user=staff).key}"},
        "stale_token": {"Authorization": f"Token {secrets.token_hex(20)}"},
    }
    subscription_plan = SubscriptionPlanFactory()
    subscription = subscription_create(
        plan_id=subscription_plan.pk, payment_method_id="pm_card_visa", buyer=purchase.student
    ).subscription
    return {
        "plan": plan,
        "subscription_plan": subscription_plan,
        "subscription": subscription,
        "purchase": purchase,
        "headers": headers,
        "assignment": assignment,
        "unassigned_teacher": unassigned_teacher,
        "family": _family_world(purchase.student),
    }


def _family_world(student) -> dict:
    """families: the student is also the guardian of another child (who asked them twice),
    and has a guardian of their own (asked once), an invitation to accept and one sent."""
    child_link = GuardianStudentLinkFactory(guardian=student)
    own_link = GuardianStudentLinkFactory(student=student)

    def ask(link):
        return purchase_request_create(student=link.student, plan_id=PricingPlanFactory().pk)

    to_accept = family_invitation_create(
        inviter=own_link.guardian, email=student.email, direction="GUARDIAN_INVITES_STUDENT"
    )
    return {
        "child_link": child_link,
        "to_pay": ask(child_link),
        "to_decline": ask(child_link),
        "own_request": ask(own_link),
        "token": family_invitation_token(invitation=to_accept),
        "sent": family_invitation_create(
            inviter=student, email="friend@example.com", direction="STUDENT_INVITES_GUARDIAN"
        ),
    }


def known_inputs(label: str, world: dict) -> list[dict]:
    """Inputs that reach the successful answers random data rarely reaches."""
    student_id = world["purchase"].student_id
    path = {"transaction_id": str(world["purchase"].pk)}
    subscription_path = {"subscription_id": str(world["subscription"].pk)}
    return {
        "GET /api/finances/purchase/{transaction_id}/status/": [
            {"path_parameters": path},
            {"path_parameters": path, "headers": {"X-Client-Secret": GUEST_SECRET}},
        ],
        "POST /api/finances/purchase/initiate/": [
            {
                "body": {
                    "plan_id": world["plan"].pk,
                    "student_info": {"name": "Ana Silva", "email": "guest@example.com"},
                }
            },
        ],
        "POST /api/finances/subscriptions/": [
            {
                "body": {
                    "plan_id": world["subscription_plan"].pk,
                    "payment_method_id": "pm_card_visa",
                    "student_info": {"name": "Ana Silva", "email": "subscriber@example.com"},
                }
            },
        ],
        "GET /api/finances/subscriptions/{subscription_id}/": [
            {"path_parameters": subscription_path},
        ],
        "POST /api/finances/subscriptions/{subscription_id}/cancel/": [
            {"path_parameters": subscription_path, "body": {}},
        ],
        "POST /api/finances/subscriptions/{subscription_id}/resume/": [
            {"path_parameters": subscription_path},
        ],
        "POST /api/finances/subscriptions/{subscription_id}/change-plan/": [
            {
                "path_parameters": subscription_path,
                "body": {"plan_id": world["subscription_plan"].pk},
            },
        ],
        "POST /api/finances/consumptions/": [
            {"body": {"student_id": student_id, "minutes": 30, "lesson_reference": "new"}},
            {
                "body": {
                    "student_id": student_id,
                    "minutes": 30,
                    "lesson_reference": "lesson-recorded",
                }
            },
        ],
        "POST /api/finances/consumptions/reversals/": [
            {"body": {"student_id": student_id, "lesson_reference": "lesson-recorded"}},
        ],
        "POST /api/accounts/teacher-assignments/": [
            {"body": {"teacher_id": world["unassigned_teacher"].pk, "student_id": student_id}},
        ],
        "POST /api/accounts/teacher-assignments/{assignment_id}/end/": [
            {"path_parameters": {"assignment_id": world["assignment"].pk}},
        ],
        **_family_inputs(world),
    }.get(label, [])


def _family_inputs(world: dict) -> dict:
    family = world["family"]
    link = {"link_id": family["child_link"].pk}
    return {
        "POST /api/finances/family/invitations/": [
            {"body": {"email": "new@example.com", "direction": "GUARDIAN_INVITES_STUDENT"}}
        ],
        "POST /api/finances/family/invitations/accept/": [{"body": {"token": family["token"]}}],
        "POST /api/finances/family/invitations/{invitation_id}/revoke/": [
            {"path_parameters": {"invitation_id": family["sent"].pk}}
        ],
        "POST /api/finances/family/links/{link_id}/end/": [{"path_parameters": link}],
        "PUT /api/finances/family/links/{link_id}/rules/": [
            {"path_parameters": link, "body": {"approval_mode": "NEVER_ASK"}}
        ],
        "POST /api/finances/purchase-requests/": [{"body": {"plan_id": world["plan"].pk}}],
        "GET /api/finances/purchase-requests/{request_id}/": [
            {"path_parameters": {"request_id": str(family["own_request"].pk)}}
        ],
        "POST /api/finances/purchase-requests/{request_id}/cancel/": [
            {"path_parameters": {"request_id": str(family["own_request"].pk)}}
        ],
        "POST /api/finances/purchase-requests/{request_id}/decline/": [
            {"path_parameters": {"request_id": str(family["to_decline"].pk)}, "body": {}}
        ],
        "POST /api/finances/purchase-requests/{request_id}/pay/": [
            {"path_parameters": {"request_id": str(family["to_pay"].pk)}, "body": {}}
        ],
        "GET /api/finances/students/{student_id}/balance/": [
            {"path_parameters": {"student_id": world["purchase"].student_id}}
        ],
    }


def test_every_documented_operation_is_exercised_here(openapi_schema):
    labels = [result.ok().label for result in openapi_schema.get_all_operations()]

    assert sorted(labels) == sorted(OPERATIONS)


def run_cases(strategy, examples: int, on_case: Callable) -> None:
    @hostile_settings(examples)
    @given(case=strategy)
    def run(case):
        on_case(case)

    # Unsatisfiable: negative cases for an operation that takes no input at all.
    with contextlib.suppress(Unsatisfiable):
        run()


def describe(failure: Failure) -> str:
    message = " ".join(str(failure.message).split())
    return f"{failure.title}: {message[:400]}"


@pytest.mark.parametrize("label", OPERATIONS)
def test_every_answer_is_documented_and_no_answer_is_a_server_error(openapi_schema, world, label):
    operation = openapi_schema.find_operation_by_label(label)
    violations: dict[tuple, str] = {}
    answered: set[tuple] = set()

    for caller in CALLERS:
        headers = world["headers"][caller]

        def on_case(case, caller=caller, headers=headers):
            response = case.call(headers=headers)
            answered.add((caller, response.status_code))
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except FailureGroup as group:
                for failure in group.exceptions:
                    key = (label, response.status_code, failure.title)
                    violations.setdefault(
                        key,
                        f"{label} -> {response.status_code} as {caller}: {describe(failure)}\n"
                        f"    reproduce: {case.as_curl_command(headers=headers)[:600]}",
                    )

        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run_cases(operation.as_strategy(generation_mode=mode), EXAMPLES, on_case)
        for fixed in known_inputs(label, world):
            run_cases(operation.as_strategy(**fixed), 3, on_case)

    successes = {status for _, status in answered if 200 <= status < 300}
    assert successes or label.endswith("/webhooks/stripe/"), f"no success was checked: {answered}"
    assert not violations, "\n".join(
        [f"{len(violations)} schema violation(s) or server error(s):", *violations.values()]
    )
