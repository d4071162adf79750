"""How allauth treats our accounts: no usernames, a required name, and guests.

A guest (an account a checkout created, `is_guest=True`, no usable password) never signs
in until it is claimed: passwords fail (unusable), and wherever allauth would email a
guest a login code, a password-reset link or an "account already exists" notice, it emails
the claim link instead (accounts/claims.py). Proving the email is what claiming is.
"""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.stagekit import clear_login

from accounts.claims import claim_link_for_user
from accounts.emails import email_normalize
from accounts.languages import language_of_request
from accounts.models import User

CLAIM_MAIL = "account/email/claim_account"
LOGIN_CODE_MAIL = "account/email/login_code"


class AccountAdapter(DefaultAccountAdapter):
    def clean_email(self, email: str) -> str:
        return email_normalize(super().clean_email(email))

    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=False)
        user.name = form.cleaned_data.get("name") or user.name
        user.language = language_of_request()
        if commit:
            user.save()
        return user

    def pre_login(self, request, user, **kwargs):
        if getattr(user, "is_guest", False):
            clear_login(request)
            self.send_claim_mail(user)
            return self.respond_user_inactive(request, user)
        return super().pre_login(request, user, **kwargs)

    def send_claim_mail(self, user: User) -> None:
        link = claim_link_for_user(user=user)
        if link is None:
            return
        self.send_mail(
            CLAIM_MAIL,
            user.email,
            {"user": user, "claim_url": link.url, "max_age_hours": link.max_age_hours},
        )

    def _guest(self, email: str) -> User | None:
        return User.objects.filter(email=email_normalize(email), is_guest=True).first()

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        if template_prefix == LOGIN_CODE_MAIL and (guest := self._guest(email)) is not None:
            # A guest asking for a login code gets the claim link: no code, no sign-in.
            self.send_claim_mail(guest)
            return
        super().send_mail(template_prefix, email, context)

    def send_password_reset_mail(self, user, email, context) -> None:
        if getattr(user, "is_guest", False):
            self.send_claim_mail(user)
            return
        super().send_password_reset_mail(user, email, context)

    def send_account_already_exists_mail(self, email: str) -> None:
        # A sign-up with a guest's email never takes the account over: its owner gets the
        # claim link, and whoever signed up learns nothing.
        if (guest := self._guest(email)) is not None:
            self.send_claim_mail(guest)
            return
        super().send_account_already_exists_mail(email)
