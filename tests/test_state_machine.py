"""transition_for: the whole (status, report) table, and properties of report sequences."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from finances.models import PurchaseTransaction
from finances.state_machine import PaymentReport, transition_for

S = PurchaseTransaction.Status
R = PaymentReport
NONE = None  # no change

# Written from the spec, not from the module: forward only, FAILED is not final,
# COMPLETED/REFUNDED never move on a report, a payment for a cancelled purchase is
# credited but needs a person to look at it.
EXPECTED = {
    S.PENDING: {R.PROCESSING: S.PROCESSING, R.SUCCEEDED: S.COMPLETED, R.FAILED: S.FAILED,
                R.CANCELED: S.CANCELLED},
    S.PROCESSING: {R.PROCESSING: NONE, R.SUCCEEDED: S.COMPLETED, R.FAILED: S.FAILED,
                   R.CANCELED: S.CANCELLED},
    S.FAILED: {R.PROCESSING: S.PROCESSING, R.SUCCEEDED: S.COMPLETED, R.FAILED: S.FAILED,
               R.CANCELED: S.CANCELLED},
    S.COMPLETED: {R.PROCESSING: NONE, R.SUCCEEDED: NONE, R.FAILED: NONE, R.CANCELED: NONE},
    S.CANCELLED: {R.PROCESSING: NONE, R.SUCCEEDED: S.COMPLETED, R.FAILED: NONE,
                  R.CANCELED: NONE},
    S.REFUNDED: {R.PROCESSING: NONE, R.SUCCEEDED: NONE, R.FAILED: NONE, R.CANCELED: NONE},
}  # fmt: skip


def test_the_table_covers_every_status_and_report():
    assert set(EXPECTED) == set(S.values)
    assert all(set(row) == set(R) for row in EXPECTED.values())


@pytest.mark.parametrize(
    ("status", "report", "target"),
    [
        (status, report, target)
        for status, row in EXPECTED.items()
        for report, target in row.items()
    ],
)
def test_each_status_and_report_pair(status, report, target):
    decision = transition_for(status, report)

    assert decision.target == target
    assert decision.reason
    assert decision.needs_review is (status == S.CANCELLED and report == R.SUCCEEDED)


def _apply(status: str, reports) -> list[str]:
    """Statuses after each report, as the payment services apply them."""
    statuses = []
    for report in reports:
        status = transition_for(status, report).target or status
        statuses.append(status)
    return statuses


statuses = st.sampled_from(list(S.values))
reports = st.lists(st.sampled_from(list(R)), max_size=30)


@given(start=statuses, reports=reports)
def test_once_completed_a_purchase_stays_completed(start, reports):
    history = _apply(start, reports)

    if S.COMPLETED in history:
        first = history.index(S.COMPLETED)
        assert set(history[first:]) == {S.COMPLETED}


@given(start=statuses, reports=reports)
def test_no_report_ever_leaves_refunded_or_produces_it(start, reports):
    history = _apply(start, reports)

    if start == S.REFUNDED:
        assert set(history) <= {S.REFUNDED}
    else:
        assert S.REFUNDED not in history


@given(before=reports, after=reports)
def test_a_failure_never_blocks_a_later_success(before, after):
    history = _apply(S.PENDING, [*before, R.FAILED, *after, R.SUCCEEDED])

    assert history[-1] == S.COMPLETED


@given(start=statuses.filter(lambda status: status != S.REFUNDED), reports=reports)
def test_a_success_completes_any_purchase_that_was_not_refunded(start, reports):
    assert _apply(start, [*reports, R.SUCCEEDED])[-1] == S.COMPLETED
