from django.db.models import QuerySet

from finances.models import PricingPlan


def pricing_plan_list_active() -> QuerySet[PricingPlan]:
    return PricingPlan.objects.filter(is_active=True).order_by("display_order", "id")
