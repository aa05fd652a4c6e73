"""DRF glue shared by every app's API: one exception handler, one error shape, Bitcart's list conventions.

Errors always look like `{"detail": str, "code": str, ...}` with a stable `code`, whether a service
raised an ApplicationError or DRF refused the request itself (validation, auth, throttling).
"""

import copy
import re
from collections import OrderedDict
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldError
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError, models
from django.db.models import Q, QuerySet
from django.http import Http404
from rest_framework import exceptions, serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from bitcart import errors
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


# The one place where a domain error becomes an HTTP status: first by code (for the few codes that
# answer differently from their class), then by the nearest class in the error's MRO, else 400.
HTTP_STATUS_BY_CODE: dict[str, int] = {
    # No trustworthy exchange rate now: Bitcart answers pricing it refuses with 422, and clients
    # (store plugins) expect that rather than a 503 they would retry.
    "rate_unavailable": 422,
}
HTTP_STATUS_BY_CLASS: dict[type[ApplicationError], int] = {
    errors.ValidationFailed: 422,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.AuthenticationFailed: 401,
    errors.PermissionDenied: 403,
    errors.ServiceUnavailable: 503,
}


def http_status(exc: ApplicationError) -> int:
    if exc.code in HTTP_STATUS_BY_CODE:
        return HTTP_STATUS_BY_CODE[exc.code]
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS_BY_CLASS:
            return HTTP_STATUS_BY_CLASS[cls]
    return 400


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, IntegrityError):
        translated = integrity_error_to_application_error(exc)
        if translated is None:
            return None  # not the client's doing (a NOT NULL slip is a bug): a 500 and a logged trace
        exc = translated
    elif isinstance(exc, DataError):
        # SQLSTATE class 22: a value the column cannot hold (a NUL character in text or JSON, a
        # number out of range) that got past validation; the request is at fault, not the server.
        exc = errors.ValidationFailed(
            "A value cannot be stored (invalid characters, or out of range)", code="invalid_value"
        )
    if isinstance(exc, ApplicationError):
        set_rollback()
        return Response({"detail": exc.message, "code": exc.code, **exc.extra}, status=http_status(exc))
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


# --- database constraints reached by a client -----------------------------------------------
# Services check what they can before writing, but two requests can race past any check: the
# database's constraint decides, and its IntegrityError is the client's conflict, not a crash.

_UNIQUE_VIOLATION, _FOREIGN_KEY_VIOLATION, _CHECK_VIOLATION = "23505", "23503", "23514"
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (?P<columns>[\w., ]+)")
_SQLITE_CHECK = re.compile(r"CHECK constraint failed: (?P<name>\w+)")


def _unique_rules() -> dict[str, tuple[type[models.Model], tuple[str, ...]]]:
    """Constraint name → (model, field names), for UniqueConstraints and unique=True columns."""
    rules: dict[str, tuple[type[models.Model], tuple[str, ...]]] = {}
    for model in apps.get_models():
        for constraint in model._meta.constraints:
            if isinstance(constraint, models.UniqueConstraint) and constraint.fields:
                rules[constraint.name] = (model, tuple(constraint.fields))
        for field in model._meta.concrete_fields:
            if field.unique and not field.primary_key:
                # PostgreSQL's default name for a UNIQUE column constraint.
                rules[f"{model._meta.db_table}_{field.column}_key"] = (model, (field.name,))
    return rules


def _unique_rule_by_columns(columns: str) -> tuple[type[models.Model], tuple[str, ...]] | None:
    wanted = [c.strip() for c in columns.split(",")]
    for model, fields in _unique_rules().values():
        table = model._meta.db_table
        names = [f"{table}.{model._meta.get_field(f).column}" for f in fields]  # type: ignore[union-attr]
        if names == wanted:
            return model, fields
    return None


def _already_exists(model: type[models.Model], fields: tuple[str, ...]) -> errors.AlreadyExists:
    # Owner and parent links are the scope of the rule, not what the client can change.
    shown = [f for f in fields if not model._meta.get_field(f).is_relation] or list(fields)
    noun = str(model._meta.verbose_name)
    message = f"A {noun} with this {' and '.join(shown)} already exists"
    return errors.AlreadyExists(message, extra={"fields": {name: [message] for name in shown}})


def integrity_error_to_application_error(exc: IntegrityError) -> ApplicationError | None:
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate is not None:  # PostgreSQL (psycopg)
        constraint = getattr(getattr(cause, "diag", None), "constraint_name", None) or ""
        if sqlstate == _UNIQUE_VIOLATION:
            rule = _unique_rules().get(constraint)
            if rule is not None:
                return _already_exists(*rule)
            return errors.AlreadyExists("An object with these values already exists")
        if sqlstate == _CHECK_VIOLATION:
            return errors.ValidationFailed(f"The values break the rule {constraint!r}", code="constraint_violated")
        if sqlstate == _FOREIGN_KEY_VIOLATION:
            return errors.Conflict("An object this refers to was deleted meanwhile", code="reference_gone")
        return None
    message = str(exc)  # SQLite
    if match := _SQLITE_UNIQUE.search(message):
        rule = _unique_rule_by_columns(match.group("columns"))
        if rule is not None:
            return _already_exists(*rule)
        return errors.AlreadyExists("An object with these values already exists")
    if match := _SQLITE_CHECK.search(message):
        return errors.ValidationFailed(f"The values break the rule {match.group('name')!r}", code="constraint_violated")
    if "FOREIGN KEY constraint failed" in message:
        return errors.Conflict("An object this refers to was deleted meanwhile", code="reference_gone")
    return None


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


def _add_links(paths: dict) -> None:
    """OpenAPI links from what a POST creates (its `id`) to the operations on that object, so that
    clients and stateful fuzzers know that `POST /api/stores` → `GET|PATCH|DELETE /api/stores/{id}`."""
    for path, path_item in paths.items():
        create = path_item.get("post")
        if "{" in path or not isinstance(create, dict):
            continue
        created = create["responses"].get("201") or create["responses"].get("200")
        if created is None:
            continue
        links: dict[str, dict] = {}
        for target_path, target_item in paths.items():
            rest = target_path.removeprefix(f"{path}/{{id}}")
            if target_path == rest or "{" in rest:
                continue
            for method, operation in target_item.items():
                if isinstance(operation, dict) and "operationId" in operation:
                    name = "".join(part.title() for part in operation["operationId"].split("_"))
                    links[name] = {
                        "operationId": operation["operationId"],
                        "parameters": {"id": "$response.body#/id"},
                        "description": f"The `id` of the created object, as `id` of {method.upper()} {target_path}.",
                    }
        if links:
            created["links"] = links


def schema_postprocess(result: dict, generator, request, public) -> dict:
    """One error schema for every operation, the Idempotency-Key header on every POST/PATCH, and
    links from each create to the operations on what it created."""
    _add_links(result.get("paths", {}))
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path, path_item in result.get("paths", {}).items():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            # 406: an Accept header asking for anything but JSON. 405: an id that is the name of a
            # sibling route (DELETE /api/stores/count).
            statuses = ("400", "401", "403", "404", "406", "409", "422", "429", "503")
            for status in statuses + (("405",) if "{" in path else ()):
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
