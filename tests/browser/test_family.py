"""A family in real browsers (issue 14): the child asks, the guardian opens the emailed
link, approves and pays with a test card, and the child's account shows the hours. Also:
an invitation accepted from its emailed link, and a student's own request page, which
offers no approval. Chromium, our server and its worker, Stripe.js (localstripe's
stand-in), localstripe's webhooks: nothing is mocked."""

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

GOOD_CARD = "4242424242424242"
SETTLE_TIMEOUT_MS = 45_000


def _email(who: str) -> str:
    return f"{who}-{uuid.uuid4().hex[:10]}@example.com"


def _family(server, *, guardian_email: str, student_email: str) -> None:
    """A guardian and a student linked with the default rules (always ask)."""
    server.manage(
        "shell",
        "-c",
        "from accounts.models import User, GuardianStudentLink\n"
        f"g = User.objects.create_user(email={guardian_email!r}, name='Gabriela Guardian')\n"
        f"s = User.objects.create_user(email={student_email!r}, name='Simão Student')\n"
        "GuardianStudentLink.objects.create(guardian=g, student=s)\n",
    )


def _fill_card(page: Page, number: str) -> None:
    """localstripe's Card Element: number, month, two-digit year, CVC, postal code."""
    inputs = page.locator("#card-element input")
    for index, value in enumerate([number, "12", "34", "123", "1000"]):
        inputs.nth(index).fill(value)


def _link_in(message, pattern: str) -> str:
    body = message.get_body(("plain",)).get_content()
    match = re.search(r"https?://[^/\s]+(" + pattern + r")", body)
    assert match, body
    return match.group(1)


def _request_of(server, student_email: str) -> tuple:
    rows = server.query(
        "SELECT r.id, r.status FROM finances_purchaserequest r JOIN accounts_user u "
        "ON u.id = r.student_id WHERE u.email = ?",
        (student_email,),
    )
    assert len(rows) == 1, rows
    return str(uuid.UUID(rows[0][0])), rows[0][1]


def _credits_of(server, email: str) -> list[tuple]:
    return server.query(
        "SELECT e.minutes FROM finances_hoursledgerentry e JOIN accounts_user u "
        "ON u.id = e.student_id WHERE u.email = ? AND e.entry_type = 'CREDIT'",
        (email,),
    )


def _child_asks_for_the_10_hour_package(page: Page, server, *, student_email: str) -> None:
    server.sign_in(page, email=student_email, name="Simão Student")
    page.goto("/checkout/package-10h/")
    expect(page.locator("#pay-button")).to_have_count(0)
    page.get_by_label(re.compile("Message|Mensagem")).fill("For the exams")
    page.locator("#ask-button").click()
    page.wait_for_url(re.compile(r"/account/"))
    expect(page.locator("#family .request[data-status=PENDING]")).to_have_count(1)


def test_the_child_asks_the_guardian_approves_and_pays_and_the_child_has_10_hours(
    page, storefront_server, outbox, screenshot
):
    guardian_email, student_email = _email("guardian"), _email("student")
    _family(storefront_server, guardian_email=guardian_email, student_email=student_email)

    _child_asks_for_the_10_hour_package(page, storefront_server, student_email=student_email)
    request_id, status = _request_of(storefront_server, student_email)
    assert status == "PENDING"

    asked = outbox.wait_for(lambda m: guardian_email in m["To"])
    link = _link_in(asked, r"/family/requests/[0-9a-f-]{36}/")

    page.context.clear_cookies()
    storefront_server.sign_in(page, email=guardian_email, name="Gabriela Guardian")
    page.goto("/account/")
    screenshot(page, "account-guardian")
    expect(page.get_by_role("link", name="Approve and pay for Simão Student")).to_be_visible()

    page.goto(link)
    expect(page.locator("#request-student")).to_have_text("Simão Student")
    expect(page.locator("#request-hours")).to_have_text("10 h")
    expect(page.locator("#request-price")).to_have_text("€140.00")
    _fill_card(page, GOOD_CARD)
    screenshot(page, "family-request-en")
    page.get_by_role("button", name="Approve and pay €140.00").click()

    page.wait_for_url(re.compile(r"/checkout/[0-9a-f-]{36}/complete/$"), timeout=SETTLE_TIMEOUT_MS)
    expect(page.locator("#complete")).to_have_attribute(
        "data-state", "completed", timeout=SETTLE_TIMEOUT_MS
    )
    expect(page.locator("#complete-hours")).to_have_text("10 h")
    assert _request_of(storefront_server, student_email)[1] == "PAID"
    assert _credits_of(storefront_server, student_email) == [(600,)]
    assert _credits_of(storefront_server, guardian_email) == []

    page.context.clear_cookies()
    storefront_server.sign_in(page, email=student_email, name="Simão Student")
    page.goto("/account/")
    expect(page.locator("[data-testid=hours-now]").first).to_have_text("10 h")
    expect(page.locator(f"#family .request[data-request-id='{request_id}']")).to_have_attribute(
        "data-status", "PAID"
    )
    expect(page.locator(f"#family .request[data-request-id='{request_id}']")).to_contain_text(
        "Paid"
    )


