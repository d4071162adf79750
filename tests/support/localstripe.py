"""What tests do to localstripe besides what the product does: pay, refund, cancel."""

import stripe

from devtools import localstripe as localstripe_control


class LocalStripe:
    def __init__(self, *, api_base: str) -> None:
        self.api_base = api_base
        self.client = stripe.StripeClient(
            "sk_test_localstripe_suite", base_addresses={"api": api_base}, max_network_retries=0
        )

    def pay(self, payment_intent_id: str, payment_method: str = "pm_card_visa"):
        """Attaches a test card and confirms, as the buyer's browser would."""
        intents = self.client.v1.payment_intents
        intents.update(payment_intent_id, params={"payment_method": payment_method})
        return intents.confirm(payment_intent_id)

    def decline(self, payment_intent_id: str):
        try:
            self.pay(payment_intent_id, payment_method="pm_card_chargeCustomerFail")
        except stripe.CardError as error:
            return error
        raise AssertionError("localstripe accepted a card that must be declined")

    def retrieve(self, payment_intent_id: str):
        return self.client.v1.payment_intents.retrieve(payment_intent_id)

    def refund(self, payment_intent_id: str, amount_cents: int | None = None):
        params = {"payment_intent": payment_intent_id}
        if amount_cents is not None:
            params["amount"] = amount_cents
        return self.client.v1.refunds.create(params=params)

    def cancel(self, payment_intent_id: str):
        return self.client.v1.payment_intents.cancel(payment_intent_id)

    def events(self, event_type: str | None = None) -> list:
        params = {"limit": 100}
        if event_type:
            params["type"] = event_type
        return list(self.client.v1.events.list(params=params).auto_paging_iter())

    def register_webhook(self, *, url: str, secret: str, events: list[str] | None = None) -> None:
        localstripe_control.register_webhook(
            api_base=self.api_base, url=url, secret=secret, events=events, registration_id="tests"
        )

    def unregister_webhook(self) -> None:
        """localstripe has no delete: an empty event list silences the registration."""
        self.register_webhook(url="http://127.0.0.1:9/", secret="whsec_off", events=[])
