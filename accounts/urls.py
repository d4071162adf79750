from django.urls import path

from accounts.views import account_claim

urlpatterns = [
    path("claim/", account_claim, name="account_claim"),
]
