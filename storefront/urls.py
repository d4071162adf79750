from django.urls import path

from storefront import family_views, views

app_name = "storefront"

urlpatterns = [
    path("", views.plans, name="plans"),
    path("checkout/<uuid:transaction_id>/complete/", views.complete, name="complete"),
    path("checkout/<slug:slug>/", views.checkout, name="checkout"),
    path("account/", views.account, name="account"),
    path(
        "family/invitations/accept/",
        family_views.invitation_accept,
        name="family-invitation-accept",
    ),
    path("family/requests/<uuid:request_id>/", family_views.request_detail, name="family-request"),
]
