"""A buyer in a real browser: Chromium, the storefront's pages, Stripe.js (localstripe's
stand-in), our server and its worker, localstripe's webhooks. Nothing is mocked."""

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

GOOD_CARD = "4242424242424242"
THREE_D_SECURE_CARD = "4000002500003155"
DECLINED_CARD = "4000000000000341"
SETTLE_TIMEOUT_MS = 45_000


def _guest_email() -> str:
    return f"guest-{uuid.uuid4().hex[:10]}@example.com"


def _fill_card(page: Page, number: str) -> None:
    """localstripe's Card Element: number, month, two-digit year, CVC, postal code."""
    inputs = page.locator("#card-element input")
    for index, value in enumerate([number, "12", "34", "123", "1000"]):
        inputs.nth(index).fill(value)


def _fill_guest(page: Page, *, name: str, email: str) -> None:
    page.get_by_label("Full name").fill(name)
    page.get_by_label("Email").fill(email)


def _expect_completed_with(page: Page, hours: str) -> None:
    page.wait_for_url(re.compile(r"/checkout/[0-9a-f-]{36}/complete/$"), timeout=SETTLE_TIMEOUT_MS)
    expect(page.locator("#complete")).to_have_attribute(
        "data-state", "completed", timeout=SETTLE_TIMEOUT_MS
    )
    expect(page.locator("#complete-hours")).to_have_text(hours)


def _credits_of(server, email: str) -> list[tuple]:
    return server.query(
        "SELECT e.minutes FROM finances_hoursledgerentry e JOIN accounts_user u "
        "ON u.id = e.student_id WHERE u.email = ? AND e.entry_type = 'CREDIT'",
        (email,),
    )


def _purchases_of(server, email: str) -> list[tuple]:
    return server.query(
        "SELECT p.status FROM finances_purchasetransaction p JOIN accounts_user u "
        "ON u.id = p.student_id WHERE u.email = ? ORDER BY p.created_at",
        (email,),
    )


def test_a_guest_buys_the_10_hour_package_with_the_test_card_and_sees_10_hours(
    page, storefront_server, screenshot
):
    page.goto("/")
    featured = page.locator(".plan-card--featured")
    expect(featured).to_contain_text("10 h")
    expect(featured).to_contain_text("€140.00")
    screenshot(page, "plans-en")

    featured.get_by_role("link", name=re.compile("Buy")).click()
    expect(page).to_have_url(re.compile(r"/checkout/package-10h/$"))
    email = _guest_email()
    _fill_guest(page, name="Ana Guest", email=email)
    _fill_card(page, GOOD_CARD)
    screenshot(page, "checkout-en")
    page.get_by_role("button", name=re.compile("Pay")).click()

    _expect_completed_with(page, "10 h")
    expect(page.locator("#complete-amount")).to_have_text("€140.00")
    expect(page.locator("#complete-expiry")).not_to_be_empty()
    screenshot(page, "complete-en")
    assert _credits_of(storefront_server, email) == [(600,)]


def test_a_card_that_asks_for_3d_secure_is_authenticated_and_the_purchase_completes(
    page, storefront_server, screenshot
):
    page.goto("/checkout/package-5h/")
    email = _guest_email()
    _fill_guest(page, name="Rui Secure", email=email)
    _fill_card(page, THREE_D_SECURE_CARD)
    page.get_by_role("button", name=re.compile("Pay")).click()

    # localstripe's stand-in asks once to set the card up and once for the payment.
    authenticate = page.get_by_role("button", name="Complete authentication")
    authenticate.click()
    screenshot(page, "checkout-3d-secure")
    authenticate.click()

    _expect_completed_with(page, "5 h")
    assert _credits_of(storefront_server, email) == [(300,)]


def test_a_declined_card_is_explained_and_a_retry_with_a_good_card_credits_once(
    page, storefront_server, screenshot
):
    page.goto("/checkout/package-10h/")
    email = _guest_email()
    _fill_guest(page, name="Inês Declined", email=email)
    _fill_card(page, DECLINED_CARD)
    pay = page.get_by_role("button", name=re.compile("Pay"))
    pay.click()

    error = page.get_by_role("alert")
    expect(error).to_contain_text("Your card was declined, and no money was taken")
    expect(error).to_be_focused()
    expect(pay).to_be_enabled()
    screenshot(page, "checkout-declined")

    _fill_card(page, GOOD_CARD)
    pay.click()
    _expect_completed_with(page, "10 h")
    assert _purchases_of(storefront_server, email) == [("FAILED",), ("COMPLETED",)]
    assert _credits_of(storefront_server, email) == [(600,)]


