from rest_framework import serializers

from accounts.models import TeacherStudentAssignment, User


class AssignedUserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "name", "email"]


class TeacherAssignmentSerializer(serializers.ModelSerializer):
    teacher = AssignedUserSerializer()
    student = AssignedUserSerializer()
    created_by_id = serializers.IntegerField(allow_null=True)
    ended_by_id = serializers.IntegerField(allow_null=True)
    is_active = serializers.BooleanField()

    class Meta:
        model = TeacherStudentAssignment
        fields = [
            "id",
            "teacher",
            "student",
            "is_active",
            "created_at",
            "created_by_id",
            "ended_at",
            "ended_by_id",
        ]


class TeacherAssignmentInputSerializer(serializers.Serializer):
    teacher_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    student_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)


class TeacherAssignmentListQuerySerializer(serializers.Serializer):
    teacher_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False)
    student_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False)
    active = serializers.BooleanField(required=False, allow_null=True, default=None)
