"""plain_json gives exactly what a JSON round trip with DRF's encoder gives."""

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils.translation import gettext_lazy
from rest_framework import serializers
from rest_framework.utils.encoders import JSONEncoder
from rest_framework.utils.serializer_helpers import ReturnDict, ReturnList

from invoices.models import InvoiceStatus
from invoices.payloads import plain_json

OWNER: serializers.Serializer = serializers.Serializer()  # what DRF return containers point back to


def round_trip(value):
    return json.loads(json.dumps(value, cls=JSONEncoder))


@pytest.mark.parametrize(
    "value",
    [
        {"a": 1, "b": [1, 2.5, None, True, "x"], "c": {"d": ()}},
        ReturnDict(
            {
                "status": InvoiceStatus.PAID,
                "list": ReturnList([ReturnDict({"x": 1}, serializer=OWNER)], serializer=OWNER),
            },
            serializer=OWNER,
        ),
        {
            "price": Decimal("0.00100000"),
            "at": datetime(2026, 11, 21, 2, 3, 4, 500, tzinfo=UTC),
            "day": date(2026, 1, 2),
        },
        {"id": uuid.UUID(int=5), "span": timedelta(seconds=90), "label": gettext_lazy("Paid")},
        {1: "int key", False: "bool key", None: "none key", 2.5: "float key", InvoiceStatus.PENDING: "choice key"},
        [(1, 2), {"nested": [{"deep": [Decimal("1.5")]}]}],
    ],
)
def test_same_as_a_json_round_trip(value):
    assert plain_json(value) == round_trip(value)
    assert json.dumps(plain_json(value), sort_keys=True) == json.dumps(round_trip(value), sort_keys=True)


def test_gives_plain_types_and_a_copy():
    inner = {"k": [1]}
    value = ReturnDict({"inner": inner, "status": InvoiceStatus.PAID}, serializer=OWNER)
    result = plain_json(value)
    assert type(result) is dict and type(result["status"]) is str and result["inner"] is not inner
    result["inner"]["k"].append(2)
    assert inner == {"k": [1]}
