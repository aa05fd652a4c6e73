"""DRF glue shared by every app's API: one exception handler, one error shape, Bitcart's list conventions.

Errors always look like `{"detail": str, "code": str, ...}` with a stable `code`, whether a service
raised an ApplicationError or DRF refused the request itself (validation, auth, throttling).
"""

import copy
import re
from collections import OrderedDict
from typing import Any

from django.core.exceptions import FieldError
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from django.http import Http404
from rest_framework import exceptions, serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from bitcart.errors import ApplicationError

# DRF's own exceptions → our stable codes (DRF's default_code values are already stable; these rename a few).
_DRF_CODES = {
    "not_authenticated": "not_authenticated",
    "authentication_failed": "authentication_failed",
    "permission_denied": "permission_denied",
    "not_found": "not_found",
    "method_not_allowed": "method_not_allowed",
    "unsupported_media_type": "unsupported_media_type",
    "parse_error": "parse_error",
    "throttled": "rate_limited",
    "not_acceptable": "not_acceptable",
    "invalid": "validation_error",
}


class OutputSerializer(serializers.Serializer):
    """A serializer only ever read from (responses, webhook snapshots).

    DRF gives every serializer instance deep copies of the declared fields, which re-runs each
    field's __init__ (8% of an invoice-creation request, and once per invoice for nested lists).
    Fields that only turn values into output are not changed after binding, and binding sets its
    state (name, parent, source) on the copy, so a shallow copy per instance is enough.
    """

    def get_fields(self) -> dict[str, serializers.Field]:
        return {name: copy.copy(field) for name, field in self._declared_fields.items()}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return Response({"detail": exc.message, "code": exc.code, **exc.extra}, status=exc.http_status)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    if isinstance(exc, exceptions.ValidationError):
        # Field errors keep DRF's structure under "fields"; 422 like Bitcart (FastAPI) answers bad input.
        response.data = {"detail": "Invalid data", "code": "validation_error", "fields": exc.detail}
        response.status_code = 422
        return response
    detail = exc.detail
    code = getattr(detail, "code", None) or exc.default_code
    body: dict[str, Any] = {"detail": str(detail), "code": _DRF_CODES.get(str(code), str(code))}
    wait = getattr(exc, "wait", None)  # Throttled sets it
    if isinstance(exc, exceptions.Throttled) and wait is not None:
        body["retry_after"] = max(1, int(wait))
    response.data = body
    return response


class BitcartPagination(LimitOffsetPagination):
    """`?offset=&limit=` answering `{count, next, previous, result}` (Bitcart's shape).

    `limit=-1` means "everything" in Bitcart; here it means the largest page, so no request can ask
    for an unbounded result.
    """

    default_limit = 5
    max_limit = 1000

    def get_limit(self, request) -> int | None:
        raw = request.query_params.get(self.limit_query_param)
        if raw is not None and raw.strip() == "-1":
            return self.max_limit
        if raw is not None:
            try:
                value = int(raw)
            except ValueError:
                raise exceptions.ValidationError({"limit": ["A valid integer is required."]}) from None
            if value < 1:
                raise exceptions.ValidationError({"limit": ["Must be -1 or at least 1."]})
            return min(value, self.max_limit)
        return self.default_limit

    def get_offset(self, request) -> int:
        raw = request.query_params.get(self.offset_query_param)
        if raw is None:
            return 0
        try:
            value = int(raw)
        except ValueError:
            raise exceptions.ValidationError({"offset": ["A valid integer is required."]}) from None
        if value < 0:
            raise exceptions.ValidationError({"offset": ["Must be at least 0."]})
        return value

    def get_paginated_response(self, data) -> Response:
        return Response(
            OrderedDict(
                [
                    ("count", self.count),
                    ("next", self.get_next_link()),
                    ("previous", self.get_previous_link()),
                    ("result", data),
                ]
            )
        )

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["count", "result"],
            "properties": {
                "count": {"type": "integer"},
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "result": schema,
            },
        }

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            {"name": "offset", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0}},
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "description": "Page size (1-1000); -1 for the largest page.",
                "schema": {"type": "integer", "minimum": -1, "maximum": 1000},
            },
        ]


_TRUE = {"1", "true", "yes", "on"}
_FILTER_TOKEN = re.compile(r'(\w+):("[^"]*"|\S+)')


def list_filter(
    queryset: QuerySet,
    params,
    *,
    sort_fields: dict[str, str],
    filter_fields: dict[str, str],
    search_fields: tuple[str, ...],
) -> QuerySet:
    """Bitcart's list conventions: `?sort=<field>&desc=<bool>` and `?query=` with `key:value` filters.

    Only whitelisted fields can be sorted or filtered on (the map turns public names into ORM paths),
    so a query can never reach a column or a relation the caller should not see.
    """
    query = (params.get("query") or "").strip()[:500]
    if query:
        terms = []
        for match in _FILTER_TOKEN.finditer(query):
            key, value = match.group(1), match.group(2).strip('"')
            if key in filter_fields:
                queryset = queryset.filter(**{filter_fields[key]: value})
        terms = _FILTER_TOKEN.sub(" ", query).split()
        for term in terms[:10]:
            condition = Q()
            for field in search_fields:
                condition |= Q(**{f"{field}__icontains": term})
            queryset = queryset.filter(condition)
    sort = params.get("sort") or "created"
    desc = (params.get("desc") or "true").strip().lower() in _TRUE
    if sort in sort_fields:
        field = sort_fields[sort]
        try:
            queryset = queryset.order_by(f"-{field}" if desc else field, "-pk" if desc else "pk")
        except FieldError:  # a mapping mistake must not become a 500
            pass
    return queryset


def list_query_parameters() -> list[dict]:
    return [
        {"name": "sort", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 50}},
        {"name": "desc", "in": "query", "required": False, "schema": {"type": "boolean"}},
        {
            "name": "query",
            "in": "query",
            "required": False,
            "description": "Free text, with `key:value` filters.",
            "schema": {"type": "string", "maxLength": 500},
        },
    ]


# --- OpenAPI hooks (drf-spectacular) --------------------------------------------------------

ERROR_SCHEMA = {
    "type": "object",
    "required": ["detail", "code"],
    "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
    "additionalProperties": True,
}


def schema_preprocess(endpoints: list) -> list:
    """Every route is mounted with and without a trailing slash; document the Bitcart spelling only."""
    return [e for e in endpoints if not (e[0].endswith("/") and e[0] != "/api/")]


def schema_postprocess(result: dict, generator, request, public) -> dict:
    """One error schema for every operation, and the Idempotency-Key header on every POST/PATCH."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for status in ("400", "401", "403", "404", "409", "422", "429", "503"):
                responses.setdefault(status, {"description": "Error", "content": {"application/json": {"schema": ref}}})
            if method in ("post", "patch"):
                operation.setdefault("parameters", []).append(
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": "Replays the first response for 24 h; reuse with another body is a 422.",
                        "schema": {"type": "string", "maxLength": 255},
                    }
                )
    return result