def test_a_double_click_on_pay_starts_one_purchase(page, storefront_server):
    page.goto("/checkout/package-5h/")
    email = _guest_email()
    _fill_guest(page, name="Duarte Double", email=email)
    _fill_card(page, GOOD_CARD)
    page.get_by_role("button", name=re.compile("Pay")).dblclick()

    _expect_completed_with(page, "5 h")
    assert _purchases_of(storefront_server, email) == [("COMPLETED",)]
    assert _credits_of(storefront_server, email) == [(300,)]


def test_checkout_works_with_the_keyboard_alone(page, storefront_server, screenshot):
    page.goto("/checkout/package-5h/")
    email = _guest_email()
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "guest-name":
            break
    else:
        pytest.fail("the name field cannot be reached with Tab")
    page.keyboard.type("Teresa Teclado")
    page.keyboard.press("Tab")
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    # The card field: the stand-in moves to the next part by itself once one is complete.
    page.keyboard.type(GOOD_CARD)
    page.keyboard.type("12")
    page.keyboard.type("34")
    page.keyboard.type("123")
    page.keyboard.type("1000")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name=re.compile("Pay"))).to_be_focused()
    screenshot(page, "checkout-keyboard-focus")
    page.keyboard.press("Enter")

    _expect_completed_with(page, "5 h")
    assert _credits_of(storefront_server, email) == [(300,)]


@pytest.mark.parametrize("browser_locale", ["pt-PT"])
def test_the_pages_speak_european_portuguese(page, storefront_server, screenshot):
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "pt-pt")
    expect(page.get_by_role("heading", level=2).first).to_have_text("Pacotes de horas")
    expect(page.locator(".plan-card--featured")).to_contain_text("140,00 €")
    screenshot(page, "plans-pt")

    page.goto("/checkout/package-10h/")
    email = _guest_email()
    page.get_by_label("Nome completo").fill("Joana Portuguesa")
    page.get_by_label("Email").fill(email)
    _fill_card(page, GOOD_CARD)
    screenshot(page, "checkout-pt")
    page.get_by_role("button", name=re.compile("Pagar")).click()

    _expect_completed_with(page, "10 h")
    expect(page.locator("#complete-status")).to_have_text(
        "Pagamento recebido. As suas horas estão prontas."
    )
    expect(page.locator("#complete-amount")).to_contain_text("140,00")
    screenshot(page, "complete-pt")


def test_a_signed_in_buyer_pays_and_sees_the_hours_on_the_account_page(
    page, storefront_server, screenshot
):
    email = f"student-{uuid.uuid4().hex[:8]}@example.com"
    storefront_server.sign_in(page, email=email, name="Sofia Signed")
    page.goto("/checkout/package-20h/")
    expect(page.get_by_text("Buying for Sofia Signed")).to_be_visible()
    _fill_card(page, GOOD_CARD)
    page.get_by_role("button", name=re.compile("Pay")).click()

    _expect_completed_with(page, "20 h")
    page.get_by_role("link", name="See my hours").click()
    expect(page.get_by_test_id("hours-now")).to_have_text("20 h")
    expect(page.locator("table").first).to_contain_text("20 hours")
    subscriptions = page.locator("#subscriptions")
    expect(subscriptions).to_be_visible()
    expect(subscriptions.get_by_role("listitem")).to_have_text(["You have no subscriptions."])
    expect(page.locator("#subscriptions-error")).to_be_hidden()
    screenshot(page, "account-en")


@pytest.mark.parametrize("failed_prompt", ["card setup", "payment"])
def test_a_failed_3d_secure_check_is_explained_and_a_retry_completes_once(
    page, storefront_server, screenshot, failed_prompt
):
    page.goto("/checkout/package-5h/")
    email = _guest_email()
    _fill_guest(page, name="Paula Falha", email=email)
    _fill_card(page, THREE_D_SECURE_CARD)
    pay = page.get_by_role("button", name=re.compile("Pay"))
    pay.click()
    if failed_prompt == "payment":
        page.get_by_role("button", name="Complete authentication").click()
    page.get_by_role("button", name="Fail authentication").click()

    expect(page.get_by_role("alert")).to_contain_text("The payment was not authenticated")
    if failed_prompt == "payment":
        screenshot(page, "checkout-3d-secure-failed")

    _fill_card(page, GOOD_CARD)
    pay.click()
    _expect_completed_with(page, "5 h")
    assert _credits_of(storefront_server, email) == [(300,)]
