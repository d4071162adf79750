from django.urls import path

from storefront import views

app_name = "storefront"

urlpatterns = [
    path("", views.plans, name="plans"),
    path("checkout/<uuid:transaction_id>/complete/", views.complete, name="complete"),
    path("checkout/<slug:slug>/", views.checkout, name="checkout"),
    path("account/", views.account, name="account"),
]
