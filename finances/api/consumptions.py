from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsStaffOrTeacher
from core.openapi import errors
from finances.api.serializers import (
    LessonConsumptionInputSerializer,
    LessonConsumptionOutputSerializer,
    LessonReversalInputSerializer,
)
from finances.services.consumption import lesson_consumption_record, lesson_consumption_reverse


class LessonConsumptionView(APIView):
    """Debits a lesson from a student's hours (staff for anyone, teachers for the students
    assigned to them), soonest-expiring packages first. Recording the same lesson
    reference again returns the first record."""

    permission_classes = [IsStaffOrTeacher]

    @extend_schema(
        operation_id="consumption_record",
        summary="Record a lesson's consumption of hours",
        request=LessonConsumptionInputSerializer,
        responses={
            201: LessonConsumptionOutputSerializer,
            200: LessonConsumptionOutputSerializer,
            **errors(
                400,
                401,
                403,
                http_404="No student whose lessons you may record has this id "
                "(`student_not_found`): unknown and unassigned ids alike.",
                http_409="Not enough hours (`insufficient_hours`), or the lesson reference "
                "was recorded with other minutes (`lesson_reference_conflict`).",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = LessonConsumptionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        consumption = lesson_consumption_record(
            actor=request.user,
            student_id=serializer.validated_data["student_id"],
            minutes=serializer.validated_data["minutes"],
            lesson_reference=serializer.validated_data["lesson_reference"],
        )
        return Response(
            LessonConsumptionOutputSerializer(consumption).data,
            status=status.HTTP_201_CREATED if consumption.created else status.HTTP_200_OK,
        )


class LessonReversalView(APIView):
    """Gives a cancelled lesson's hours back (staff, and teachers for the students assigned
    to them). Idempotent."""

    permission_classes = [IsStaffOrTeacher]

    @extend_schema(
        operation_id="consumption_reverse",
        summary="Reverse a cancelled lesson's consumption",
        request=LessonReversalInputSerializer,
        responses={
            200: LessonConsumptionOutputSerializer,
            **errors(
                400,
                401,
                403,
                http_404="No student whose lessons you may record has this id "
                "(`student_not_found`), or no such lesson of theirs (`not_found`).",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = LessonReversalInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reversal = lesson_consumption_reverse(
            actor=request.user,
            student_id=serializer.validated_data["student_id"],
            lesson_reference=serializer.validated_data["lesson_reference"],
        )
        return Response(LessonConsumptionOutputSerializer(reversal).data)
