from django.urls import path

from accounts.api.views import TeacherAssignmentEndView, TeacherAssignmentListCreateView

app_name = "accounts"

urlpatterns = [
    path(
        "teacher-assignments/",
        TeacherAssignmentListCreateView.as_view(),
        name="teacher-assignments",
    ),
    path(
        "teacher-assignments/<int:assignment_id>/end/",
        TeacherAssignmentEndView.as_view(),
        name="teacher-assignment-end",
    ),
]
