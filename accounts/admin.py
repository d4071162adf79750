from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.models import FamilyInvitation, GuardianStudentLink, TeacherStudentAssignment, User
from accounts.selectors import teacher_student_assignment_active_exists
from accounts.services import teacher_student_assignment_end


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["-created_at"]
    list_display = ["email", "name", "is_guest", "is_teacher", "is_staff", "created_at"]
    list_filter = ["is_guest", "is_teacher", "is_staff", "is_active"]
    search_fields = ["email", "name"]
    readonly_fields = ["created_at", "last_login"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["name", "is_guest", "is_teacher", "language"]}),
        (
            "Permissions",
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        ("Dates", {"fields": ["last_login", "created_at"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "name", "password1", "password2"]}),
    ]


class GuardianStudentLinkForm(forms.ModelForm):
    class Meta:
        model = GuardianStudentLink
        fields = ["guardian", "student", "relationship"]

    def clean(self):
        cleaned = super().clean()
        guardian, student = cleaned.get("guardian"), cleaned.get("student")
        # The conditional unique constraint is skipped by the form (no `ended_at` field).
        if (
            guardian
            and student
            and GuardianStudentLink.objects.filter(
                guardian=guardian, student=student, ended_at__isnull=True
            ).exists()
        ):
            raise forms.ValidationError("This guardian is already linked to this student.")
        return cleaned


@admin.register(GuardianStudentLink)
class GuardianStudentLinkAdmin(admin.ModelAdmin):
    """Staff link a guardian and a student (docs/families.md). A link is ended, never
    deleted: purchases and requests name it."""

    list_display = [
        "guardian",
        "student",
        "relationship",
        "approval_mode",
        "monthly_cap_cents",
        "created_at",
        "ended_at",
        "ended_by",
    ]
    list_filter = ["relationship", "approval_mode", ("ended_at", admin.EmptyFieldListFilter)]
    search_fields = ["guardian__email", "student__email"]
    list_select_related = ["guardian", "student", "ended_by"]
    raw_id_fields = ["guardian", "student"]
    form = GuardianStudentLinkForm
    actions = ["end_links"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["guardian", "student", "relationship"]
        return [
            "guardian",
            "student",
            "relationship",
            "created_at",
            "ended_at",
            "ended_by",
            "approval_mode",
            "approval_threshold_cents",
            "monthly_cap_cents",
            "rules_updated_at",
            "rules_updated_by",
        ]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="End the selected links", permissions=["change"])
    def end_links(self, request, queryset):
        from finances.services.family_links import guardian_link_end

        ids = list(queryset.filter(ended_at__isnull=True).values_list("pk", flat=True))
        for link_id in ids:
            guardian_link_end(link_id=link_id, ended_by=request.user)
        self.message_user(request, f"Ended {len(ids)} links.", messages.SUCCESS)


@admin.register(FamilyInvitation)
class FamilyInvitationAdmin(admin.ModelAdmin):
    list_display = ["inviter", "email", "direction", "status", "created_at", "expires_at"]
    list_filter = ["status", "direction"]
    search_fields = ["inviter__email", "email"]
    exclude = ["nonce"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields if field.name != "nonce"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class TeacherStudentAssignmentForm(forms.ModelForm):
    class Meta:
        model = TeacherStudentAssignment
        fields = ["teacher", "student"]

    def clean(self):
        cleaned = super().clean()
        teacher, student = cleaned.get("teacher"), cleaned.get("student")
        # The form leaves out `ended_at`, so Django skips the conditional unique
        # constraint; the active pair is checked here instead of failing as a 500.
        if (
            teacher
            and student
            and teacher_student_assignment_active_exists(
                teacher_id=teacher.pk, student_id=student.pk
            )
        ):
            raise forms.ValidationError("This teacher is already assigned to this student.")
        return cleaned


@admin.register(TeacherStudentAssignment)
class TeacherStudentAssignmentAdmin(admin.ModelAdmin):
    """Staff decide which teacher records the lessons of which student. An assignment is
    ended, never deleted: the ledger names who recorded what, and this says why they
    could."""

    list_display = ["teacher", "student", "created_at", "created_by", "ended_at", "ended_by"]
    list_filter = [("ended_at", admin.EmptyFieldListFilter)]
    search_fields = ["teacher__email", "teacher__name", "student__email", "student__name"]
    list_select_related = ["teacher", "student", "created_by", "ended_by"]
    raw_id_fields = ["teacher", "student"]
    form = TeacherStudentAssignmentForm
    actions = ["end_assignments"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["teacher", "student"]
        return ["teacher", "student", "created_at", "created_by", "ended_at", "ended_by"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description="End the selected assignments", permissions=["change"])
    def end_assignments(self, request, queryset):
        ids = list(queryset.filter(ended_at__isnull=True).values_list("pk", flat=True))
        for assignment_id in ids:
            teacher_student_assignment_end(assignment_id=assignment_id, ended_by=request.user)
        self.message_user(request, f"Ended {len(ids)} assignments.", messages.SUCCESS)
