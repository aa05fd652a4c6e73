"""Admin: endpoints (secret shown, rotation), the outbox with manual/bulk redelivery, the delivery log.

Staff who are not superusers see only their own stores' rows.
"""

from django.contrib import admin, messages
from django.db.models import QuerySet, URLField
from django.http import HttpRequest

from stores.models import Store
from webhooks import services
from webhooks.models import WebhookAttempt, WebhookEndpoint, WebhookMessage


class _OwnedAdmin(admin.ModelAdmin):
    owner_path = "store__owner"
    formfield_overrides = {URLField: {"assume_scheme": "https"}}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{self.owner_path: request.user})


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(_OwnedAdmin):
    list_display = ("url", "store", "enabled", "consecutive_failures", "failing_since", "created")
    list_filter = ("enabled",)
    search_fields = ("url", "description")
    readonly_fields = (
        "secret",
        "previous_secret_expires_at",
        "consecutive_failures",
        "failing_since",
        "disabled_reason",
        "created",
    )
    fields = ("store", "url", "description", "events", "enabled", *readonly_fields)
    actions = ("rotate_secret", "enable")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "store" and not request.user.is_superuser:
            kwargs["queryset"] = Store.objects.filter(owner=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj: WebhookEndpoint, form, change: bool) -> None:
        if change:
            services.webhook_endpoint_update(
                endpoint=obj,
                url=obj.url,
                events=obj.events,
                description=obj.description,
                enabled=obj.enabled if "enabled" in form.changed_data else None,
            )
            return
        created = services.webhook_endpoint_create(
            store=obj.store, url=obj.url, events=obj.events, description=obj.description, enabled=obj.enabled
        )
        obj.pk, obj.secret = created.pk, created.secret

    @admin.action(description="Rotate the signing secret (the old one stays valid for 24 h)")
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet) -> None:
        for endpoint in queryset:
            services.webhook_endpoint_rotate_secret(endpoint=endpoint)
        self.message_user(request, f"Rotated {queryset.count()} secret(s).", messages.SUCCESS)

    @admin.action(description="Enable (and reset the failure count)")
    def enable(self, request: HttpRequest, queryset: QuerySet) -> None:
        for endpoint in queryset:
            services.webhook_endpoint_update(endpoint=endpoint, enabled=True)
        self.message_user(request, f"Enabled {queryset.count()} endpoint(s).", messages.SUCCESS)


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ("created", "response_status", "error", "latency_ms", "response_body")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookMessage)
class WebhookMessageAdmin(_OwnedAdmin):
    owner_path = "event__store__owner"
    list_display = (
        "id",
        "event_type",
        "kind",
        "topic",
        "target",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
        "created",
    )
    list_filter = ("status", "kind")
    search_fields = ("id", "url", "recipient", "event__invoice__id", "event__id")
    readonly_fields = (
        "event",
        "endpoint",
        "provider",
        "kind",
        "topic",
        "recipient",
        "url",
        "status",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "delivered_at",
        "last_error",
        "created",
    )
    inlines = (WebhookAttemptInline,)
    actions = ("redeliver",)
    list_select_related = ("event",)

    @admin.display(description="Event")
    def event_type(self, obj: WebhookMessage) -> str:
        return obj.event.type

    @admin.display(description="To")
    def target(self, obj: WebhookMessage) -> str:
        return obj.url or obj.recipient  # a provider's id, never its URL (it holds credentials)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Redeliver now", permissions=["view"])
    def redeliver(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = services.webhook_messages_redeliver(message_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Queued {count} message(s) for redelivery.", messages.SUCCESS)


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(_OwnedAdmin):
    """The delivery log: what was sent where, what came back, how long it took."""

    owner_path = "message__event__store__owner"
    list_display = ("created", "url", "response_status", "success", "latency_ms", "error")
    list_filter = ("success",)
    search_fields = ("url", "message__id")
    readonly_fields = (
        "message",
        "url",
        "request_headers",
        "response_status",
        "response_body",
        "error",
        "latency_ms",
        "success",
        "created",
    )

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
