"""Refunds and disputes parse in today's shape and older ones; wrong types are refused
as malformed, never a TypeError in the services."""

from datetime import UTC, datetime

import pytest

from finances.stripe_payloads import MalformedStripeObject, dispute_parse, refund_parse


def _dispute(**changes) -> dict:
    return {
        "id": "dp_1",
        "object": "dispute",
        "amount": 14000,
        "currency": "eur",
        "status": "needs_response",
        "reason": "fraudulent",
        "charge": "ch_1",
        "payment_intent": "pi_1",
        "evidence_details": {"due_by": 1715558340},
        **changes,
    }


def test_a_dispute_in_todays_shape_names_its_payment_intent_and_due_date():
    dispute = dispute_parse(_dispute())

    assert (dispute.payment_intent_id, dispute.charge_id) == ("pi_1", "ch_1")
    assert dispute.currency == "EUR"
    assert dispute.evidence_due_by == datetime(2024, 5, 12, 23, 59, tzinfo=UTC)


def test_an_older_dispute_names_only_its_charge_or_embeds_it():
    older = _dispute()
    del older["payment_intent"]
    embedded = {**older, "charge": {"id": "ch_1", "payment_intent": "pi_1"}}

    assert (dispute_parse(older).payment_intent_id, dispute_parse(older).charge_id) == (
        None,
        "ch_1",
    )
    assert (dispute_parse(embedded).payment_intent_id, dispute_parse(embedded).charge_id) == (
        "pi_1",
        "ch_1",
    )


@pytest.mark.parametrize(
    "changes",
    [{"amount": "14000"}, {"amount": -1}, {"charge": 5}, {"status": None}, {"id": ""}],
)
def test_a_dispute_with_wrong_types_is_malformed(changes):
    with pytest.raises(MalformedStripeObject):
        dispute_parse(_dispute(**changes))


def test_a_refund_finds_its_payment_intent_through_an_embedded_charge():
    refund = refund_parse(
        {
            "id": "re_1",
            "amount": 500,
            "currency": "eur",
            "status": "failed",
            "charge": {"id": "ch_1", "payment_intent": "pi_1"},
        }
    )

    assert (refund.payment_intent_id, refund.charge_id, refund.status) == ("pi_1", "ch_1", "failed")


@pytest.mark.parametrize("changes", [{"amount": None}, {"amount": True}, {"payment_intent": 1}])
def test_a_refund_with_wrong_types_is_malformed(changes):
    document = {"id": "re_1", "amount": 500, "currency": "eur", "status": "failed", **changes}
    with pytest.raises(MalformedStripeObject):
        refund_parse(document)
