"""The monthly-plan checkout and the subscriptions section of /account/ against the
subscriptions API's contract (`POST/GET /api/finances/subscriptions/`, `…/<id>/cancel/`,
`…/<id>/resume/`), which another branch builds: until it is merged, Playwright answers
those URLs in the browser with the contract's shapes. Everything else is real (the card
setup goes to localstripe). Once the API is merged, the real monthly-plan test replaces
the first test here; the second keeps checking the page's rendering."""

import json
import re
import uuid

from playwright.sync_api import Route, expect

from tests.browser.test_checkout import GOOD_CARD, _fill_card

SUBSCRIPTIONS = re.compile(r"/api/finances/subscriptions/.*")


class SubscriptionsApi:
    """The contract's answers, and what the page sent."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict]] = []
        self.subscription = {
            "id": "sub_1",
            "plan_id": 5,
            "plan_name": "15 hours per month",
            "status": "active",
            "cancel_at_period_end": False,
            "current_period_start": "2026-12-01T00:00:00Z",
            "current_period_end": "2027-01-01T00:00:00Z",
        }

    def handle(self, route: Route) -> None:
        request = route.request
        body = json.loads(request.post_data) if request.post_data else {}
        path = request.url.split("/api/finances/subscriptions/", 1)[1]
        self.requests.append((request.method, path, body))
        if request.method == "POST" and path == "":
            route.fulfill(status=201, json={**self.subscription, "status": "active"})
        elif request.method == "POST" and path.endswith("/cancel/"):
            self.subscription["cancel_at_period_end"] = True
            route.fulfill(status=200, json=self.subscription)
        elif request.method == "POST" and path.endswith("/resume/"):
            self.subscription["cancel_at_period_end"] = False
            route.fulfill(status=200, json=self.subscription)
        else:
            route.fulfill(status=200, json=[self.subscription])


def test_a_signed_in_student_subscribes_with_a_card_to_the_contracts_endpoint(
    page, storefront_server, screenshot
):
    api = SubscriptionsApi()
    page.route(SUBSCRIPTIONS, api.handle)
    storefront_server.sign_in(
        page, email=f"monthly-{uuid.uuid4().hex[:8]}@example.com", name="Marta Mensal"
    )
    page.goto("/checkout/subscription-15h-monthly/")
    _fill_card(page, GOOD_CARD)
    screenshot(page, "checkout-monthly")
    page.get_by_role("button", name=re.compile("Subscribe")).click()

    page.wait_for_url(re.compile(r"/account/#subscriptions$"))
    created = [body for method, path, body in api.requests if (method, path) == ("POST", "")]
    assert len(created) == 1
    assert set(created[0]) == {"plan_id", "payment_method_id"}
    assert created[0]["payment_method_id"].startswith("pm_")


def test_the_account_page_lists_subscriptions_with_cancel_and_resume(
    page, storefront_server, screenshot
):
    api = SubscriptionsApi()
    page.route(SUBSCRIPTIONS, api.handle)
    page.on("dialog", lambda dialog: dialog.accept())
    storefront_server.sign_in(
        page, email=f"subscriber-{uuid.uuid4().hex[:8]}@example.com", name="Sara Subscritora"
    )
    page.goto("/account/")

    section = page.locator("#subscriptions")
    expect(section).to_be_visible()
    expect(section).to_contain_text("15 hours per month")
    expect(section).to_contain_text("Active")
    expect(section).to_contain_text("January 1, 2027")
    screenshot(page, "account-subscriptions")
    section.get_by_role("button", name="Cancel at the end of the period").click()

    expect(section).to_contain_text("Ends at the end of this period")
    section.get_by_role("button", name="Resume").click()
    expect(section.get_by_role("button", name="Cancel at the end of the period")).to_be_visible()
    assert [(method, path) for method, path, _ in api.requests if method == "POST"] == [
        ("POST", "sub_1/cancel/"),
        ("POST", "sub_1/resume/"),
    ]
