"""The base of every merchant resource: ownership, scopes, Bitcart's list/count/batch conventions."""

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.idempotency import IdempotencyMixin
from accounts.permissions import request_grant
from accounts.scopes import SELECTIVE_SCOPES, Grant
from bitcart.api import list_filter, list_query_parameters
from bitcart.errors import ApplicationError, NotFound, ValidationFailed

MAX_BATCH = 1000


class BatchSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.CharField(max_length=64), max_length=MAX_BATCH)
    command = serializers.CharField(max_length=50)
    options = serializers.DictField(required=False, default=dict)


class BatchFailureSerializer(serializers.Serializer):
    id = serializers.CharField()
    code = serializers.CharField(help_text="Stable error code, e.g. transition_not_allowed or in_use.")
    detail = serializers.CharField()


class BatchResultSerializer(serializers.Serializer):
    command = serializers.CharField()
    done = serializers.ListField(child=serializers.CharField(), help_text="Ids the command was applied to.")
    failed = BatchFailureSerializer(many=True, help_text="Ids the command did not apply to, and why.")


class BatchNotFoundSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField(help_text="not_found")
    ids = serializers.ListField(child=serializers.CharField(), help_text="The ids that are not yours.")


class ApiAutoSchema(AutoSchema):
    """Operation descriptions for integrators, composed from the viewset's own docstring (what the
    resource is), what the operation does, and which token permission it needs."""

    OPERATIONS = {
        "list": "Lists your {plural}, newest first, a page at a time (`offset`, `limit`; `limit=-1` for the "
        "largest page). `sort` and `desc` order the page; `query` searches the text fields{filters}.",
        "count": "Counts your {plural} matching the same `query` as the list.",
        "create": "Creates a {singular}.",
        "retrieve": "Returns one of your {plural}.",
        "partial_update": "Changes the given fields of one of your {plural}; fields left out keep their value.",
        "destroy": "Deletes one of your {plural} and answers with it as it was.",
        "batch": 'Runs one command on several of your {plural}: `{{"ids": [...], "command": "..."}}` '
        "(commands: {commands}). If any id is unknown or not yours, nothing is done and the answer is 404 "
        "with those `ids`. Otherwise each id is tried on its own: `done` lists the ids changed, `failed` "
        "the ids the command did not apply to, each with a `code` and a reason.",
    }

    def get_description(self) -> str:  # type: ignore[override]  # drf-spectacular's, not DRF's
        view: Any = self.view
        action_name = getattr(view, "action", None) or self.method.lower()
        method = getattr(view, action_name, None)
        parts = []
        own = getattr(method, "__doc__", None)
        if own:  # the operation's own text (a function's docstring is never inherited)
            parts.append(inspect.cleandoc(own))
        elif action_name in self.OPERATIONS and getattr(view, "queryset", None) is not None:
            meta = view.queryset.model._meta
            filters = ", and takes `key:value` filters on " + ", ".join(f"`{f}`" for f in view.filter_fields)
            parts.append(
                self.OPERATIONS[action_name].format(
                    singular=meta.verbose_name,
                    plural=meta.verbose_name_plural,
                    filters=filters if view.filter_fields else "",
                    commands=", ".join(f"`{c}`" for c in view.batch_commands) or "none",
                )
            )
        resource = type(view).__doc__
        if resource:
            parts.append(inspect.cleandoc(resource))
        scope = getattr(view, "scope", None)
        if scope and action_name not in getattr(view, "public_actions", ()):  # public ones say who may call
            sentence = f"Needs a token with `{scope}` (or `full_control`)."
            if getattr(view, "store_field", None) and scope in SELECTIVE_SCOPES:
                sentence += f" A token with `{scope}:<store_id>` reaches that store's objects only."
            parts.append(sentence)
        return "\n\n".join(parts)