def test_a_student_sees_their_own_request_without_any_approve_or_pay_control(
    page, storefront_server
):
    guardian_email, student_email = _email("guardian"), _email("student")
    _family(storefront_server, guardian_email=guardian_email, student_email=student_email)
    _child_asks_for_the_10_hour_package(page, storefront_server, student_email=student_email)
    request_id, _ = _request_of(storefront_server, student_email)

    page.goto(f"/family/requests/{request_id}/")

    expect(page.locator("#request-status")).to_have_text("Waiting for the guardian")
    expect(page.locator("#approve-form")).to_have_count(0)
    expect(page.locator("#decline-form")).to_have_count(0)
    expect(page.locator("#card-element")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("Approve|pay", re.I))).to_have_count(0)
    # The student may cancel it, which the page does through the API.
    page.get_by_role("button", name="Cancel my request").click()
    expect(page.locator("#request-status")).to_have_text("Cancelled")
    assert _request_of(storefront_server, student_email)[1] == "CANCELLED"


@pytest.mark.parametrize("browser_locale", ["pt-PT"])
def test_the_guardians_request_page_speaks_european_portuguese(
    page, storefront_server, outbox, screenshot
):
    guardian_email, student_email = _email("guardian"), _email("student")
    _family(storefront_server, guardian_email=guardian_email, student_email=student_email)
    _child_asks_for_the_10_hour_package(page, storefront_server, student_email=student_email)
    asked = outbox.wait_for(lambda m: guardian_email in m["To"])
    link = _link_in(asked, r"/family/requests/[0-9a-f-]{36}/")

    page.context.clear_cookies()
    storefront_server.sign_in(page, email=guardian_email, name="Gabriela Guardian")
    page.goto(link)

    expect(page.locator("html")).to_have_attribute("lang", "pt-pt")
    expect(page.locator("#request-price")).to_have_text("140,00 €")
    expect(page.get_by_role("button", name="Aprovar e pagar 140,00 €")).to_be_visible()
    screenshot(page, "family-request-pt")
    # Declining with a message, from the keyboard.
    page.get_by_label("Mensagem para o aluno (opcional)").fill("Depois dos exames")
    page.get_by_role("button", name="Recusar o pedido").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#request-status")).to_have_text("Recusado")
    assert _request_of(storefront_server, student_email)[1] == "DECLINED"


def test_an_invitation_is_accepted_from_its_emailed_link_by_someone_without_an_account(
    page, storefront_server, outbox, screenshot
):
    guardian_email, invited_email = _email("guardian"), _email("invited")
    storefront_server.sign_in(page, email=guardian_email, name="Gabriela Guardian")
    page.goto("/account/")
    page.get_by_label("Their email").fill(invited_email)
    page.get_by_role("button", name="Send the invitation").click()
    expect(page.locator("#family-status")).to_have_text("Sent.")

    invitation = outbox.wait_for(lambda m: invited_email in m["To"])
    link = _link_in(invitation, r"/family/invitations/accept/#token=\S+")
    assert "?" not in link  # the token is in the fragment, never sent to a server

    page.context.clear_cookies()
    page.goto(link)
    expect(page).to_have_url(re.compile(r"/family/invitations/accept/$"))  # hash cleared
    page.get_by_label("Full name").fill("Inês Invited")
    page.get_by_label("Password").fill("a long enough password 42")
    screenshot(page, "invitation-accept")
    page.get_by_role("button", name="Accept the invitation").click()

    expect(page.locator("#family-status")).to_have_text(
        "Done: you are now linked to Gabriela Guardian."
    )
    links = storefront_server.query(
        "SELECT g.email, s.email FROM accounts_guardianstudentlink l "
        "JOIN accounts_user g ON g.id = l.guardian_id JOIN accounts_user s ON s.id = l.student_id "
        "WHERE s.email = ? AND l.ended_at IS NULL",
        (invited_email,),
    )
    assert links == [(guardian_email, invited_email)]
    # The new account is signed in: its account page names the guardian.
    page.get_by_role("link", name="Go to my account").click()
    expect(page.locator("#family")).to_contain_text("Linked to my guardian Gabriela Guardian.")

    # The same link a second time: used, said in plain words.
    page.goto(link)
    page.get_by_role("button", name="Accept the invitation").click()
    expect(page.locator("#family-error")).to_have_text("This invitation has already been used.")


