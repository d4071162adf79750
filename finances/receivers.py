"""Signal receivers. `accounts` must not depend on `finances`, so the balance of a new
user is created from here rather than by the user service."""

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from finances.models import StudentAccountBalance


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="balance_for_new_user")
def create_balance_for_new_user(sender, instance, created: bool, raw: bool = False, **kwargs):
    if created and not raw:
        # The user was created in this very transaction: nobody can have its balance yet.
        StudentAccountBalance.objects.create(student_id=instance.pk)
