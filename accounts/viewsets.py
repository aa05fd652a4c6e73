"""The base of every merchant resource: ownership, scopes, Bitcart's list/count/batch conventions."""

from collections.abc import Callable
from typing import Any, ClassVar

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.idempotency import IdempotencyMixin
from accounts.permissions import request_grant
from accounts.scopes import Grant
from bitcart.api import list_filter, list_query_parameters
from bitcart.errors import ValidationFailed

MAX_BATCH = 1000


class BatchSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.CharField(max_length=64), max_length=MAX_BATCH)
    command = serializers.CharField(max_length=50)
    options = serializers.DictField(required=False, default=dict)


class ApiViewSet(IdempotencyMixin, viewsets.GenericViewSet):
    """Subclasses set `scope`, `owner_field` (ORM path to the owning user) and `store_field` (ORM path
    to the store id for selective `<scope>:<store_id>` grants, or None if the model has no store)."""

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

    @extend_schema(request=BatchSerializer, responses={200: OpenApiTypes.BOOL})
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
        # Only the caller's own objects are touched; ids of others' objects are ignored like unknown ones.
        objects = list(self.get_queryset().filter(pk__in=set(data.validated_data["ids"])))
        for obj in objects:
            handler(obj, data.validated_data["options"])
        return Response(True, status=status.HTTP_200_OK)


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
