"""Merchant API for stores and what hangs off them (products, discounts, notifications, templates)."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import scopes
from accounts.permissions import request_grant
from accounts.viewsets import ApiViewSet, list_schema
from bitcart.errors import NotFound, ValidationFailed
from stores import serializers as s
from stores import services
from stores.models import Discount, NotificationProvider, Product, Store, Template
from wallets.models import Wallet


def owned_store(request: Request, store_id: str | None, scope: str) -> Store:
    """The caller's store, if their token's grant for `scope` reaches it; otherwise 404."""
    grant = request_grant(request, scope)
    store = Store.objects.filter(pk=store_id, owner_id=request.user.pk).first() if store_id else None
    if store is None or not grant.allows_store(store.pk):
        raise NotFound("Store not found", code="store_not_found")
    return store


def owned_wallets(request: Request, wallet_ids: list[str]) -> list[Wallet]:
    wallets = list(Wallet.objects.filter(pk__in=set(wallet_ids), owner_id=request.user.pk))
    if len(wallets) != len(set(wallet_ids)):
        raise ValidationFailed("Wallet not found", code="wallet_not_found")
    return wallets


class StoreViewSet(ApiViewSet):
    """A store sells in one default currency and is paid into its wallets. Its checkout settings
    (expiry, confirmations needed, underpaid tolerance, anonymous invoice creation) apply to every
    invoice made for it; products, discounts, notification providers, templates and webhook
    endpoints belong to a store."""

    scope = scopes.STORE_MANAGEMENT
    owner_field = "owner"
    store_field = "pk"
    public_actions = ("retrieve",)
    queryset = Store.objects.prefetch_related("wallets", "notification_providers")
    sort_fields = {"created": "created", "name": "name"}
    filter_fields = {"name": "name", "default_currency": "default_currency"}
    search_fields = ("name", "email")
    batch_commands = {"delete": "batch_delete"}
    serializer_class = s.StoreSerializer

    @list_schema(responses=s.StoreSerializer(many=True))
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses=s.StoreSerializer)
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Returns a store. Anyone may call this: the owner's token with `store_management` gets the
        whole store, anyone else its public view (name, currency, checkout settings) for a checkout
        page."""
        store = self.owned_queryset().filter(pk=kwargs["pk"]).first()
        if store is not None:
            return Response(s.StoreSerializer(store).data)
        store = Store.objects.filter(pk=kwargs["pk"]).first()
        if store is None:
            raise NotFound("Store not found", code="store_not_found")
        return Response(s.PublicStoreSerializer(store).data)

    @extend_schema(request=s.StoreWriteSerializer, responses={201: s.StoreSerializer})
    def create(self, request: Request) -> Response:
        """Creates a store, optionally paid into some of your wallets (`wallets`: their ids). A token
        limited to some stores (`store_management:<store_id>`) cannot create one."""
        if not self.grant().all:
            raise NotFound("Store not found", code="store_not_found")
        data = s.StoreWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        wallets = owned_wallets(request, data.validated_data.get("wallets", []))
        store = services.store_create(owner=request.user, wallets=wallets, **data.model_fields())
        return Response(s.StoreSerializer(self.queryset.get(pk=store.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.StoreWriteSerializer(partial=True), responses=s.StoreSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        store = self.get_object()
        data = s.StoreWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        wallets = data.validated_data.get("wallets")
        services.store_update(
            store=store,
            wallets=None if wallets is None else owned_wallets(request, wallets),
            **data.model_fields(),
        )
        return Response(s.StoreSerializer(self.queryset.get(pk=store.pk)).data)

    @extend_schema(responses={200: s.StoreSerializer})
    def destroy(self, request: Request, pk: str) -> Response:
        store = self.get_object()
        body = s.StoreSerializer(store).data
        services.store_delete(store=store)
        return Response(body)

    def batch_delete(self, obj: Store, options: dict) -> None:
        services.store_delete(store=obj)


class _StoreChildViewSet(ApiViewSet):
    # Products, discounts, notifications: each belongs to one store of the caller. Subclasses name
    # their services (stores.services): create(store=, **fields), update(<obj>=, **fields), delete.

    create_serializer: Any
    update_serializer: Any
    batch_commands = {"delete": "batch_delete"}

    def create(self, request: Request) -> Response:
        data = self.create_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        store = owned_store(request, fields.pop("store_id"), self.scope)
        obj = self.perform_create_object(store, fields)
        return Response(self.get_serializer(obj).data, status=status.HTTP_201_CREATED)

    def perform_create_object(self, store: Store, fields: dict) -> Any:
        raise NotImplementedError

    def perform_update(self, obj: Any, fields: dict) -> Any:
        raise NotImplementedError

    def perform_delete(self, obj: Any) -> None:
        raise NotImplementedError

    def partial_update(self, request: Request, pk: str) -> Response:
        obj = self.get_object()
        data = self.update_serializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        obj = self.perform_update(obj, dict(data.validated_data))
        return Response(self.get_serializer(obj).data)

    def destroy(self, request: Request, pk: str) -> Response:
        obj = self.get_object()
        body = self.get_serializer(obj).data
        self.perform_delete(obj)
        return Response(body)

    def batch_delete(self, obj: Any, options: dict) -> None:
        self.perform_delete(obj)


def _child_schema(viewset: type, serializer: Any, create: Any, update: Any) -> type:
    """Document a store-child viewset's operations with its serializers."""
    for name, kwargs in {
        "list": {"responses": serializer(many=True)},
        "retrieve": {"responses": serializer},
        "create": {"request": create, "responses": {201: serializer}},
        "partial_update": {"request": update, "responses": serializer},
        "destroy": {"responses": {200: serializer}},
    }.items():
        method = getattr(viewset, name)

        def wrapper(self, *args, _method=method, **kw):
            return _method(self, *args, **kw)

        wrapper.__name__ = name
        decorator = list_schema(**kwargs) if name == "list" else extend_schema(**kwargs)
        setattr(viewset, name, decorator(wrapper))
    return viewset


class ProductViewSet(_StoreChildViewSet):
    """A product of one of your stores: name, price in the store's currency, stock (`quantity`, -1
    for unlimited) and status. Invoices created with `products` are priced from them and reserve
    stock; creating one needs the `store_id` of one of your stores."""

    scope = scopes.PRODUCT_MANAGEMENT
    queryset = Product.objects.select_related("store")
    serializer_class = s.ProductSerializer
    create_serializer = s.ProductSerializer
    update_serializer = s.ProductUpdateSerializer
    sort_fields = {"created": "created", "name": "name", "price": "price", "quantity": "quantity"}
    filter_fields = {"store_id": "store_id", "category": "category", "status": "status", "name": "name"}
    search_fields = ("name", "description", "category")

    def perform_create_object(self, store: Store, fields: dict) -> Product:
        return services.product_create(store=store, **fields)

    def perform_update(self, obj: Product, fields: dict) -> Product:
        return services.product_update(product=obj, **fields)

    def perform_delete(self, obj: Product) -> None:
        services.product_delete(product=obj)


class DiscountViewSet(_StoreChildViewSet):
    """A discount of one of your stores: a percentage off, valid until `end_date` (and for the
    listed `currencies`, if any), applied to an invoice created with its `promocode`. Creating one
    needs the `store_id` of one of your stores."""

    scope = scopes.DISCOUNT_MANAGEMENT
    queryset = Discount.objects.all()
    serializer_class = s.DiscountSerializer
    create_serializer = s.DiscountSerializer
    update_serializer = s.DiscountUpdateSerializer
    sort_fields = {"created": "created", "name": "name", "percent": "percent", "end_date": "end_date"}
    filter_fields = {"store_id": "store_id", "promocode": "promocode", "name": "name"}
    search_fields = ("name", "promocode", "description")

    def perform_create_object(self, store: Store, fields: dict) -> Discount:
        return services.discount_create(store=store, **fields)

    def perform_update(self, obj: Discount, fields: dict) -> Discount:
        return services.discount_update(discount=obj, **fields)

    def perform_delete(self, obj: Discount) -> None:
        services.discount_delete(discount=obj)


class NotificationViewSet(_StoreChildViewSet):
    """A notification provider of one of your stores: an Apprise URL (e.g. `mailto://...`,
    `json://host/path`) told about the store's paid invoices. Creating one needs the `store_id` of
    one of your stores."""

    scope = scopes.NOTIFICATION_MANAGEMENT
    queryset = NotificationProvider.objects.all()
    serializer_class = s.NotificationSerializer
    create_serializer = s.NotificationSerializer
    update_serializer = s.NotificationUpdateSerializer
    sort_fields = {"created": "created", "name": "name"}
    filter_fields = {"store_id": "store_id", "name": "name"}
    search_fields = ("name",)

    def perform_create_object(self, store: Store, fields: dict) -> NotificationProvider:
        return services.notification_provider_create(store=store, **fields)

    def perform_update(self, obj: NotificationProvider, fields: dict) -> NotificationProvider:
        return services.notification_provider_update(provider=obj, **fields)

    def perform_delete(self, obj: NotificationProvider) -> None:
        services.notification_provider_delete(provider=obj)


class TemplateViewSet(_StoreChildViewSet):
    """A text template for e-mails and notifications, yours or one of your stores' (`store_id`).
    A store's template overrides yours of the same name, which overrides the default. Names are
    unique per store and among your templates without a store: a taken name answers 409
    `already_exists`."""

    scope = scopes.TEMPLATE_MANAGEMENT
    owner_field = "owner"
    queryset = Template.objects.all()
    serializer_class = s.TemplateSerializer
    create_serializer = s.TemplateSerializer
    update_serializer = s.TemplateUpdateSerializer
    sort_fields = {"created": "created", "name": "name"}
    filter_fields = {"store_id": "store_id", "name": "name"}
    search_fields = ("name", "text")

    def create(self, request: Request) -> Response:
        data = s.TemplateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        store_id = fields.pop("store_id", None)
        store = owned_store(request, store_id, self.scope) if store_id else None
        if store is None and not self.grant().all:
            raise NotFound("Store not found", code="store_not_found")
        template = services.template_create(owner=request.user, store=store, **fields)
        return Response(s.TemplateSerializer(template).data, status=status.HTTP_201_CREATED)

    def perform_update(self, obj: Template, fields: dict) -> Template:
        return services.template_update(template=obj, **fields)

    def perform_delete(self, obj: Template) -> None:
        services.template_delete(template=obj)


for _viewset, _serializer, _update in (
    (ProductViewSet, s.ProductSerializer, s.ProductUpdateSerializer),
    (DiscountViewSet, s.DiscountSerializer, s.DiscountUpdateSerializer),
    (NotificationViewSet, s.NotificationSerializer, s.NotificationUpdateSerializer),
    (TemplateViewSet, s.TemplateSerializer, s.TemplateUpdateSerializer),
):
    _child_schema(_viewset, _serializer, _serializer, _update(partial=True))
