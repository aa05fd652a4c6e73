"""POST /api/token (log in or derive a token), token management, /api/users/me."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import scopes, services
from accounts.idempotency import IdempotencyMixin
from accounts.models import Token
from accounts.throttling import LoginThrottle
from accounts.viewsets import ApiViewSet, list_schema


class TokenSerializer(serializers.Serializer):
    id = serializers.CharField()
    user_id = serializers.CharField()
    app_id = serializers.CharField()
    redirect_url = serializers.CharField()
    permissions = serializers.ListField(child=serializers.CharField())
    prefix = serializers.CharField(help_text="The start of the secret, to tell tokens apart.")
    expires_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    created = serializers.DateTimeField()


class TokenCreateSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254, required=False, allow_blank=True, default="")
    password = serializers.CharField(
        max_length=1000, required=False, allow_blank=True, default="", trim_whitespace=False
    )
    permissions = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, default=list, max_length=100
    )
    strict = serializers.BooleanField(required=False, default=True)
    app_id = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    redirect_url = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class TokenCreatedSerializer(TokenSerializer):
    access_token = serializers.CharField(help_text="The secret. Shown only now; only its hash is stored.")
    token_type = serializers.CharField()
    tfa_required = serializers.BooleanField()
    tfa_code = serializers.CharField(allow_null=True)
    tfa_types = serializers.ListField(child=serializers.CharField())


class TokenUpdateSerializer(serializers.Serializer):
    redirect_url = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    app_id = serializers.CharField(max_length=200, required=False, allow_blank=True)


class TokenViewSet(ApiViewSet):
    """An API token: a Bearer secret (`Authorization: Bearer bct_...`) holding a list of
    permissions (`full_control`, `<resource>_management`, or `<resource>_management:<store_id>`
    for one store). The secret is shown once, when the token is created; only its hash is kept."""

    scope = scopes.TOKEN_MANAGEMENT
    owner_field = "user"
    store_field = None
    public_actions = ("create", "current")
    queryset = Token.objects.all()
    serializer_class = TokenSerializer
    sort_fields = {"created": "created", "app_id": "app_id", "last_used_at": "last_used_at"}
    filter_fields = {"app_id": "app_id", "redirect_url": "redirect_url"}
    search_fields = ("app_id", "redirect_url")
    batch_commands = {"delete": "batch_delete"}

    def get_throttles(self):
        if self.action == "create":
            return [LoginThrottle()]
        return super().get_throttles()

    @list_schema(responses=TokenSerializer(many=True))
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses=TokenSerializer)
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(request=TokenCreateSerializer, responses={200: TokenCreatedSerializer})
    def create(self, request: Request) -> Response:
        """Creates a token and answers with its secret (`access_token`), shown only now. Anyone may
        call this with an `email` and `password` (log in; rate limited per client). With a Bearer
        token and no e-mail it derives a token holding at most the calling token's permissions (a
        token for a plugin, limited to one store)."""
        data = TokenCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        email, password = values.pop("email"), values.pop("password")
        parent = None
        if email or not request.user.is_authenticated:
            user = services.user_authenticate(email=email, password=password)
        else:
            user = request.user
            parent = request.auth if isinstance(request.auth, Token) else None
        token, secret = services.token_create(user=user, parent=parent, **values)
        body = {
            **_token_data(token),
            "access_token": secret,
            "token_type": "bearer",
            "tfa_required": False,
            "tfa_code": None,
            "tfa_types": [],
        }
        return Response(body, status=status.HTTP_200_OK)

    @extend_schema(responses=TokenSerializer)
    @action(detail=False, methods=["get"], pagination_class=None)
    def current(self, request: Request) -> Response:
        """Describes the token this request is made with (its permissions, expiry, last use). Any
        valid Bearer token may call this; 401 without one."""
        if not isinstance(request.auth, Token):
            raise services.AuthenticationFailed("A Bearer token is required", code="not_authenticated")
        return Response(_token_data(request.auth))

    @extend_schema(request=TokenUpdateSerializer, responses=TokenSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        token = self.get_object()
        data = TokenUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.token_update(token=token, **data.validated_data)
        return Response(_token_data(token))

    @extend_schema(responses={200: TokenSerializer})
    def destroy(self, request: Request, pk: str) -> Response:
        token = self.get_object()
        body = _token_data(token)
        services.token_delete(token=token)
        return Response(body)

    def batch_delete(self, obj: Token, options: dict) -> None:
        services.token_delete(token=obj)


def _token_data(token: Token) -> dict:
    return TokenSerializer(
        {
            "id": token.pk,
            "user_id": str(token.user_id),
            "app_id": token.app_id,
            "redirect_url": token.redirect_url,
            "permissions": token.permissions,
            "prefix": token.prefix,
            "expires_at": token.expires_at,
            "last_used_at": token.last_used_at,
            "created": token.created,
        }
    ).data


class UserSerializer(serializers.Serializer):
    id = serializers.CharField()
    email = serializers.CharField()
    is_superuser = serializers.BooleanField()
    is_verified = serializers.BooleanField()
    is_enabled = serializers.BooleanField()
    created = serializers.DateTimeField()
    settings = serializers.DictField()


class UserMeView(IdempotencyMixin, APIView):
    scope = None

    @extend_schema(responses=UserSerializer)
    def get(self, request: Request) -> Response:
        """The user the request's token (or session) belongs to. Any valid token may call this,
        whatever its permissions."""
        user: Any = request.user  # authenticated (the default permission)
        return Response(
            UserSerializer(
                {
                    "id": str(user.pk),
                    "email": user.email,
                    "is_superuser": user.is_superuser,
                    "is_verified": True,
                    "is_enabled": user.is_active,
                    "created": user.date_joined,
                    "settings": {},
                }
            ).data
        )
