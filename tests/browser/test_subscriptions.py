"""Monthly plans in a real browser: the card step through Stripe.js (localstripe's
stand-in), the real `POST /api/finances/subscriptions/`, the first invoice charged and
granted, localstripe's webhooks to our server, and cancel/resume from /account/."""

import re
import uuid

import requests
from playwright.sync_api import Page, expect

from tests.browser.test_checkout import DECLINED_CARD, GOOD_CARD, THREE_D_SECURE_CARD, _fill_card

MONTHLY = "/checkout/subscription-15h-monthly/"
SETTLE_TIMEOUT_MS = 45_000


def _student_email() -> str:
    return f"monthly-{uuid.uuid4().hex[:10]}@example.com"


def _subscriptions_of(server, email: str) -> list[tuple]:
    return server.query(
        "SELECT s.status, s.cancel_at_period_end, s.stripe_subscription_id, "
        "(SELECT COUNT(*) FROM finances_subscriptionperiod p WHERE p.subscription_id = s.id) "
        "FROM finances_subscription s JOIN accounts_user u ON u.id = s.student_id "
        "WHERE u.email = ? ORDER BY s.created_at",
        (email,),
    )


def _credits_of(server, email: str) -> list[tuple]:
    return server.query(
        "SELECT e.minutes FROM finances_hoursledgerentry e JOIN accounts_user u "
        "ON u.id = e.student_id WHERE u.email = ? AND e.entry_type = 'CREDIT'",
        (email,),
    )


