from decimal import Decimal

from django import forms
from django.contrib import admin

from finances.admin.display import euros, hours
from finances.models import PricingPlan


class PricingPlanForm(forms.ModelForm):
    """Operators type euros and hours; the plan stores cents and minutes."""

    price = forms.DecimalField(max_digits=10, decimal_places=2, min_value=Decimal("0.01"))
    hours = forms.DecimalField(max_digits=6, decimal_places=2, min_value=Decimal("0.01"))

    class Meta:
        model = PricingPlan
        fields = [
            "name",
            "slug",
            "description",
            "plan_type",
            "currency",
            "validity_days",
            "billing_period",
            "display_order",
            "is_featured",
            "is_active",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["price"] = Decimal(self.instance.price_cents) / 100
            self.initial["hours"] = Decimal(self.instance.minutes) / 60

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("price") is not None:
            self.instance.price_cents = int(cleaned["price"] * 100)
        if cleaned.get("hours") is not None:
            self.instance.minutes = int((cleaned["hours"] * 60).to_integral_value())
        return cleaned


@admin.register(PricingPlan)
class PricingPlanAdmin(admin.ModelAdmin):
    form = PricingPlanForm
    list_display = [
        "name",
        "plan_type",
        "hours_display",
        "price_display",
        "validity_days",
        "billing_period",
        "is_featured",
        "is_active",
        "display_order",
    ]
    list_filter = ["plan_type", "is_active", "is_featured"]
    search_fields = ["name", "slug"]
    ordering = ["display_order", "id"]
    fields = [
        "name",
        "slug",
        "description",
        "plan_type",
        "hours",
        "price",
        "currency",
        "validity_days",
        "billing_period",
        "display_order",
        "is_featured",
        "is_active",
    ]

    @admin.display(description="Hours", ordering="minutes")
    def hours_display(self, plan: PricingPlan) -> str:
        return hours(plan.minutes)

    @admin.display(description="Price", ordering="price_cents")
    def price_display(self, plan: PricingPlan) -> str:
        return euros(plan.price_cents, plan.currency)