# Subclasses set `scope`, `owner_field` (ORM path to the owning user) and `store_field` (ORM path to
# the store id for selective `<scope>:<store_id>` grants, or None if the model has no store). Their
# class docstring is the resource's description in the API docs, written for integrators.
class ApiViewSet(IdempotencyMixin, viewsets.GenericViewSet):
    schema = ApiAutoSchema()
    scope: ClassVar[str]
    owner_field: ClassVar[str] = "store__owner"
    store_field: ClassVar[str | None] = "store_id"
    sort_fields: ClassVar[dict[str, str]] = {"created": "created"}
    filter_fields: ClassVar[dict[str, str]] = {}
    search_fields: ClassVar[tuple[str, ...]] = ()
    batch_commands: ClassVar[dict[str, str]] = {}  # command → method name taking (obj, options)
    lookup_value_regex = "[^/]+"

    def grant(self) -> Grant:
        return request_grant(self.request, self.scope)

    def owned_queryset(self) -> QuerySet:
        queryset = type(self).queryset
        queryset = queryset.all() if queryset is not None else self.get_base_queryset()
        user = self.request.user
        if not user.is_authenticated:
            return queryset.none()
        queryset = queryset.filter(**{self.owner_field: user})
        grant = self.grant()
        if not grant.all:
            if self.store_field is None or not grant.store_ids:
                return queryset.none()
            queryset = queryset.filter(**{f"{self.store_field}__in": grant.store_ids})
        return queryset

    def get_base_queryset(self) -> QuerySet:
        raise NotImplementedError

    def get_queryset(self) -> QuerySet:
        return self.owned_queryset()

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        if self.action in ("list", "count"):
            queryset = list_filter(
                queryset,
                self.request.query_params,
                sort_fields=self.sort_fields,
                filter_fields=self.filter_fields,
                search_fields=self.search_fields,
            )
        return queryset

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        serializer = self.get_serializer(page, many=True)
        return self.get_paginated_response(serializer.data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(parameters=[], responses={200: OpenApiTypes.INT})
    @action(detail=False, methods=["get"], pagination_class=None)
    def count(self, request: Request) -> Response:
        return Response(self.filter_queryset(self.get_queryset()).count())

    @extend_schema(request=BatchSerializer, responses={200: BatchResultSerializer, 404: BatchNotFoundSerializer})
    @action(detail=False, methods=["post"], pagination_class=None)
    def batch(self, request: Request) -> Response:
        data = BatchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        command = data.validated_data["command"]
        handler_name = self.batch_commands.get(command)
        if handler_name is None:
            raise ValidationFailed(
                f"Unknown command {command!r}", code="unknown_command", extra={"commands": sorted(self.batch_commands)}
            )
        handler: Callable[[Any, dict], None] = getattr(self, handler_name)
        ids = list(dict.fromkeys(data.validated_data["ids"]))  # each once, in the caller's order
        # Unknown ids and other merchants' ids look the same to the caller (no existence oracle),
        # and a batch naming any of them does nothing: the caller learns which ids were wrong.
        found = {str(obj.pk): obj for obj in self.get_queryset().filter(pk__in=ids)}
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFound(
                f"{len(missing)} of the ids are unknown or not yours; nothing was done", extra={"ids": missing}
            )
        done: list[str] = []
        failed: list[dict[str, str]] = []
        for object_id in ids:
            try:
                with transaction.atomic():  # one id's failure undoes only that id
                    handler(found[object_id], data.validated_data["options"])
            except ApplicationError as exc:
                failed.append({"id": object_id, "code": exc.code, "detail": exc.message})
            except ObjectDoesNotExist:  # deleted by another request meanwhile
                failed.append({"id": object_id, "code": "not_found", "detail": "It no longer exists"})
            else:
                done.append(object_id)
        return Response({"command": command, "done": done, "failed": failed}, status=status.HTTP_200_OK)


def list_schema(**kwargs: Any):
    """extend_schema for list views: Bitcart's sort/desc/query parameters."""
    from drf_spectacular.utils import OpenApiParameter

    params = [
        OpenApiParameter(p["name"], type=str if p["name"] != "desc" else bool, required=False)
        for p in list_query_parameters()
    ]
    return extend_schema(parameters=params, **kwargs)


def ok_schema(name: str, fields: dict) -> Any:
    return inline_serializer(name=name, fields=fields)