def _at_stripe(server, stripe_subscription_id: str) -> dict:
    response = requests.get(
        f"{server.localstripe_api_base}/v1/subscriptions/{stripe_subscription_id}",
        auth=("sk_test_browser", ""),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def _subscribe(page: Page) -> None:
    page.get_by_role("button", name=re.compile("Subscribe")).click()


def _expect_account_with_active_subscription(page: Page):
    page.wait_for_url(re.compile(r"/account/#subscriptions$"), timeout=SETTLE_TIMEOUT_MS)
    section = page.locator("#subscriptions")
    subscription = section.locator(".subscription")
    expect(subscription).to_have_count(1)
    expect(subscription).to_have_attribute("data-status", "active")
    expect(subscription.locator("h3")).to_have_text("15 hours per month")
    expect(subscription.locator(".subscription-status")).to_have_text("Active")
    expect(subscription.locator(".subscription-hours")).to_have_text("15 h of lessons each month")
    expect(page.get_by_test_id("hours-now")).to_have_text("15 h")
    return subscription


def test_a_signed_in_student_subscribes_with_the_test_card_and_sees_it_active_with_15_hours(
    page, storefront_server, screenshot
):
    email = _student_email()
    storefront_server.sign_in(page, email=email, name="Marta Mensal")
    page.goto(MONTHLY)
    expect(page.get_by_text("Buying for Marta Mensal")).to_be_visible()
    expect(page.locator("#summary-price")).to_have_text("€119.00 / month")
    _fill_card(page, GOOD_CARD)
    screenshot(page, "checkout-monthly")
    _subscribe(page)

    _expect_account_with_active_subscription(page)
    screenshot(page, "account-subscription")
    [(status, cancelling, stripe_id, periods)] = _subscriptions_of(storefront_server, email)
    assert (status, cancelling, periods) == ("ACTIVE", 0, 1)
    assert _credits_of(storefront_server, email) == [(900,)]
    assert _at_stripe(storefront_server, stripe_id)["status"] == "active"


def test_the_student_cancels_at_the_period_end_from_the_account_page_then_resumes(
    page, storefront_server, screenshot
):
    email = _student_email()
    storefront_server.sign_in(page, email=email, name="Sara Subscritora")
    page.goto(MONTHLY)
    _fill_card(page, GOOD_CARD)
    _subscribe(page)
    subscription = _expect_account_with_active_subscription(page)
    [(_, _, stripe_id, _)] = _subscriptions_of(storefront_server, email)
    confirmations = []
    page.on("dialog", lambda dialog: (confirmations.append(dialog.message), dialog.accept()))

    subscription.get_by_role("button", name="Cancel at the end of the period").click()
    expect(subscription.locator(".subscription-status")).to_have_text(
        "Active · Ends at the end of this period"
    )
    resume = subscription.get_by_role("button", name="Resume")
    expect(resume).to_be_focused()
    screenshot(page, "account-subscription-cancelling")
    assert confirmations == ["Cancel this subscription at the end of the current period?"]
    assert _subscriptions_of(storefront_server, email) == [("ACTIVE", 1, stripe_id, 1)]
    assert _at_stripe(storefront_server, stripe_id)["cancel_at_period_end"] is True

    resume.click()
    expect(subscription.locator(".subscription-status")).to_have_text("Active")
    cancel = subscription.get_by_role("button", name="Cancel at the end of the period")
    expect(cancel).to_be_focused()
    assert _subscriptions_of(storefront_server, email) == [("ACTIVE", 0, stripe_id, 1)]
    assert _at_stripe(storefront_server, stripe_id)["cancel_at_period_end"] is False

    # Changing one's mind again is a new request, not the first cancel replayed.
    cancel.click()
    expect(subscription.get_by_role("button", name="Resume")).to_be_visible()
    assert _subscriptions_of(storefront_server, email) == [("ACTIVE", 1, stripe_id, 1)]
    assert _at_stripe(storefront_server, stripe_id)["cancel_at_period_end"] is True
    # The hours paid for stay.
    page.reload()
    expect(page.get_by_test_id("hours-now")).to_have_text("15 h")


def test_a_monthly_plan_with_a_3d_secure_card_is_authenticated_then_active(page, storefront_server):
    email = _student_email()
    storefront_server.sign_in(page, email=email, name="Rui Seguro")
    page.goto(MONTHLY)
    _fill_card(page, THREE_D_SECURE_CARD)
    _subscribe(page)

    # The stand-in asks once to set the card up and once for the first invoice's payment;
    # the invoice's webhook then grants the period.
    authenticate = page.get_by_role("button", name="Complete authentication")
    authenticate.click()
    authenticate.click()

    _expect_account_with_active_subscription(page)
    [(status, _, _, periods)] = _subscriptions_of(storefront_server, email)
    assert (status, periods) == ("ACTIVE", 1)
    assert _credits_of(storefront_server, email) == [(900,)]


def test_a_declined_card_for_a_monthly_plan_is_explained_and_a_retry_subscribes_once(
    page, storefront_server
):
    email = _student_email()
    storefront_server.sign_in(page, email=email, name="Inês Recusada")
    page.goto(MONTHLY)
    _fill_card(page, DECLINED_CARD)
    _subscribe(page)

    error = page.get_by_role("alert")
    expect(error).to_contain_text("Your card was declined, and no money was taken")
    expect(error).to_be_focused()

    _fill_card(page, GOOD_CARD)
    _subscribe(page)
    _expect_account_with_active_subscription(page)
    # The declined attempt ended at once (nothing paid) and is not listed to the buyer.
    statuses = [row[0] for row in _subscriptions_of(storefront_server, email)]
    assert statuses == ["INCOMPLETE_EXPIRED", "ACTIVE"]
    assert _credits_of(storefront_server, email) == [(900,)]


def test_a_guest_is_asked_to_sign_in_for_a_monthly_plan_and_comes_back_to_subscribe(
    page, storefront_server, screenshot
):
    email = _student_email()
    storefront_server.account_create(email=email, name="Gil Convidado", password="monthly pass 42")
    page.goto(MONTHLY)
    expect(page.get_by_text("A monthly plan belongs to an account.")).to_be_visible()
    expect(page.locator("#checkout-form")).to_have_count(0)
    expect(page.locator("#card-element")).to_have_count(0)
    screenshot(page, "checkout-monthly-guest")

    page.get_by_role("link", name="Sign in to subscribe").click()
    expect(page).to_have_url(
        re.compile(r"/accounts/login/\?next=/checkout/subscription-15h-monthly/$")
    )
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("monthly pass 42")
    page.get_by_role("button", name="Sign In").click()

    expect(page).to_have_url(re.compile(re.escape(MONTHLY) + "$"))
    expect(page.get_by_text("Buying for Gil Convidado")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Subscribe"))).to_be_enabled()


def test_when_the_subscriptions_api_fails_the_account_page_says_so_instead_of_an_empty_list(
    page, storefront_server
):
    # The one answer a real server cannot be made to give on demand: a 500 for the list.
    page.route(
        re.compile(r"/api/finances/subscriptions/$"),
        lambda route: route.fulfill(
            status=500, json={"error": {"code": "server_error", "message": "Server error."}}
        ),
    )
    storefront_server.sign_in(page, email=_student_email(), name="Paulo Problema")
    page.goto("/account/")

    section = page.locator("#subscriptions")
    expect(section.get_by_role("alert")).to_have_text(
        "Your subscriptions cannot be shown right now. Reload the page."
    )
    expect(section.get_by_role("listitem")).to_have_count(0)
