"""Webhook endpoints per store, their secrets, and the events feed (GET /api/webhooks/events?since=)."""

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import scopes
from accounts.idempotency import IdempotencyMixin
from accounts.permissions import request_grant
from accounts.viewsets import ApiViewSet, list_schema
from stores.api import owned_store
from webhooks import services
from webhooks.models import WebhookEndpoint, WebhookEvent

EVENT_TYPE_FIELD = serializers.ChoiceField(choices=services.EVENT_TYPES)


class WebhookEndpointSerializer(serializers.Serializer):
    id = serializers.CharField(read_only=True)
    store_id = serializers.CharField(max_length=64)
    url = serializers.URLField(max_length=2000)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=services.EVENT_TYPES), required=False, default=list, max_length=50
    )
    enabled = serializers.BooleanField(required=False, default=True)
    disabled_reason = serializers.CharField(read_only=True)
    consecutive_failures = serializers.IntegerField(read_only=True)
    created = serializers.DateTimeField(read_only=True)


class WebhookEndpointWithSecretSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(read_only=True, help_text="whsec_… — verify signatures with it.")


class WebhookEndpointUpdateSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=2000, required=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=services.EVENT_TYPES), required=False, max_length=50
    )
    enabled = serializers.BooleanField(required=False)


class RotateSecretSerializer(serializers.Serializer):
    grace_seconds = serializers.IntegerField(min_value=0, max_value=7 * 24 * 3600, required=False, default=86400)


class WebhookEndpointViewSet(ApiViewSet):
    """A webhook endpoint of one of your stores: a URL that receives each invoice event of the
    store (or only the listed `events`) as a signed POST, retried with backoff until it answers
    2xx; an endpoint failing for days is disabled. The signing `secret` (whsec_...) is shown when
    the endpoint is created or read one by one, never in lists."""

    scope = scopes.WEBHOOK_MANAGEMENT
    queryset = WebhookEndpoint.objects.all()
    serializer_class = WebhookEndpointSerializer
    sort_fields = {"created": "created", "url": "url"}
    filter_fields = {"store_id": "store_id", "enabled": "enabled"}
    search_fields = ("url", "description")
    batch_commands = {"delete": "batch_delete"}

    @list_schema(responses=WebhookEndpointSerializer(many=True))
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses=WebhookEndpointWithSecretSerializer)
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(WebhookEndpointWithSecretSerializer(self.get_object()).data)

    @extend_schema(request=WebhookEndpointSerializer, responses={201: WebhookEndpointWithSecretSerializer})
    def create(self, request: Request) -> Response:
        data = WebhookEndpointSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        store = owned_store(request, fields.pop("store_id"), self.scope)
        endpoint = services.webhook_endpoint_create(store=store, **fields)
        return Response(WebhookEndpointWithSecretSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=WebhookEndpointUpdateSerializer, responses=WebhookEndpointSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        endpoint = self.get_object()
        data = WebhookEndpointUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.webhook_endpoint_update(endpoint=endpoint, **data.validated_data)
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(responses={200: WebhookEndpointSerializer})
    def destroy(self, request: Request, pk: str) -> Response:
        endpoint = self.get_object()
        body = WebhookEndpointSerializer(endpoint).data
        services.webhook_endpoint_delete(endpoint=endpoint)
        return Response(body)

    @extend_schema(request=RotateSecretSerializer, responses=WebhookEndpointWithSecretSerializer)
    @action(detail=True, methods=["post"], pagination_class=None)
    def rotate_secret(self, request: Request, pk: str) -> Response:
        """Gives the endpoint a new signing secret. For `grace_seconds` (default a day) deliveries
        are signed with both the old and the new one, so receivers can switch without missing
        any."""
        from datetime import timedelta

        endpoint = self.get_object()
        data = RotateSecretSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = services.webhook_endpoint_rotate_secret(
            endpoint=endpoint, grace=timedelta(seconds=data.validated_data["grace_seconds"])
        )
        return Response(WebhookEndpointWithSecretSerializer(endpoint).data)

    def batch_delete(self, obj: WebhookEndpoint, options: dict) -> None:
        services.webhook_endpoint_delete(endpoint=obj)


class WebhookEventSerializer(serializers.Serializer):
    id = serializers.CharField()
    sequence = serializers.IntegerField()
    type = serializers.CharField()
    store_id = serializers.CharField()
    invoice_id = serializers.CharField()
    created = serializers.DateTimeField()
    payload = serializers.JSONField(help_text="The body endpoints received (without id and sequence).")


class WebhookEventPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    result = WebhookEventSerializer(many=True)


class WebhookEventsView(IdempotencyMixin, APIView):
    """Every webhook event of your stores after `since` (a sequence number), oldest first, with the
    body endpoints received. For integrators who missed deliveries: remember the last `sequence`
    processed and ask again from there (`next` gives the following page). Needs a token with
    `webhook_management`; a token for one store sees that store's events.
    """

    scope = scopes.WEBHOOK_MANAGEMENT
    max_limit = 1000

    @extend_schema(
        parameters=[
            OpenApiParameter("since", int, required=False, description="Only events with a larger sequence."),
            OpenApiParameter("store_id", str, required=False),
            OpenApiParameter("type", str, required=False),
            OpenApiParameter("limit", int, required=False),
        ],
        responses=WebhookEventPageSerializer,
    )
    def get(self, request: Request) -> Response:
        params = QuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        values = params.validated_data
        grant = request_grant(request, self.scope)
        events = WebhookEvent.objects.filter(store__owner_id=request.user.pk, sequence__gt=values["since"])
        if not grant.all:
            events = events.filter(store_id__in=grant.store_ids)
        if values.get("store_id"):
            events = events.filter(store_id=values["store_id"])
        if values.get("type"):
            events = events.filter(type=values["type"])
        limit = values["limit"]
        page = list(events.order_by("sequence")[: limit + 1])
        more = len(page) > limit
        page = page[:limit]
        next_url = None
        if more:
            query = request.query_params.copy()
            query["since"] = str(page[-1].sequence)
            next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        result = [
            {
                "id": e.id,
                "sequence": e.sequence,
                "type": e.type,
                "store_id": e.store_id,
                "invoice_id": e.invoice_id,
                "created": e.created,
                "payload": e.payload,
            }
            for e in page
        ]
        return Response(
            {
                "count": len(result),
                "next": next_url,
                "previous": None,
                "result": WebhookEventSerializer(result, many=True).data,
            }
        )


class QuerySerializer(serializers.Serializer):
    since = serializers.IntegerField(min_value=0, required=False, default=0)
    store_id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    type = serializers.CharField(max_length=50, required=False, allow_blank=True)
    limit = serializers.IntegerField(min_value=1, max_value=WebhookEventsView.max_limit, required=False, default=100)
