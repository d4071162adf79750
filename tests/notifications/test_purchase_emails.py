"""The buyer's emails: a receipt when a purchase completes (with the claim link for a
guest), a notice when a payment fails and when a refund takes hours back; HTML and text,
in the buyer's language, once per event and recipient, enqueued with the change itself."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.core import mail
from django.db import transaction

from finances.services.payments import handle_payment_failure
from finances.services.purchase_notifications import (
    PAYMENT_FAILED,
    PURCHASE_COMPLETED,
    PURCHASE_REFUNDED,
)
from finances.stripe_payloads import payment_intent_parse
from notifications.models import Notification
from notifications.services import notification_message, notification_send
from tests.factories import (
    GuardianStudentLinkFactory,
    GuestUserFactory,
    PricingPlanFactory,
    PurchaseTransactionFactory,
    UserFactory,
)
from tests.support.payments import purchase_pay, purchase_refund
from tests.support.stripe_events import payment_intent_object

pytestmark = pytest.mark.django_db

PAID_AT = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)  # expires 45 days later: 17 April 2025


def ten_hour_purchase(student, **fields):
    plan = PricingPlanFactory(name="Pacote 10 horas", slug="pacote-10h", price_cents=14000)
    return PurchaseTransactionFactory(student=student, plan=plan, **fields)


def paid(purchase):
    with time_machine.travel(PAID_AT, tick=False):
        purchase_pay(purchase)
    return purchase


def fail(purchase, message="Your card was declined."):
    handle_payment_failure(
        payment_intent=payment_intent_parse(
            payment_intent_object(
                purchase, status="requires_payment_method", failure_message=message
            )
        )
    )


def rendered(notification):
    message = notification_message(notification=notification)
    html = message.alternatives[0][0] if message.alternatives else ""
    return message.subject, message.body, html


def the_only(kind):
    notifications = list(Notification.objects.filter(kind=kind))
    assert len(notifications) == 1, notifications
    return notifications[0]


def test_a_guests_receipt_names_plan_hours_expiry_amount_transaction_and_the_claim_link(
    settings,
):
    settings.PUBLIC_BASE_URL = "https://shop.example"
    guest = GuestUserFactory(email="ana@example.com", name="Ana Silva", language="en")
    purchase = paid(ten_hour_purchase(guest))

    receipt = the_only(PURCHASE_COMPLETED)
    subject, text, html = rendered(receipt)

    assert receipt.recipient_email == "ana@example.com"
    assert receipt.language == "en"
    assert subject == "Receipt: Pacote 10 horas, €140.00"
    for body in (text, html):
        assert "Hello Ana Silva" in body
        assert "Pacote 10 horas" in body
        assert "10 h" in body
        assert "17 April 2025" in body
        assert "€140.00" in body
        assert str(purchase.pk) in body
        assert "https://shop.example/accounts/claim/#" in body
    # The claim token is made when the message is rendered, never stored.
    assert "claim" not in str(receipt.context).replace("claim_user_id", "")


def test_the_receipt_speaks_portuguese_to_a_portuguese_buyer():
    guest = GuestUserFactory(name="Ana Silva", language="pt-pt")
    paid(ten_hour_purchase(guest))

    subject, text, html = rendered(the_only(PURCHASE_COMPLETED))

    assert subject == "Recibo: Pacote 10 horas, 140,00 €"
    for body in (text, html):
        assert "Olá Ana Silva" in body
        assert "17 de abril de 2025" in body
        assert "140,00\u00a0€" in body
        assert "palavra-passe" in body


def test_a_signed_up_buyers_receipt_links_to_their_account_and_has_no_claim_link(settings):
    settings.PUBLIC_BASE_URL = "https://shop.example"
    paid(ten_hour_purchase(UserFactory(language="en")))

    _, text, html = rendered(the_only(PURCHASE_COMPLETED))

    assert "https://shop.example/account/" in text
    assert "/accounts/claim/" not in text + html


def test_a_guardian_who_paid_gets_the_receipt_for_their_student():
    link = GuardianStudentLinkFactory()
    paid(ten_hour_purchase(link.student, purchased_by=link.guardian, guardian_link=link))

    assert the_only(PURCHASE_COMPLETED).recipient_email == link.guardian.email


def test_a_payment_reported_twice_sends_one_receipt(mailoutbox):
    purchase = paid(ten_hour_purchase(UserFactory()))
    purchase_pay(purchase)

    receipt = the_only(PURCHASE_COMPLETED)
    notification_send(notification_id=receipt.pk)
    notification_send(notification_id=receipt.pk)

    assert len(mail.outbox) == 1
    assert mail.outbox[0].alternatives[0][1] == "text/html"


def test_no_receipt_exists_when_the_completion_rolls_back():
    purchase = ten_hour_purchase(UserFactory())

    def pay_then_fail():
        with transaction.atomic():
            purchase_pay(purchase)
            assert Notification.objects.filter(kind=PURCHASE_COMPLETED).exists()
            raise RuntimeError("the webhook's transaction fails after the credit")

    with pytest.raises(RuntimeError):
        pay_then_fail()

    assert not Notification.objects.exists()


def test_a_failed_payment_is_told_once_per_purchase_with_a_link_to_try_again(settings):
    settings.PUBLIC_BASE_URL = "https://shop.example"
    purchase = ten_hour_purchase(UserFactory(name="Rui Costa", language="en"))

    fail(purchase)
    fail(purchase, message="Insufficient funds.")

    subject, text, html = rendered(the_only(PAYMENT_FAILED))
    assert subject == "Your payment for Pacote 10 horas did not go through"
    assert "nothing was charged" in text
    assert "€140.00" in text
    assert "https://shop.example/checkout/pacote-10h/" in text
    assert 'href="https://shop.example/checkout/pacote-10h/"' in html


def test_the_failure_notice_in_portuguese():
    purchase = ten_hour_purchase(UserFactory(language="pt-pt"))

    fail(purchase)

    subject, text, _ = rendered(the_only(PAYMENT_FAILED))
    assert subject == "O pagamento de Pacote 10 horas não foi concluído"
    assert "nada foi cobrado" in text


def test_a_refund_tells_the_amount_and_the_hours_taken_back_once_per_refunded_total():
    purchase = paid(ten_hour_purchase(UserFactory(language="en")))

    purchase_refund(purchase, refunded_total_cents=7000)
    purchase_refund(purchase, refunded_total_cents=7000)  # the same report again

    subject, text, html = rendered(the_only(PURCHASE_REFUNDED))
    assert subject == "Refund of €70.00 for Pacote 10 horas"
    assert "5 h were taken back" in text
    assert "€70.00 refunded in all" not in text  # the first refund: nothing to add up
    assert "<strong>5 h</strong>" in html

    purchase_refund(purchase, refunded_total_cents=14000)

    refunds = Notification.objects.filter(kind=PURCHASE_REFUNDED).order_by("pk")
    assert refunds.count() == 2
    _, second_text, _ = rendered(refunds.last())
    assert "We refunded €70.00" in second_text
    assert "5 h were taken back" in second_text


def test_the_refund_notice_in_portuguese():
    purchase = paid(ten_hour_purchase(UserFactory(language="pt-pt")))

    purchase_refund(purchase, refunded_total_cents=14000)

    subject, text, _ = rendered(the_only(PURCHASE_REFUNDED))
    assert (
        subject == "Reembolso de 140,00 € de Pacote 10 horas"
    )  # subjects are one line of plain spaces
    assert "Foram retiradas 10 h do seu saldo" in text


def test_a_buyer_without_a_language_gets_notification_language(settings):
    settings.NOTIFICATION_LANGUAGE = "pt-pt"
    paid(ten_hour_purchase(UserFactory(language="")))

    assert the_only(PURCHASE_COMPLETED).language == "pt-pt"


def test_buyer_emails_can_be_switched_off(settings):
    settings.BUYER_EMAILS_ENABLED = False
    purchase = paid(ten_hour_purchase(UserFactory()))
    purchase_refund(purchase, refunded_total_cents=14000)
    fail(PurchaseTransactionFactory())

    assert not Notification.objects.exists()


def test_a_guest_who_claimed_before_the_receipt_was_sent_gets_the_account_link_instead(
    settings,
):
    settings.PUBLIC_BASE_URL = "https://shop.example"
    guest = GuestUserFactory(language="en")
    paid(ten_hour_purchase(guest))
    guest.is_guest = False
    guest.set_password("a brand new passphrase 42")
    guest.save()

    _, text, html = rendered(the_only(PURCHASE_COMPLETED))

    assert "/accounts/claim/" not in text + html
    assert "https://shop.example/account/" in text
