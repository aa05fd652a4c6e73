"""The OpenAPI schema, its Swagger UI (no CDN), and schemathesis fuzzing our own API against it.

The fuzz run fails on any 5xx, any response outside the documented statuses, content types and
schemas. It runs in autocommit (transaction=True), as requests do in production: a database error
inside a request must surface as it would there, not be masked by a test-wide transaction.
"""

import re
import time
from collections import Counter
from datetime import timedelta

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import FlakyStrategyDefinition, Unsatisfiable
from rest_framework.test import APIClient
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.services import token_create
from invoices.services import invoice_create
from stores.models import Discount, NotificationProvider, Template
from stores.services import product_create
from webhooks.services import webhook_endpoint_create

EXAMPLES_PER_OPERATION = 50  # positive cases; each operation also gets NEGATIVE_EXAMPLES invalid ones
NEGATIVE_EXAMPLES = 20
STATEFUL_SCENARIOS = 60  # per round, each up to 6 steps
STATEFUL_STEPS = 300  # rounds run until the stateful phase made this many calls
STATEFUL_ROUNDS = 8
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.mark.django_db
def test_api_root_points_to_the_docs():
    response = APIClient().get("/api/")
    assert response.status_code == 200
    assert response.json() == {
        "name": "Bitcart merchants API",
        "docs": "http://testserver/api/docs",
        "schema": "http://testserver/api/schema",
    }


@pytest.mark.django_db
def test_operation_descriptions_are_written_for_integrators():
    schema = APIClient().get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            description = operation.get("description") or ""
            assert len(description) > 40, (method, path, description)
            for internal in ("Subclasses", "owner_field", "store_field", "ORM"):
                assert internal not in description, (method, path, description)
    assert "`invoice_management`" in schema["paths"]["/api/invoices"]["get"]["description"]
    links = schema["paths"]["/api/stores"]["post"]["responses"]["201"]["links"]
    assert links["StoresRetrieve"] == {
        "operationId": "stores_retrieve",
        "parameters": {"id": "$response.body#/id"},
        "description": "The `id` of the created object, as `id` of GET /api/stores/{id}.",
    }


