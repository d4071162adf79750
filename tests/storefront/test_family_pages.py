"""The family pages with Django's test client: who sees a request's page and its
controls, the account's family section, the invitation page, the checkout's "ask my
guardian", CSRF on their forms, and pt-PT. (The flow itself runs in a real browser in
tests/browser/test_family.py.)"""

import json
import re
import uuid

import pytest
from django.test import Client

from accounts.models import GuardianStudentLink
from finances.services.family_requests import purchase_request_create, purchase_request_decline
from tests.factories import PricingPlanFactory, UserFactory
from tests.support.families import family_create

pytestmark = pytest.mark.django_db

PORTUGUESE = {"HTTP_ACCEPT_LANGUAGE": "pt-PT"}
Mode = GuardianStudentLink.ApprovalMode


def _json_script(response, element_id: str) -> dict:
    match = re.search(
        rf'<script id="{element_id}" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match, f"no #{element_id} in the page"
    return json.loads(match.group(1))


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def plan():
    return PricingPlanFactory(slug="package-10h", name="10 hours", minutes=600, price_cents=14000)


@pytest.fixture
def asked(plan):
    family = family_create()
    return family, purchase_request_create(student=family.student, plan_id=plan.pk)


class TestTheRequestPage:
    def test_the_guardian_sees_the_child_plan_hours_price_and_the_approve_and_decline_forms(
        self, asked
    ):
        family, request = asked

        response = _signed_in(family.guardian).get(f"/family/requests/{request.pk}/")

        assert response.status_code == 200
        page = response.content.decode()
        assert "Student asks for hours" in page
        assert 'id="request-hours">10 h<' in page
        assert 'id="request-price">€140.00<' in page
        assert 'id="approve-form"' in page
        assert 'id="decline-form"' in page
        assert "Approve and pay €140.00" in page
        config = _json_script(response, "family-config")
        assert config["urls"]["pay"] == f"/api/finances/purchase-requests/{request.pk}/pay/"
        assert config["stripe"]["publishable_key"]

    def test_the_student_sees_their_request_but_no_approve_or_pay_control(self, asked):
        family, request = asked

        response = _signed_in(family.student).get(f"/family/requests/{request.pk}/")

        assert response.status_code == 200
        page = response.content.decode()
        assert 'id="approve-form"' not in page
        assert 'id="decline-form"' not in page
        assert 'id="card-element"' not in page
        assert 'id="cancel-form"' in page

    def test_a_stranger_or_another_family_gets_404(self, asked):
        _, request = asked
        other = family_create()

        for user in (UserFactory(), other.guardian, other.student):
            response = _signed_in(user).get(f"/family/requests/{request.pk}/")
            assert response.status_code == 404

    def test_an_unknown_request_is_404_and_a_visitor_is_sent_to_sign_in(self, asked):
        family, request = asked

        unknown = _signed_in(family.guardian).get(f"/family/requests/{uuid.uuid4()}/")
        visitor = Client().get(f"/family/requests/{request.pk}/")

        assert unknown.status_code == 404
        assert visitor.status_code == 302
        assert "/accounts/login/" in visitor["Location"]

    def test_a_closed_request_offers_nothing_to_do_and_says_so(self, asked):
        family, request = asked
        purchase_request_decline(request_id=request.pk, user=family.guardian, message="")

        response = _signed_in(family.guardian).get(f"/family/requests/{request.pk}/")

        page = response.content.decode()
        assert 'id="approve-form"' not in page
        assert 'data-status="DECLINED">Declined' in page

    def test_the_page_speaks_european_portuguese(self, asked):
        family, request = asked

        response = _signed_in(family.guardian).get(f"/family/requests/{request.pk}/", **PORTUGUESE)

        page = response.content.decode()
        assert '<html lang="pt-pt">' in page
        assert "Aprovar e pagar 140,00 €" in page
        assert "Recusar o pedido" in page
        assert _json_script(response, "family-config")["messages"]["declined"].startswith(
            "O seu cartão foi recusado"
        )


class TestTheAccountFamilySection:
    def test_a_guardian_sees_the_childs_pending_request_rules_and_the_invite_form(self, asked):
        family, request = asked

        response = _signed_in(family.guardian).get("/account/")

        page = response.content.decode()
        assert f'href="/family/requests/{request.pk}/"' in page
        assert "Approve and pay for Student" in page
        assert f'data-url="/api/finances/purchase-requests/{request.pk}/decline/"' in page
        assert f'data-url="/api/finances/family/links/{family.link.pk}/rules/"' in page
        assert 'value="ALWAYS_ASK" checked' in page
        assert 'id="invite-form"' in page
        assert "Hours of Student" in page  # the child's hours, expiry and history

    def test_a_student_can_ask_and_cancel_but_is_offered_no_approval(self, asked, plan):
        family, request = asked

        response = _signed_in(family.student).get("/account/")

        page = response.content.decode()
        assert 'id="ask-form"' in page
        assert f'<option value="{family.guardian.pk}">Guardian</option>' in page
        assert f'data-url="/api/finances/purchase-requests/{request.pk}/cancel/"' in page
        assert "Approve and pay" not in page
        assert f"/api/finances/purchase-requests/{request.pk}/decline/" not in page
        assert f"/api/finances/family/links/{family.link.pk}/rules/" not in page

    def test_another_familys_requests_are_not_on_my_account(self, asked):
        _, request = asked
        other = family_create()

        page = _signed_in(other.guardian).get("/account/").content.decode()

        assert str(request.pk) not in page

    def test_the_family_section_speaks_european_portuguese(self, asked):
        family, _ = asked

        page = _signed_in(family.guardian).get("/account/", **PORTUGUESE).content.decode()

        assert "Família" in page
        assert "Perguntar sempre" in page
        assert "Enviar o convite" in page


class TestTheCheckoutForAStudentWhoMustAsk:
    def test_a_student_whose_guardian_always_asks_sees_ask_my_guardian_instead_of_pay(self, plan):
        family = family_create()

        page = _signed_in(family.student).get("/checkout/package-10h/").content.decode()

        assert "Ask my guardian" in page
        assert 'id="pay-button"' not in page
        assert 'id="card-element"' not in page

    def test_under_the_threshold_the_student_pays_as_today(self, plan):
        family = family_create(approval_mode=Mode.ASK_ABOVE_AMOUNT, approval_threshold_cents=20000)

        page = _signed_in(family.student).get("/checkout/package-10h/").content.decode()

        assert "Ask my guardian" not in page
        assert 'id="pay-button"' in page

    def test_the_guardian_buying_pays_as_today(self, plan):
        family = family_create()

        page = _signed_in(family.guardian).get("/checkout/package-10h/").content.decode()

        assert "Ask my guardian" not in page
        assert 'id="pay-button"' in page


class TestTheInvitationPage:
    def test_a_visitor_gets_name_and_password_fields_and_no_token_in_the_page(self):
        response = Client().get("/family/invitations/accept/")

        page = response.content.decode()
        assert response.status_code == 200
        assert 'id="accept-name"' in page
        assert 'id="accept-password"' in page
        assert _json_script(response, "family-config")["acceptUrl"] == (
            "/api/finances/family/invitations/accept/"
        )

    def test_a_signed_in_user_accepts_as_themself(self):
        user = UserFactory(name="Rita")

        page = _signed_in(user).get("/family/invitations/accept/").content.decode()

        assert 'id="accept-name"' not in page
        assert "Signed in as Rita" in page

    def test_the_page_speaks_european_portuguese(self):
        page = Client().get("/family/invitations/accept/", **PORTUGUESE).content.decode()

        assert "Aceitar o convite" in page


class TestCsrf:
    def test_the_family_forms_carry_a_csrf_token(self, asked):
        family, request = asked

        for user, path in [
            (family.guardian, f"/family/requests/{request.pk}/"),
            (family.guardian, "/account/"),
            (family.student, "/checkout/package-10h/"),
        ]:
            page = _signed_in(user).get(path).content.decode()
            assert 'name="csrfmiddlewaretoken"' in page, path

    def test_the_apis_those_forms_call_refuse_a_session_without_the_csrf_token(self, asked):
        family, request = asked
        client = Client(enforce_csrf_checks=True)
        client.force_login(family.guardian)

        decline = client.post(
            f"/api/finances/purchase-requests/{request.pk}/decline/", {}, "application/json"
        )
        rules = client.put(
            f"/api/finances/family/links/{family.link.pk}/rules/",
            json.dumps({"approval_mode": "NEVER_ASK"}),
            "application/json",
        )

        assert (decline.status_code, rules.status_code) == (403, 403)
        request.refresh_from_db()
        family.link.refresh_from_db()
        assert request.status == "PENDING"
        assert family.link.approval_mode == Mode.ALWAYS_ASK
