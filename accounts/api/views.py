from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.serializers import (
    TeacherAssignmentInputSerializer,
    TeacherAssignmentListQuerySerializer,
    TeacherAssignmentSerializer,
)
from accounts.permissions import IsStaff
from accounts.selectors import teacher_student_assignment_list
from accounts.services import teacher_student_assignment_create, teacher_student_assignment_end
from core.openapi import errors


class TeacherAssignmentListCreateView(ListAPIView):
    """Which teacher may record the lessons of which student (staff only)."""

    permission_classes = [IsStaff]
    serializer_class = TeacherAssignmentSerializer

    @extend_schema(
        operation_id="teacher_assignments_list",
        summary="Teacher ↔ student assignments",
        parameters=[TeacherAssignmentListQuerySerializer],
        responses={200: TeacherAssignmentSerializer(many=True), **errors(400, 401, 403, 404)},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        query = TeacherAssignmentListQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return teacher_student_assignment_list(**query.validated_data)

    @extend_schema(
        operation_id="teacher_assignments_create",
        summary="Assign a student to a teacher",
        request=TeacherAssignmentInputSerializer,
        responses={
            201: TeacherAssignmentSerializer,
            **errors(
                400,
                401,
                403,
                415,
                http_409="The teacher is already assigned to the student (`assignment_exists`).",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = TeacherAssignmentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        assignment = teacher_student_assignment_create(
            teacher_id=serializer.validated_data["teacher_id"],
            student_id=serializer.validated_data["student_id"],
            created_by=request.user,
        )
        return Response(
            TeacherAssignmentSerializer(assignment).data, status=status.HTTP_201_CREATED
        )


class TeacherAssignmentEndView(APIView):
    """Ends an assignment: the teacher may no longer record the student's lessons.
    Ending an ended assignment changes nothing."""

    permission_classes = [IsStaff]

    @extend_schema(
        operation_id="teacher_assignments_end",
        summary="End a teacher ↔ student assignment",
        request=None,
        responses={200: TeacherAssignmentSerializer, **errors(401, 403, 404)},
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        assignment = teacher_student_assignment_end(
            assignment_id=assignment_id, ended_by=request.user
        )
        return Response(TeacherAssignmentSerializer(assignment).data)
