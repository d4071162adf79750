"""`{% family_invitation_url invitation_id %}`: the signed invitation link, computed when
the email is rendered so that no token is ever stored (docs/families.md)."""

from django import template

from accounts.models import FamilyInvitation

register = template.Library()


@register.simple_tag
def family_invitation_url(invitation_id) -> str:
    from finances.services.family_links import family_invitation_url as url_for

    invitation = FamilyInvitation.objects.filter(pk=invitation_id).first()
    return url_for(invitation=invitation) if invitation is not None else ""
