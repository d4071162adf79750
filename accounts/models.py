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
    """A parent or guardian who may buy for, and approve purchases of, a student."""

    class Relationship(models.TextChoices):
        PARENT = "PARENT", "Parent"
        GUARDIAN = "GUARDIAN", "Guardian"

    guardian = models.ForeignKey(User, on_delete=models.CASCADE, related_name="student_links")
    student = models.ForeignKey(User, on_delete=models.CASCADE, related_name="guardian_links")
    relationship = models.CharField(
        max_length=16, choices=Relationship.choices, default=Relationship.PARENT
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["guardian", "student"], name="guardian_student_unique"),
            models.CheckConstraint(
                condition=~models.Q(guardian=models.F("student")),
                name="guardian_is_not_own_student",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.guardian} → {self.student}"


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