@pytest.mark.django_db
def test_schema_and_docs_are_served_without_third_party_assets():
    schema = APIClient().get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ("/api/invoices", "/api/invoices/{id}", "/api/invoices/order_id/{order_id}", "/api/token"):
        assert path in paths
    assert [p for p in paths if p.endswith("/")] == ["/api/"]  # the root; every other route without
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
    """Like Django's test client: requests through WSGI must not close the test's connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_setup(merchant, store, wallet, _keep_test_connection):
    """A token with every permission, and one object of each resource for the fuzzer to aim at."""
    store.allow_anonymous_invoice_creation = True
    store.save()
    webhook = webhook_endpoint_create(store=store, url="http://127.0.0.1:9/hook", description="", events=[])
    objects = {
        "stores": store.pk,
        "wallets": wallet.pk,
        "invoices": invoice_create(store=store, price="0.001").pk,
        "products": product_create(store=store, name="Hat", price="0.01").pk,
        "discounts": Discount.objects.create(
            store=store, name="Ten", percent=10, promocode="TEN", end_date=timezone.now() + timedelta(days=1)
        ).pk,
        "notifications": NotificationProvider.objects.create(store=store, name="n", url="json://127.0.0.1/x").pk,
        "templates": Template.objects.create(owner=merchant, store=store, name="t", text="hi").pk,
        "webhooks": webhook.pk,
    }
    token, secret = token_create(user=merchant, permissions=["full_control"])
    objects["token"] = token.pk
    return secret, objects


def _aim(case, objects: dict[str, str], store_id: str, wallet_id: str):
    """Point a generated case at existing objects: the handler runs instead of answering 404."""
    resource = case.path.split("/")[2]
    if case.path_parameters and "id" in case.path_parameters and resource in objects and case.method != "DELETE":
        case.path_parameters["id"] = objects[resource]
    if case.path_parameters and "store_id" in case.path_parameters:
        case.path_parameters["store_id"] = store_id
    if isinstance(case.body, dict):
        if "store_id" in case.body:
            case.body["store_id"] = store_id
        if isinstance(case.body.get("wallets"), list):
            case.body["wallets"] = [wallet_id]
    return case


def _schema():
    schema = schemathesis.openapi.from_wsgi("/api/schema?format=json", get_wsgi_application())
    # Exchange-rate routes belong to rates (tested there, with its provider stub).
    return schema.exclude(path_regex=r"^/api/(cryptos|stores/\{store_id\}/rates)")


@pytest.mark.django_db(transaction=True)
def test_schemathesis_finds_no_server_errors_or_schema_violations(fuzz_setup, merchant):
    secret, objects = fuzz_setup
    headers = {"Authorization": f"Bearer {secret}"}
    schema = _schema()
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    cases: Counter[str] = Counter()
    stateful_statuses: Counter[int] = Counter()
    started = time.monotonic()

    def call_and_check(case, label: str) -> None:
        response = case.call(headers=headers)
        statuses[response.status_code] += 1
        cases[label] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, FailureGroup) as exc:
            # Recorded, not raised: Hypothesis would replay and shrink against a database that has
            # changed meanwhile (a flaky replay), and every failure of the run is wanted anyway.
            failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {str(exc)[:800]}")

    def fuzz(strategy, examples: int, label: str) -> None:
        @given(case=strategy)
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            call_and_check(case, label)

        try:
            check()
        except Unsatisfiable:
            pass  # no invalid input exists for an operation without parameters or body

    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        label = f"{operation.method.upper()} {operation.path}"
        for mode, examples in (
            (GenerationMode.POSITIVE, EXAMPLES_PER_OPERATION),
            (GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES),
        ):
            aimed = st.tuples(operation.as_strategy(generation_mode=mode), st.booleans()).map(
                lambda pair: _aim(pair[0], objects, objects["stores"], objects["wallets"]) if pair[1] else pair[0]
            )
            fuzz(aimed, examples, label)

    # Stateful: create objects and follow the schema's links to read, change and delete them.
    class Workflow(schema.as_state_machine()):
        def setup(self):
            # A token per scenario: one that lists tokens and deletes the first revokes only its own.
            _, scenario_secret = token_create(user=merchant, permissions=["full_control"])
            self.headers = {"Authorization": f"Bearer {scenario_secret}"}

        def get_call_kwargs(self, case):
            return {"headers": self.headers}

        def step(self, input):
            if isinstance(input.case.body, dict) and "store_id" in input.case.body:
                input.case.body["store_id"] = objects["stores"]
            return super().step(input)

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            statuses[response.status_code] += 1
            stateful_statuses[response.status_code] += 1
            cases["stateful"] += 1
            try:
                case.validate_response(response, checks=CHECKS)
            except (AssertionError, FailureGroup) as exc:
                failures.append(f"stateful {case.method} {case.formatted_path}: {str(exc)[:800]}")

    # Which links are enabled depends on earlier answers, i.e. on the database, which Hypothesis
    # cannot replay: when it notices (FlakyStrategyDefinition) the round ends and the next one,
    # with the next fixed seed, goes on. Failures are recorded as they happen.
    for round_seed in range(STATEFUL_ROUNDS):
        if cases["stateful"] >= STATEFUL_STEPS:
            break
        Workflow._hypothesis_internal_use_seed = round_seed
        try:
            Workflow.run(
                settings=settings(
                    max_examples=STATEFUL_SCENARIOS,
                    stateful_step_count=6,
                    deadline=None,
                    database=None,
                    phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
            )
        except FlakyStrategyDefinition:
            continue
    elapsed = time.monotonic() - started
    print(f"schemathesis: {sum(cases.values())} cases in {elapsed:.0f} s; statuses {dict(sorted(statuses.items()))}")
    print("cases per operation:", dict(cases))
    print("stateful statuses:", dict(sorted(stateful_statuses.items())))

    assert len(operations) > 40
    assert failures == [], "\n\n".join(sorted(set(failures))[:40])
    assert not [code for code in statuses if code >= 500], statuses
    # Enough cases everywhere; operations without any input have a single distinct case.
    inputless = {
        f"{o.method.upper()} {o.path}"
        for o in operations
        if not o.query and not o.path_parameters and not o.body and not o.headers
    }
    thin = {label: n for label, n in cases.items() if label != "stateful" and n < EXAMPLES_PER_OPERATION}
    assert set(thin) <= inputless, thin
    # The run reached the handlers (successes), refused bad input without a 5xx, and followed links.
    assert sum(n for code, n in statuses.items() if code < 300) > 500, statuses
    assert sum(n for code, n in statuses.items() if 400 <= code < 500) > 500, statuses
    assert cases["stateful"] >= STATEFUL_STEPS, f"the stateful phase ended early: {dict(stateful_statuses)}"
