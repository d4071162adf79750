"""The storefront's pages with Django's test client: what each shows, to whom, in which
language. (The payment itself is driven in a real browser in tests/browser/.)"""

import json
import re
import uuid
from datetime import UTC, datetime

import pytest
import time_machine
from django.urls import reverse

from finances.services.consumption import lesson_consumption_record
from tests.factories import (
    GuardianStudentLinkFactory,
    PricingPlanFactory,
    PurchaseTransactionFactory,
    SubscriptionPlanFactory,
    TeacherFactory,
    TeacherStudentAssignmentFactory,
    UserFactory,
)
from tests.support.payments import purchase_pay

pytestmark = pytest.mark.django_db

PORTUGUESE = {"HTTP_ACCEPT_LANGUAGE": "pt-PT"}


def _json_script(response, element_id: str) -> dict:
    match = re.search(
        rf'<script id="{element_id}" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match, f"no #{element_id} in the page"
    return json.loads(match.group(1))


@pytest.fixture
def plans():
    return {
        "small": PricingPlanFactory(
            slug="package-5h", name="5 hours", minutes=300, price_cents=7500
        ),
        "featured": PricingPlanFactory(
            slug="package-10h", name="10 hours", minutes=600, price_cents=14000, is_featured=True
        ),
        "retired": PricingPlanFactory(slug="package-old", name="Old package", is_active=False),
        "monthly": SubscriptionPlanFactory(slug="monthly-15h", name="15 hours per month"),
    }


class TestThePlansPage:
    def test_the_home_page_lists_the_active_plans_with_the_featured_one_highlighted(
        self, client, plans
    ):
        response = client.get("/")

        assert response.status_code == 200
        page = response.content.decode()
        assert "5 hours" in page
        assert "15 hours per month" in page
        assert "Old package" not in page
        featured = re.search(r'plan-card--featured" data-plan="([^"]+)"', page)
        assert featured.group(1) == "package-10h"
        assert "€140.00" in page
        assert "Valid for 45 days after payment" in page
        assert 'href="/checkout/package-10h/"' in page

    def test_the_api_documentation_moved_off_the_home_page_but_stays(self, client, plans):
        assert client.get("/api/docs/").status_code == 200

    def test_in_portuguese_prices_and_words_are_european_portuguese(self, client, plans):
        response = client.get("/", **PORTUGUESE)

        page = response.content.decode()
        assert '<html lang="pt-pt">' in page
        assert "Pacotes de horas" in page
        assert "Planos mensais" in page
        assert "140,00 €" in page
        assert "Válido durante 45 dias após o pagamento" in page

    def test_the_language_switch_is_on_every_page(self, client, plans):
        page = client.get("/").content.decode()

        assert 'action="/i18n/setlang/"' in page
        assert '<option value="pt-pt" lang="pt-pt">Português</option>' in page


class TestTheCheckoutPage:
    def test_a_guest_is_asked_for_name_and_email_and_gets_the_card_field(
        self, client, plans, settings
    ):
        settings.STRIPE_API_BASE = "http://127.0.0.1:8420"
        settings.STRIPE_PUBLISHABLE_KEY = ""

        response = client.get("/checkout/package-10h/")

        assert response.status_code == 200
        page = response.content.decode()
        assert '<label for="guest-name">Full name</label>' in page
        assert '<label for="guest-email">Email</label>' in page
        assert 'id="card-element"' in page
        assert '<script src="http://127.0.0.1:8420/js.stripe.com/v3/"></script>' in page
        assert "Pay €140.00" in page
        config = _json_script(response, "checkout-config")
        assert config["planId"] == plans["featured"].pk
        assert config["stripe"]["publishable_key"] == "pk_test_localstripe"
        assert config["urls"]["initiate"] == "/api/finances/purchase/initiate/"
        assert config["urls"]["setupIntent"] == "/api/finances/checkout/setup-intent/"

    def test_with_real_stripe_the_page_loads_stripe_js_with_the_publishable_key(
        self, client, plans, settings
    ):
        settings.STRIPE_API_BASE = "https://api.stripe.com"
        settings.STRIPE_PUBLISHABLE_KEY = "pk_test_real"

        response = client.get("/checkout/package-10h/")

        assert '<script src="https://js.stripe.com/v3/"></script>' in response.content.decode()
        assert _json_script(response, "checkout-config")["stripe"]["publishable_key"] == (
            "pk_test_real"
        )

    def test_a_signed_in_guardian_buys_for_themself_or_a_linked_student_only(self, client, plans):
        guardian = UserFactory(name="Maria Mãe")
        GuardianStudentLinkFactory(guardian=guardian, student=UserFactory(name="Tiago Filho"))
        UserFactory(name="Someone Else")
        client.force_login(guardian)

        page = client.get("/checkout/package-10h/").content.decode()

        assert 'id="guest-name"' not in page
        assert "Me (Maria Mãe)" in page
        assert "Tiago Filho" in page
        assert "Someone Else" not in page

    def test_a_monthly_plan_asks_a_guest_to_sign_in_first(self, client, plans):
        page = client.get("/checkout/monthly-15h/").content.decode()

        assert 'href="/accounts/login/?next=/checkout/monthly-15h/"' in page
        assert 'id="checkout-form"' not in page

    def test_a_signed_in_student_gets_the_subscription_form(self, client, plans):
        client.force_login(UserFactory())

        response = client.get("/checkout/monthly-15h/")

        config = _json_script(response, "checkout-config")
        assert config["subscription"] is True
        assert config["urls"]["subscriptions"] == "/api/finances/subscriptions/"
        assert "Subscribe for €119.00 a month" in response.content.decode()

    @pytest.mark.parametrize("slug", ["package-old", "no-such-plan"])
    def test_a_retired_or_unknown_plan_is_not_found(self, client, plans, slug):
        assert client.get(f"/checkout/{slug}/").status_code == 404

    def test_in_portuguese_the_form_and_its_messages_are_portuguese(self, client, plans):
        response = client.get("/checkout/package-10h/", **PORTUGUESE)

        page = response.content.decode()
        assert '<label for="guest-name">Nome completo</label>' in page
        assert "Pagar 140,00 €" in page
        messages = _json_script(response, "checkout-config")["messages"]
        assert messages["declined"].startswith("O seu cartão foi recusado")


class TestTheCompletionPage:
    def test_it_polls_the_status_endpoint_and_never_carries_a_secret(self, client, plans):
        purchase = PurchaseTransactionFactory(plan=plans["featured"], client_secret_hash="x" * 64)

        response = client.get(f"/checkout/{purchase.pk}/complete/")

        assert response.status_code == 200
        config = _json_script(response, "complete-config")
        assert config["statusUrl"] == f"/api/finances/purchase/{purchase.pk}/status/"
        assert config["transactionId"] == str(purchase.pk)
        page = response.content.decode()
        assert "secret" not in page.replace("X-Client-Secret", "")
        assert plans["featured"].name not in page  # the page itself shows nothing private

    def test_in_portuguese_it_waits_in_portuguese(self, client):
        response = client.get(f"/checkout/{uuid.uuid4()}/complete/", **PORTUGUESE)

        assert "A aguardar a confirmação do pagamento…" in response.content.decode()
        assert _json_script(response, "complete-config")["language"] == "pt-pt"


class TestTheAccountPage:
    def test_a_visitor_who_is_not_signed_in_is_sent_to_sign_in(self, client):
        response = client.get("/account/")

        assert response.status_code == 302
        assert response["Location"] == "/accounts/login/?next=/account/"

    @time_machine.travel(datetime(2026, 3, 1, 12, tzinfo=UTC), tick=False)
    def test_a_student_sees_their_hours_packages_expiry_purchases_and_lessons(self, client, plans):
        student = UserFactory(name="Ana Aluna")
        purchase_pay(PurchaseTransactionFactory(student=student, plan=plans["featured"]))
        teacher = TeacherFactory(name="Professor Paulo")
        TeacherStudentAssignmentFactory(teacher=teacher, student=student)
        lesson_consumption_record(
            actor=teacher, student_id=student.pk, minutes=90, lesson_reference="lesson-1"
        )
        client.force_login(student)

        page = client.get("/account/").content.decode()

        assert '<span class="balance-figure" data-testid="hours-now">8 h 30 min</span>' in page
        assert "8 h 30 min / 10 h" in page  # the package, with its expiry
        assert "April 15, 2026" in page or "15 April 2026" in page
        assert "Professor Paulo" in page
        assert "lesson-1" in page
        assert "€140.00" in page
        assert "Paid" in page
        assert 'id="subscriptions"' in page  # shown by account.js when the API exists

    @time_machine.travel(datetime(2026, 3, 1, 12, tzinfo=UTC), tick=False)
    def test_hours_expiring_soon_are_called_out(self, client, plans, settings):
        settings.STOREFRONT_EXPIRING_SOON_DAYS = 14
        student = UserFactory()
        soon = PricingPlanFactory(slug="short", name="Short package", validity_days=7)
        purchase_pay(PurchaseTransactionFactory(student=student, plan=soon))
        purchase_pay(PurchaseTransactionFactory(student=student, plan=plans["featured"]))
        client.force_login(student)

        page = client.get("/account/").content.decode()

        assert "Expiring within 14 days" in page
        assert "10 h of Short package expire on" in page
        assert "of 10 hours expire on" not in page

    def test_a_student_never_sees_another_students_hours_or_purchases(self, client, plans):
        other = UserFactory(name="Other Student")
        purchase_pay(PurchaseTransactionFactory(student=other, plan=plans["featured"]))
        me = UserFactory()
        client.force_login(me)

        page = client.get("/account/").content.decode()

        assert "Other Student" not in page
        assert '<span class="balance-figure" data-testid="hours-now">0 h</span>' in page
        assert "No purchases yet." in page

    def test_a_guardian_sees_their_linked_students_hours(self, client, plans):
        guardian = UserFactory()
        child = UserFactory(name="Tiago Filho")
        GuardianStudentLinkFactory(guardian=guardian, student=child)
        purchase_pay(PurchaseTransactionFactory(student=child, plan=plans["small"]))
        client.force_login(guardian)

        page = client.get("/account/").content.decode()

        assert "Hours of Tiago Filho" in page
        assert '<span class="balance-figure" data-testid="hours-now">5 h</span>' in page

    def test_in_portuguese_the_account_page_is_portuguese(self, client, plans):
        student = UserFactory()
        purchase_pay(PurchaseTransactionFactory(student=student, plan=plans["featured"]))
        client.force_login(student)

        page = client.get("/account/", **PORTUGUESE).content.decode()

        assert "As minhas horas" in page
        assert "disponíveis agora" in page
        assert "140,00 €" in page
        assert "Pago" in page

    def test_the_account_page_answers_get_only(self, client):
        client.force_login(UserFactory())

        assert client.post(reverse("storefront:account")).status_code == 405