def test_a_price_changed_since_the_request_is_paid_only_after_the_guardian_confirms_it(
    page, storefront_server, outbox
):
    guardian_email, student_email = _email("guardian"), _email("student")
    _family(storefront_server, guardian_email=guardian_email, student_email=student_email)
    _child_asks_for_the_10_hour_package(page, storefront_server, student_email=student_email)
    request_id, _ = _request_of(storefront_server, student_email)
    storefront_server.manage(
        "shell",
        "-c",
        "from finances.models import PricingPlan\n"
        "PricingPlan.objects.filter(slug='package-10h').update(price_cents=15000)\n",
    )
    try:
        page.context.clear_cookies()
        storefront_server.sign_in(page, email=guardian_email, name="Gabriela Guardian")
        page.goto(f"/family/requests/{request_id}/")
        _fill_card(page, GOOD_CARD)
        page.get_by_role("button", name="Approve and pay €140.00").click()

        expect(page.locator("#reprice-text")).to_contain_text("It now costs €150.00")
        expect(page.locator("#reprice-confirm")).to_be_focused()
        page.get_by_role("button", name="Approve and pay €140.00").click()  # not confirmed yet
        expect(page).to_have_url(re.compile(r"/family/requests/"))
        page.get_by_label("I accept the new price").check()
        page.get_by_role("button", name="Approve and pay €140.00").click()

        page.wait_for_url(
            re.compile(r"/checkout/[0-9a-f-]{36}/complete/$"), timeout=SETTLE_TIMEOUT_MS
        )
        expect(page.locator("#complete")).to_have_attribute(
            "data-state", "completed", timeout=SETTLE_TIMEOUT_MS
        )
        expect(page.locator("#complete-amount")).to_have_text("€150.00")
        assert _credits_of(storefront_server, student_email) == [(600,)]
    finally:
        storefront_server.manage(
            "shell",
            "-c",
            "from finances.models import PricingPlan\n"
            "PricingPlan.objects.filter(slug='package-10h').update(price_cents=14000)\n",
        )


def test_the_guardian_edits_the_rules_and_then_the_child_pays_alone(page, storefront_server):
    guardian_email, student_email = _email("guardian"), _email("student")
    _family(storefront_server, guardian_email=guardian_email, student_email=student_email)
    storefront_server.sign_in(page, email=guardian_email, name="Gabriela Guardian")
    page.goto("/account/")

    rules = page.locator("form.link-rules")
    rules.get_by_label("Ask above an amount").check()
    rules.get_by_label("Amount (€) they may spend without asking").fill("150")
    rules.get_by_label("Monthly cap (€), empty for none").fill("300")
    with page.expect_navigation():  # saved: the page reloads with the stored rules
        rules.get_by_role("button", name="Save the rules").click()

    expect(page.locator("form.link-rules input[value=ASK_ABOVE_AMOUNT]")).to_be_checked()
    stored = storefront_server.query(
        "SELECT l.approval_mode, l.approval_threshold_cents, l.monthly_cap_cents "
        "FROM accounts_guardianstudentlink l JOIN accounts_user u ON u.id = l.student_id "
        "WHERE u.email = ?",
        (student_email,),
    )
    assert stored == [("ASK_ABOVE_AMOUNT", 15000, 30000)]

    page.context.clear_cookies()
    storefront_server.sign_in(page, email=student_email, name="Simão Student")
    page.goto("/checkout/package-10h/")
    expect(page.locator("#pay-button")).to_be_visible()
    expect(page.locator("#ask-button")).to_have_count(0)


def test_an_invitation_opened_while_signed_in_as_another_account_is_refused_in_plain_words(
    page, storefront_server, outbox
):
    guardian_email, invited_email = _email("guardian"), _email("invited")
    storefront_server.sign_in(page, email=guardian_email, name="Gabriela Guardian")
    page.goto("/account/")
    page.get_by_label("Their email").fill(invited_email)
    page.get_by_role("button", name="Send the invitation").click()
    expect(page.locator("#family-status")).to_have_text("Sent.")
    link = _link_in(
        outbox.wait_for(lambda m: invited_email in m["To"]),
        r"/family/invitations/accept/#token=\S+",
    )

    page.goto(link)  # still signed in as the guardian who sent it
    page.get_by_role("button", name="Accept the invitation").click()

    expect(page.locator("#family-error")).to_contain_text(
        "This invitation was sent to another email address."
    )
    expect(page.locator("#family-error")).to_be_focused()
    assert storefront_server.query(
        "SELECT status FROM accounts_familyinvitation WHERE email = ?", (invited_email,)
    ) == [("PENDING",)]
