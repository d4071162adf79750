from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.names import person_name_normalize


class SignupNameForm(forms.Form):
    """The extra field of allauth's sign-up form (pages and headless API alike)."""

    name = forms.CharField(
        label=_("Name"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )

    def clean_name(self) -> str:
        try:
            return person_name_normalize(self.cleaned_data["name"])
        except ValueError as error:
            raise forms.ValidationError(str(error)) from error

    def signup(self, request, user) -> None:
        """allauth calls this after saving; the adapter already stored the name."""


class ClaimAccountForm(forms.Form):
    """A guest sets the password of the account their checkout created."""

    token = forms.CharField(widget=forms.HiddenInput, max_length=500)
    password1 = forms.CharField(
        label=_("New password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label=_("New password (again)"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password1") and cleaned.get("password1") != cleaned.get("password2"):
            self.add_error("password2", _("You must type the same password each time."))
        return cleaned
