"""Failed background jobs in the admin: listed with their error, resubmitted from there."""

import pytest
from django.test import Client
from django.urls import reverse
from django_q.models import Failure, OrmQ, Schedule
from django_q.tasks import async_task

from finances.services.schedules import schedules_sync
from tests.factories import StaffUserFactory
from tests.support.jobs import jobs_run_queued


@pytest.fixture
def staff_client() -> Client:
    client = Client()
    client.force_login(StaffUserFactory())
    return client


@pytest.mark.django_db(transaction=True)
def test_a_failed_job_shows_its_error_and_an_operator_resubmits_it(staff_client):
    async_task("tests.support.jobs.job_fail", "the SMTP server is down")
    jobs_run_queued()
    failure = Failure.objects.get()

    page = staff_client.get(reverse("admin:django_q_failure_changelist")).content.decode()
    detail = staff_client.get(reverse("admin:django_q_failure_change", args=[failure.pk]))
    response = staff_client.post(
        reverse("admin:django_q_failure_changelist"),
        {"action": "resubmit_task", "_selected_action": [failure.pk]},
    )

    assert "job_fail" in page
    assert "the SMTP server is down" in detail.content.decode()
    assert response.status_code == 302
    assert not Failure.objects.exists()
    assert OrmQ.objects.count() == 1  # back in the queue for the worker


@pytest.mark.django_db
def test_the_product_schedules_are_listed_in_the_admin(staff_client):
    schedules_sync()

    page = staff_client.get(reverse("admin:django_q_schedule_changelist")).content.decode()

    for name in Schedule.objects.values_list("name", flat=True):
        assert name in page
