"""The browser tests' outbox reader reads back what Django's file-based backend wrote."""

from django.core.mail import EmailMultiAlternatives, get_connection

from tests.support.email_outbox import Outbox


def test_the_outbox_reads_every_message_of_a_file_with_its_decoded_subject_and_bodies(tmp_path):
    connection = get_connection(
        "django.core.mail.backends.filebased.EmailBackend", file_path=str(tmp_path)
    )
    messages = []
    for number in (1, 2):
        message = EmailMultiAlternatives(
            subject=f"Recibo n.º {number}: 10 horas",
            body=f"Olá, Ana ({number})",
            from_email="noreply@example.com",
            to=["ana@example.com"],
            connection=connection,
        )
        message.attach_alternative(f"<p>Olá, Ana ({number})</p>", "text/html")
        messages.append(message)
    connection.send_messages(messages)

    found = Outbox(tmp_path).messages()

    assert [message["Subject"] for message in found] == [
        "Recibo n.º 1: 10 horas",
        "Recibo n.º 2: 10 horas",
    ]
    assert found[1].get_body(("plain",)).get_content().strip() == "Olá, Ana (2)"
    assert "<p>Olá, Ana (2)</p>" in found[1].get_body(("html",)).get_content()


def test_waiting_for_a_message_that_is_already_there_returns_it(tmp_path):
    connection = get_connection(
        "django.core.mail.backends.filebased.EmailBackend", file_path=str(tmp_path)
    )
    EmailMultiAlternatives(
        subject="Hello", body="x", to=["rui@example.com"], connection=connection
    ).send()

    message = Outbox(tmp_path).wait_for(lambda m: m["To"] == "rui@example.com", timeout_seconds=1)

    assert message["Subject"] == "Hello"
