import json
import re

import pytest
from django.core.management import call_command

from finances.api.urls import urlpatterns as finances_urlpatterns

ENVELOPE_REF = "#/components/schemas/ErrorEnvelope"
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def schema(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("openapi") / "schema.json"
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", "--file", path
    )
    return json.loads(path.read_text())


def finances_operations(schema: dict):
    for path, item in schema["paths"].items():
        if not path.startswith("/api/finances/"):
            continue
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def test_the_schema_is_valid_and_produces_no_warning(schema):
    # call_command raised otherwise (--validate --fail-on-warn).
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Aprende Comigo Finances API"


def test_every_finances_url_is_in_the_schema(schema):
    expected = {
        "/api/finances/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern))
        for pattern in finances_urlpatterns
    }

    assert expected <= set(schema["paths"])
    assert {
        "/api/finances/plans/",
        "/api/finances/purchase/initiate/",
        "/api/finances/purchase/{transaction_id}/status/",
        "/api/finances/transactions/",
        "/api/finances/balance/",
        "/api/finances/webhooks/stripe/",
    } <= expected


def test_the_error_envelope_component_has_the_documented_shape(schema):
    envelope = schema["components"]["schemas"]["ErrorEnvelope"]
    error_ref = envelope["properties"]["error"]["$ref"]
    error = schema["components"]["schemas"][error_ref.rsplit("/", 1)[1]]

    assert envelope["required"] == ["error"]
    assert set(error["properties"]) == {"code", "message", "fields"}
    assert set(error["required"]) == {"code", "message"}


def test_every_documented_error_response_is_the_envelope(schema):
    error_responses = 0
    for path, method, operation in finances_operations(schema):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            error_responses += 1
            content = response.get("content", {})
            assert content, f"{method.upper()} {path} {status} has no body"
            for media_type in content.values():
                assert media_type["schema"] == {"$ref": ENVELOPE_REF}, (method, path, status)

    assert error_responses >= 20


def test_the_initiate_operation_documents_its_error_statuses(schema):
    responses = schema["paths"]["/api/finances/purchase/initiate/"]["post"]["responses"]

    assert {"201", "400", "402", "415", "429", "500", "502", "503"} <= set(responses)


def test_private_endpoints_document_401(schema):
    for path in ("/api/finances/balance/", "/api/finances/transactions/"):
        assert "401" in schema["paths"][path]["get"]["responses"], path
