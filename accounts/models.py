from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.emails import email_normalize


class UserManager(BaseUserManager):
    use_in_migrations = True

    @classmethod
    def normalize_email(cls, email):
        return email_normalize(email or "")

    def create_user(self, email: str, password: str | None = None, **fields) -> "User":
        user = self.model(email=self.normalize_email(email), **fields)
        user.set_password(password) if password else user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> "User":
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in with an email address; guests cannot log in at all."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150)
    is_guest = models.BooleanField(
        default=False, help_text="Created by a checkout without an account; no usable password."
    )
    is_teacher = models.BooleanField(default=False, help_text="May record lesson consumption.")
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    language = models.CharField(
        max_length=8,
        blank=True,
        help_text="The language of their emails (en, pt-pt): the language they last bought or "
        "signed up in; blank means NOTIFICATION_LANGUAGE.",
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(email=Lower("email")), name="user_email_is_lowercase"
            ),
            models.CheckConstraint(
                condition=~models.Q(is_guest=True, is_staff=True), name="user_guest_is_not_staff"
            ),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = email_normalize(self.email)

    def get_full_name(self) -> str:
        return self.name

    def get_short_name(self) -> str:
        return self.name.split(" ")[0] if self.name else self.email


class GuardianStudentLink(models.Model):
    """A parent or guardian who may buy for, and approve purchases of, a student.

    Ending a link keeps the row (who was linked, and when) and sets `ended_at`; an ended
    link grants nothing. A guardian and a student have at most one active link. The
    guardian sets the link's rules (docs/families.md): when the student must ask before
    buying, and an optional monthly cap on what the guardian pays for the student.
    """

    class Relationship(models.TextChoices):
        PARENT = "PARENT", "Parent"
        GUARDIAN = "GUARDIAN", "Guardian"

    class ApprovalMode(models.TextChoices):
        ALWAYS_ASK = "ALWAYS_ASK", "Always ask"
        ASK_ABOVE_AMOUNT = "ASK_ABOVE_AMOUNT", "Ask above an amount"
        NEVER_ASK = "NEVER_ASK", "Never ask"

    guardian = models.ForeignKey(User, on_delete=models.CASCADE, related_name="student_links")
    student = models.ForeignKey(User, on_delete=models.CASCADE, related_name="guardian_links")
    relationship = models.CharField(
        max_length=16, choices=Relationship.choices, default=Relationship.PARENT
    )
    created_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    approval_mode = models.CharField(
        max_length=16, choices=ApprovalMode.choices, default=ApprovalMode.ALWAYS_ASK
    )
    approval_threshold_cents = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Ask above an amount: the student buys alone up to this price (cents).",
    )
    monthly_cap_cents = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="At most this much (cents) paid by the guardian for the student per month.",
    )
    rules_updated_at = models.DateTimeField(null=True, blank=True)
    rules_updated_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["guardian", "student"],
                condition=models.Q(ended_at__isnull=True),
                name="guardian_student_active_unique",
            ),
            models.CheckConstraint(
                condition=~models.Q(guardian=models.F("student")),
                name="guardian_is_not_own_student",
            ),
            models.CheckConstraint(
                condition=models.Q(ended_at__isnull=True)
                | models.Q(ended_at__gte=models.F("created_at")),
                name="guardian_link_ends_after_it_starts",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    approval_mode__in=["ALWAYS_ASK", "ASK_ABOVE_AMOUNT", "NEVER_ASK"]
                ),
                name="guardian_link_approval_mode_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    approval_mode="ASK_ABOVE_AMOUNT", approval_threshold_cents__isnull=False
                )
                | (
                    ~models.Q(approval_mode="ASK_ABOVE_AMOUNT")
                    & models.Q(approval_threshold_cents__isnull=True)
                ),
                name="guardian_link_threshold_iff_ask_above",
            ),
            models.CheckConstraint(
                condition=models.Q(monthly_cap_cents__isnull=True)
                | models.Q(monthly_cap_cents__gt=0),
                name="guardian_link_cap_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.guardian} → {self.student}"

    @property
    def is_active(self) -> bool:
        return self.ended_at is None

    def approval_required_for(self, amount_cents: int) -> bool:
        """Whether the student must ask this guardian before buying at this price."""
        if self.approval_mode == self.ApprovalMode.NEVER_ASK:
            return False
        if self.approval_mode == self.ApprovalMode.ASK_ABOVE_AMOUNT:
            return amount_cents > (self.approval_threshold_cents or 0)
        return True


class FamilyInvitation(models.Model):
    """An invitation to link a guardian and a student, accepted once through a signed link.

    The token is a signature (SECRET_KEY) over (id, nonce); it is never stored, and the
    table alone cannot make one. It is computed again when the email is rendered.
    """

    class Direction(models.TextChoices):
        GUARDIAN_INVITES_STUDENT = "GUARDIAN_INVITES_STUDENT", "Guardian invites student"
        STUDENT_INVITES_GUARDIAN = "STUDENT_INVITES_GUARDIAN", "Student invites guardian"

    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        ACCEPTED = "ACCEPTED", "Accepted"
        REVOKED = "REVOKED", "Revoked"

    inviter = models.ForeignKey(User, on_delete=models.CASCADE, related_name="invitations_sent")
    direction = models.CharField(max_length=32, choices=Direction.choices)
    email = models.EmailField(help_text="Whom it was sent to; only this account may accept.")
    relationship = models.CharField(
        max_length=16,
        choices=GuardianStudentLink.Relationship.choices,
        default=GuardianStudentLink.Relationship.PARENT,
    )
    nonce = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    link = models.ForeignKey(
        GuardianStudentLink,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="invitations",
    )

    class Meta:
        indexes = [models.Index(fields=["inviter", "-created_at"], name="invitation_inviter_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(email=Lower("email")), name="invitation_email_is_lowercase"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["PENDING", "ACCEPTED", "REVOKED"]),
                name="invitation_status_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="ACCEPTED")
                | models.Q(accepted_at__isnull=False, accepted_by__isnull=False),
                name="invitation_accepted_has_who_and_when",
            ),
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("created_at")),
                name="invitation_expires_after_creation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.inviter} invites {self.email} ({self.status})"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()


class TeacherStudentAssignment(models.Model):
    """A teacher who may record and reverse the lessons of a student, while active.

    Ending an assignment keeps the row (who taught whom, and when) and sets `ended_at`;
    a teacher and a student have at most one active assignment.
    """

    teacher = models.ForeignKey(
        User,
        on_delete=models.PROTECT,
        related_name="student_assignments",
        limit_choices_to={"is_teacher": True},
    )
    student = models.ForeignKey(
        User,
        on_delete=models.PROTECT,
        related_name="teacher_assignments",
        limit_choices_to={"is_staff": False},
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["teacher", "student"],
                condition=models.Q(ended_at__isnull=True),
                name="teacher_student_active_unique",
            ),
            models.CheckConstraint(
                condition=~models.Q(teacher=models.F("student")),
                name="teacher_is_not_own_student",
            ),
            models.CheckConstraint(
                condition=models.Q(ended_at__isnull=True)
                | models.Q(ended_at__gte=models.F("created_at")),
                name="teacher_assignment_ends_after_it_starts",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.teacher} teaches {self.student}"

    @property
    def is_active(self) -> bool:
        return self.ended_at is None
