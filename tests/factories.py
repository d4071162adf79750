import factory
from django.contrib.auth.hashers import make_password
from factory.django import DjangoModelFactory

from accounts.models import GuardianStudentLink, TeacherStudentAssignment, User
from finances.models import PricingPlan, PurchaseTransaction, WebhookEventLog

PASSWORD = "correct horse battery staple"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"student{n}@example.com")
    name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class GuestUserFactory(UserFactory):
    is_guest = True
    # A field value, not a post-generation call: that ran after `_save` and left the
    # stored password empty instead of unusable.
    password = factory.LazyFunction(lambda: make_password(None))


class StaffUserFactory(UserFactory):
    is_staff = True
    is_superuser = True


class TeacherFactory(UserFactory):
    is_teacher = True


class GuardianStudentLinkFactory(DjangoModelFactory):
    class Meta:
        model = GuardianStudentLink

    guardian = factory.SubFactory(UserFactory)
    student = factory.SubFactory(UserFactory)


class TeacherStudentAssignmentFactory(DjangoModelFactory):
    class Meta:
        model = TeacherStudentAssignment

    teacher = factory.SubFactory(TeacherFactory)
    student = factory.SubFactory(UserFactory)


class PricingPlanFactory(DjangoModelFactory):
    """A 10-hour package for 140.00 EUR valid 45 days."""

    class Meta:
        model = PricingPlan

    slug = factory.Sequence(lambda n: f"plan-{n}")
    name = factory.Sequence(lambda n: f"Plan {n}")
    plan_type = PricingPlan.PlanType.PACKAGE
    minutes = 600
    price_cents = 14000
    currency = "EUR"
    validity_days = 45
    billing_period = None


class SubscriptionPlanFactory(PricingPlanFactory):
    """15 hours per month for 119.00 EUR."""

    plan_type = PricingPlan.PlanType.SUBSCRIPTION
    minutes = 900
    price_cents = 11900
    validity_days = None
    billing_period = PricingPlan.BillingPeriod.MONTH


class PurchaseTransactionFactory(DjangoModelFactory):
    """A PENDING purchase of its plan, with a PaymentIntent id, as initiation leaves it."""

    class Meta:
        model = PurchaseTransaction

    student = factory.SubFactory(UserFactory)
    plan = factory.SubFactory(PricingPlanFactory)
    plan_type = factory.LazyAttribute(lambda purchase: purchase.plan.plan_type)
    plan_name = factory.LazyAttribute(lambda purchase: purchase.plan.name)
    minutes = factory.LazyAttribute(lambda purchase: purchase.plan.minutes)
    amount_cents = factory.LazyAttribute(lambda purchase: purchase.plan.price_cents)
    currency = factory.LazyAttribute(lambda purchase: purchase.plan.currency)
    validity_days = factory.LazyAttribute(lambda purchase: purchase.plan.validity_days)
    billing_period = factory.LazyAttribute(lambda purchase: purchase.plan.billing_period)
    stripe_payment_intent_id = factory.Sequence(lambda n: f"pi_test_{n:08d}")
    status = PurchaseTransaction.Status.PENDING


class WebhookEventLogFactory(DjangoModelFactory):
    class Meta:
        model = WebhookEventLog

    stripe_event_id = factory.Sequence(lambda n: f"evt_factory_{n:08d}")
    event_type = "payment_intent.succeeded"
    payload = factory.LazyAttribute(
        lambda log: {"id": log.stripe_event_id, "type": log.event_type, "data": {"object": {}}}
    )
    status = WebhookEventLog.Status.PROCESSED
