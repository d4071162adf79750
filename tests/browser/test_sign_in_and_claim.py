"""Signing in, in a real browser: a guest's receipt arrives by email (the worker sends it),
its claim link sets a password on the account the checkout created, the hours are on
/account/, and from then on allauth's sign-in page lets the person back in. Also the
sign-in page in European Portuguese, driven with the keyboard alone."""

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_checkout import GOOD_CARD, _expect_completed_with, _fill_card, _fill_guest

PASSWORD = "claimed passphrase 42"
CLAIM_LINK = re.compile(r"(http://\S+/accounts/claim/#\S+)")


def _receipt_for(outbox, email: str):
    return outbox.wait_for(
        lambda message: message["To"] == email and message["Subject"].startswith("Receipt:")
    )


def _sign_in(page: Page, *, email: str, password: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign In").click()


def _sign_out(page: Page) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("navigation", name="Main")).to_contain_text("Sign in")


def test_a_guest_claims_the_account_from_the_emailed_receipt_and_signs_in_again_later(
    page, storefront_server, outbox, screenshot
):
    email = f"claim-{uuid.uuid4().hex[:10]}@example.com"
    page.goto("/checkout/package-10h/")
    _fill_guest(page, name="Clara Convidada", email=email)
    _fill_card(page, GOOD_CARD)
    page.get_by_role("button", name=re.compile("Pay")).click()
    _expect_completed_with(page, "10 h")

    receipt = _receipt_for(outbox, email)
    assert receipt["Subject"] == "Receipt: 10 hours, €140.00"
    text = receipt.get_body(("plain",)).get_content()
    claim_url = CLAIM_LINK.search(text).group(1)
    assert claim_url.startswith(f"{storefront_server.base_url}/accounts/claim/#")
    assert claim_url in receipt.get_body(("html",)).get_content()

    page.goto(claim_url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Claim your account")
    # The page moved the token from the fragment into its form and off the address bar.
    expect(page).to_have_url(f"{storefront_server.base_url}/accounts/claim/")
    page.get_by_label(re.compile(r"^New password:?$")).fill(PASSWORD)
    page.get_by_label("New password (again)").fill(PASSWORD)
    screenshot(page, "claim-en")
    page.get_by_role("button", name="Set password and sign in").click()

    expect(page).to_have_url(f"{storefront_server.base_url}/account/")
    expect(page.get_by_text(f"Signed in as Clara Convidada ({email}).")).to_be_visible()
    expect(page.get_by_test_id("hours-now")).to_have_text("10 h")

    _sign_out(page)
    page.goto("/account/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/account/$"))

    # The same link a second time is refused, and leaves the password as it was.
    page.goto(claim_url)
    page.get_by_label(re.compile(r"^New password:?$")).fill("another passphrase 43")
    page.get_by_label("New password (again)").fill("another passphrase 43")
    page.get_by_role("button", name="Set password and sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("This link has expired or was already used.")
    screenshot(page, "claim-refused")
    expect(page.get_by_role("navigation", name="Main")).to_contain_text("Sign in")

    page.goto("/accounts/login/")
    screenshot(page, "sign-in-en")
    _sign_in(page, email=email, password="another passphrase 43")
    expect(page.locator("main")).to_contain_text("password you specified are not correct")
    _sign_in(page, email=email, password=PASSWORD)
    expect(page).to_have_url(f"{storefront_server.base_url}/account/")
    expect(page.get_by_test_id("hours-now")).to_have_text("10 h")
    assert storefront_server.query(
        "SELECT is_guest FROM accounts_user WHERE email = ?", (email,)
    ) == [(0,)]


@pytest.mark.parametrize("browser_locale", ["pt-PT"])
def test_the_sign_in_page_speaks_portuguese_and_signs_in_with_the_keyboard_alone(
    page, storefront_server, screenshot
):
    email = f"teclado-{uuid.uuid4().hex[:10]}@example.com"
    storefront_server.account_create(email=email, name="Tiago Teclado", password=PASSWORD)
    page.goto("/accounts/login/?next=/account/")
    expect(page.locator("html")).to_have_attribute("lang", "pt-pt")
    expect(page.get_by_role("heading", level=1)).to_have_text("Iniciar sessão")
    expect(page.get_by_label("Palavra-passe")).to_be_visible()
    screenshot(page, "sign-in-pt")

    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "login":
            break
    else:
        pytest.fail("the email field cannot be reached with Tab")
    page.keyboard.type(email)
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "password":
            break
    else:
        pytest.fail("the password field does not follow the email field")
    page.keyboard.type(PASSWORD)
    screenshot(page, "sign-in-pt-keyboard")
    page.keyboard.press("Enter")

    expect(page).to_have_url(f"{storefront_server.base_url}/account/")
    expect(page.get_by_role("heading", level=1)).to_have_text("A minha conta")
    expect(page.get_by_text(f"({email})")).to_be_visible()
    expect(page.locator("#subscriptions")).to_contain_text("Não tem subscrições.")
    screenshot(page, "account-pt")
