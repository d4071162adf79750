"""The subscription table's own rules."""

import pytest
from django.db import IntegrityError, transaction

from finances.models import Subscription
from tests.factories import SubscriptionPlanFactory, UserFactory
from tests.support.subscriptions import subscription_record

pytestmark = pytest.mark.django_db
Status = Subscription.Status


@pytest.mark.parametrize("open_status", ["INCOMPLETE", "ACTIVE", "PAST_DUE", "UNPAID"])
def test_a_student_cannot_have_two_open_subscriptions(open_status):
    plan = SubscriptionPlanFactory()
    student = UserFactory()
    subscription_record(plan=plan, student=student, status=open_status)

    with pytest.raises(IntegrityError), transaction.atomic():
        subscription_record(plan=plan, student=student, status=Status.INCOMPLETE)


def test_ended_subscriptions_do_not_stop_a_student_from_subscribing_again():
    plan = SubscriptionPlanFactory()
    student = UserFactory()
    subscription_record(plan=plan, student=student, status=Status.CANCELED)
    subscription_record(plan=plan, student=student, status=Status.INCOMPLETE_EXPIRED)

    subscription_record(plan=plan, student=student, status=Status.INCOMPLETE)

    assert Subscription.objects.filter(student=student).count() == 3


def test_two_students_each_have_their_own_open_subscription():
    plan = SubscriptionPlanFactory()

    subscription_record(plan=plan, status=Status.ACTIVE)
    subscription_record(plan=plan, status=Status.ACTIVE)

    assert Subscription.objects.filter(status=Status.ACTIVE).count() == 2
