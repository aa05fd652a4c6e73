"""The OpenAPI schema, its Swagger UI (no CDN), and schemathesis fuzzing our own API against it."""

import re
from collections import Counter

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from accounts.services import token_create
from invoices.services import invoice_create

pytestmark = pytest.mark.django_db

EXAMPLES_PER_OPERATION = 12


def test_schema_and_docs_are_served_without_third_party_assets():
    schema = APIClient().get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ("/api/invoices", "/api/invoices/{id}", "/api/invoices/order_id/{order_id}", "/api/token"):
        assert path in paths
    assert not [p for p in paths if p.endswith("/")]
    docs = APIClient().get("/api/docs")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html
    external = re.findall(r'(?:src|href)="(https?://[^"]+)"', html)
    assert external == [], external
    assets = re.findall(r'(?:src|href)="(/static/drf_spectacular_sidecar/[^"]+)"', html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets), assets
    for asset in assets:  # served by this server (WhiteNoise), not fetched from anywhere else
        response = APIClient().get(asset)
        assert response.status_code == 200, asset
        response.close()


@pytest.fixture
def _keep_test_connection():
    """Like Django's test client: a WSGI request must not close the test's connection (and its transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_setup(merchant, store, _keep_test_connection):
    store.allow_anonymous_invoice_creation = True
    store.save()
    invoice_create(store=store, price="0.001")
    _, secret = token_create(user=merchant, permissions=["full_control"])
    return secret


def test_schemathesis_finds_no_server_errors_or_schema_violations(fuzz_setup):
    app = get_wsgi_application()
    schema = schemathesis.openapi.from_wsgi("/api/schema?format=json", app)
    # Exchange-rate routes belong to rates (tested there, with its provider stub).
    schema = schema.exclude(path_regex=r"^/api/(cryptos|stores/\{store_id\}/rates)")
    headers = {"Authorization": f"Bearer {fuzz_setup}"}
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    count = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        count += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            response = case.call(headers=headers)
            statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
            except AssertionError as exc:  # schemathesis' failures are AssertionError subclasses
                failures.append(f"{case.method} {case.formatted_path}: {str(exc)[:500]}")
                raise

        try:
            check()
        except AssertionError:
            pass  # recorded above; keep fuzzing the other operations
    assert count > 40
    assert failures == []
    # The run reached the handlers (successes), and refused bad input without a 5xx.
    assert sum(n for code, n in statuses.items() if code < 300) > 50, statuses
    assert sum(n for code, n in statuses.items() if 400 <= code < 500) > 50, statuses
    assert not [code for code in statuses if code >= 500], statuses
